"""The map figure: ids in customdata, compact typed arrays, colourings, and one map rerun."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from labelnext.map_data import density_grid
from labelnext.map_figure import (
    COLOR_BY,
    STATUS_CATEGORIES,
    build_map,
    category_codes,
    decode_typed_array,
    figure_payload,
    hover_labels,
    map_figure,
    membership_codes,
    status_codes,
    typed_array,
)
from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.projection import map_coordinates
from labelnext.readers import load_run
from labelnext.runs import ModelRun
from labelnext.scoring import run_scores

XY = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]], dtype=np.float32)
IDS = np.array(["a", "b", "c"], dtype=object)


@pytest.fixture(scope="module")
def mnist() -> ModelRun:
    return load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")


@pytest.fixture(scope="module")
def mnist_xy(mnist: ModelRun, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return np.asarray(map_coordinates(mnist, home=tmp_path_factory.mktemp("home")).xy)


def test_points_carry_their_ids_and_the_least_confident_are_drawn_last() -> None:
    fig = map_figure(XY, IDS, color=np.array([0.9, 0.1, 0.5]), hover=np.array(["x", "y", "z"]))
    points = fig.data[-1]
    assert points.type == "scattergl" and list(points.customdata) == ["a", "c", "b"]
    assert list(points.text) == ["x", "z", "y"]
    assert decode_typed_array(points.x).tolist() == [0.0, 2.0, 1.0]  # coordinates follow ids
    assert points.hovertemplate == "%{customdata}<br>%{text}<extra></extra>"
    assert fig.layout.dragmode == "lasso" and fig.layout.uirevision == "map"


def test_the_payload_uses_typed_arrays_and_no_per_point_numbers_as_text() -> None:
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(5000, 2)).astype(np.float32)
    ids = np.array([f"row-{i:06d}" for i in range(5000)], dtype=object)
    density = density_grid(xy, bins=50)
    fig = map_figure(xy, ids, color=rng.random(5000), density=density)
    spec = json.loads(figure_payload(fig))
    heatmap, points = spec["data"]
    assert heatmap["type"] == "heatmap" and heatmap["hoverinfo"] == "skip"
    assert heatmap["z"]["dtype"] == "f4" and "bdata" in heatmap["z"]
    assert points["x"]["dtype"] == "f4" and points["y"]["dtype"] == "f4"
    assert "NaN" not in json.dumps(spec)  # plotly's encoder would re-encode the whole figure
    assert points["marker"]["color"]["dtype"] == "u1"  # confidence in 256 levels
    assert sorted(points["customdata"]) == ids.tolist()  # ids as plain strings


def test_typed_arrays_round_trip_and_never_spell_nan_or_infinity() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=300_000).astype(np.float32)  # base64 of this holds "NaN" somewhere
    spec = typed_array(values)
    assert spec["dtype"] == "f4" and "NaN" not in spec["bdata"] and "Infinity" not in spec["bdata"]
    back = decode_typed_array(spec)
    changed = back != values
    assert changed.sum() < 20  # a handful of values moved, each by a hair
    np.testing.assert_allclose(back, values, rtol=2**-15)
    levels = rng.integers(0, 256, 300_000).astype(np.uint8)
    back_levels = decode_typed_array(typed_array(levels)).astype(int)
    assert np.abs(back_levels - levels).max() <= 1
    grid = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert typed_array(grid)["shape"] == "2, 3"
    assert decode_typed_array(typed_array(grid)).tolist() == grid.tolist()


def test_category_colours_are_a_stepped_scale_with_named_ticks() -> None:
    fig = map_figure(
        XY,
        IDS,
        color=np.array([2, 0, 1]),
        color_kind="category",
        categories=["free", "queued", "selected"],
        category_colors=["#111111", "#222222", "#333333"],
    )
    marker = fig.data[-1].marker
    assert list(fig.data[-1].customdata) == ["b", "c", "a"]  # higher codes on top
    assert (marker.cmin, marker.cmax) == (-0.5, 2.5)
    scale = [tuple(step) for step in marker.colorscale]
    assert scale[0] == (0.0, "#111111") and scale[-1] == (1.0, "#333333")
    assert list(marker.colorbar.ticktext) == ["free", "queued", "selected"]


def test_density_layer_sits_under_the_points_and_is_transparent_where_empty() -> None:
    density = density_grid(XY, bins=4, extent=((0, 2), (0, 1)))
    fig = map_figure(XY, IDS, color=np.array([0.1, 0.2, 0.3]), density=density)
    heatmap = fig.data[0]
    assert heatmap.type == "heatmap"
    z = decode_typed_array(heatmap.z)
    assert np.isnan(z[density.counts == 0]).all() and (z[density.counts > 0] > 0).all()
    assert tuple(fig.layout.xaxis.range) == (0, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"color": np.array([0.1, 0.2])}, r"color must have shape \(3,\)"),
        ({"color": np.array([0.1, 0.2, 1.5])}, r"color \(confidence\) must hold finite values"),
        ({"color": np.array([0, 1, 2]), "color_kind": "category"}, "categories must name"),
        (
            {"color": np.array([0, 1, 5]), "color_kind": "category", "categories": ["a", "b"]},
            r"color codes must lie in \[0, 2\), got 0..5",
        ),
        ({"color": np.zeros(3), "color_kind": "size"}, "color_kind must be 'confidence' or"),
        ({"color": np.zeros(3), "dragmode": "orbit"}, "dragmode must be lasso, select, zoom"),
    ],
)
def test_map_figure_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        map_figure(XY, IDS, **kwargs)  # type: ignore[arg-type]


def test_hover_labels_and_codes() -> None:
    assert hover_labels([1, -1], ["cat", "dog"], [0.004, 0.996]).tolist() == [
        "dog (0.00)",
        "(none) (1.00)",
    ]
    with pytest.raises(ValueError, match=r"class_codes must lie in \[-1, 2\)"):
        hover_labels([2], ["cat", "dog"], [0.5])
    codes, names = category_codes(np.array(["3", "1", None, "3"], dtype=object))
    assert codes.tolist() == [1, 0, 2, 1] and names == ["1", "3", "(none)"]
    statuses = status_codes(
        IDS, queued={"a", "b"}, labeled={"b"}, selected={"a"}
    )  # selected wins over queued, labeled over queued
    assert [STATUS_CATEGORIES[c] for c in statuses] == ["selected", "labeled", "free"]
    assert membership_codes(IDS, {"c"}).tolist() == [0, 0, 1]
    assert membership_codes(IDS, set()).tolist() == [0, 0, 0]


@pytest.mark.parametrize("color_by", [c for c in COLOR_BY if c != "ground_truth"])
def test_build_map_draws_every_colouring_of_the_shipped_run(
    mnist: ModelRun, mnist_xy: np.ndarray, color_by: str
) -> None:
    scores = run_scores(mnist, "margin")
    picked = {str(mnist.ids[0])}
    view = build_map(mnist, mnist_xy, scores, color_by=color_by, selected=picked, picks=picked)
    assert view.n_drawn == view.n_pool == mnist.n_rows
    assert view.caption == f"All {mnist.n_rows:,} rows drawn."
    assert view.density.total == mnist.n_rows
    points = view.figure.data[-1]
    assert sorted(points.customdata) == sorted(map(str, mnist.ids))


def test_build_map_bounds_the_points_and_keeps_the_uncertain_and_the_selected(
    mnist: ModelRun, mnist_xy: np.ndarray
) -> None:
    scores = run_scores(mnist, "margin")
    most_certain = str(mnist.ids[int(np.argmin(scores))])
    view = build_map(
        mnist,
        mnist_xy,
        scores,
        color_by="status",
        selected={most_certain},
        max_points=500,
        uncertain_share=0.2,
    )
    assert view.n_drawn == 500 and view.n_pool == mnist.n_rows
    drawn_ids = set(view.figure.data[-1].customdata)
    top = np.argsort(-scores, kind="stable")[:100]
    assert set(map(str, mnist.ids[top])) <= drawn_ids and most_certain in drawn_ids
    assert "500 of 4,875 rows drawn" in view.caption
    assert view.density.total == mnist.n_rows  # the density counts every row


def test_build_map_respects_the_filter(mnist: ModelRun, mnist_xy: np.ndarray) -> None:
    scores = run_scores(mnist, "margin")
    within = mnist.predicted_index == 3
    view = build_map(mnist, mnist_xy, scores, within=within)
    assert view.n_pool == int(within.sum()) == view.density.total
    assert set(mnist.predicted_index[view.drawn]) == {3}


def test_build_map_by_ground_truth_and_its_absence(mnist: ModelRun, mnist_xy: np.ndarray) -> None:
    scores = run_scores(mnist, "margin")
    with_truth = dataclasses.replace(mnist, ground_truth=mnist.predicted_labels.copy())
    view = build_map(with_truth, mnist_xy, scores, color_by="ground_truth")
    assert list(view.figure.data[-1].marker.colorbar.ticktext) == list(mnist.classes)
    with pytest.raises(ValueError, match="needs ground truth; run 'mnist-logreg-r1' has none"):
        build_map(
            dataclasses.replace(mnist, ground_truth=None), mnist_xy, scores, color_by="ground_truth"
        )
    with pytest.raises(ValueError, match=r"xy must have shape \(4875, 2\) for this run"):
        build_map(mnist, mnist_xy[:10], scores)
    with pytest.raises(ValueError, match="color_by must be one of confidence, predicted"):
        build_map(mnist, mnist_xy, scores, color_by="size")
