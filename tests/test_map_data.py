"""What the map draws (bounded sample, density) and what a lasso or box selects over all rows."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.path import Path as MplPath

from labelnext import map_data
from labelnext.map_data import (
    apply_to_selection,
    density_grid,
    map_extent,
    points_in_box,
    points_in_polygon,
    sample_for_drawing,
    selection_from_state,
)

# --- sample_for_drawing -------------------------------------------------------------------------


def test_a_pool_within_the_budget_is_drawn_whole() -> None:
    scores = np.linspace(0, 1, 50)
    assert sample_for_drawing(scores, max_points=50, seed=0).tolist() == list(range(50))
    within = np.arange(50) % 2 == 0
    drawn = sample_for_drawing(scores, max_points=40, seed=0, within=within)
    assert drawn.tolist() == list(range(0, 50, 2))


def test_ties_at_the_cut_break_by_data_row_id() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.0])
    ids = np.array(["d", "z", "b", "c", "a", "e"], dtype=object)
    # budget 2, all of it for the most uncertain: 0.9 (z), then the 0.5 with the smallest id (b)
    drawn = sample_for_drawing(scores, max_points=2, seed=0, uncertain_share=1.0, ids=ids)
    assert drawn.tolist() == [1, 2]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 3000),
    max_points=st.integers(1, 500),
    share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
    classes=st.integers(1, 12),
)
def test_the_drawn_sample_always_holds_the_most_uncertain_rows(
    n: int, max_points: int, share: float, seed: int, classes: int
) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    strata = rng.integers(-1, classes, n)
    drawn = sample_for_drawing(
        scores, max_points=max_points, seed=seed, strata=strata, uncertain_share=share
    )
    assert len(drawn) == min(n, max_points)
    assert len(np.unique(drawn)) == len(drawn) and np.all(np.diff(drawn) > 0)
    k = min(int(np.ceil(share * max_points)), n)
    most_uncertain = np.argsort(-scores, kind="stable")[:k]
    assert np.isin(most_uncertain, drawn).all()
    again = sample_for_drawing(
        scores, max_points=max_points, seed=seed, strata=strata, uncertain_share=share
    )
    assert np.array_equal(drawn, again)  # the same seed draws the same rows


def test_the_sample_keeps_class_shares_and_every_class_appears() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    strata = np.where(rng.random(n) < 0.9, 0, 1)
    strata[:3] = 2  # a class of three rows
    drawn = sample_for_drawing(
        np.zeros(n), max_points=1000, seed=1, strata=strata, uncertain_share=0.0
    )
    counts = np.bincount(strata[drawn], minlength=3)
    assert counts.sum() == 1000 and counts[2] >= 1
    assert abs(counts[1] / 1000 - (strata == 1).mean()) < 0.01


def test_include_rows_are_drawn_after_the_most_uncertain() -> None:
    scores = np.linspace(0, 1, 1000)
    include = np.array([0, 1, 2, 3])  # the most certain rows
    drawn = sample_for_drawing(scores, max_points=10, seed=0, uncertain_share=0.5, include=include)
    assert set(range(995, 1000)) <= set(drawn.tolist())
    assert set(include.tolist()) <= set(drawn.tolist()) and len(drawn) == 10
    within = np.ones(1000, dtype=bool)
    within[0] = False  # an included row outside the filter is not drawn
    drawn = sample_for_drawing(scores, max_points=10, seed=0, within=within, include=include)
    assert 0 not in drawn


def test_different_seeds_draw_different_samples() -> None:
    scores = np.zeros(10_000)
    a = sample_for_drawing(scores, max_points=100, seed=1)
    b = sample_for_drawing(scores, max_points=100, seed=2)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_points": 0}, ValueError, "max_points must be >= 1, got 0"),
        ({"uncertain_share": 1.5}, ValueError, r"uncertain_share must be in \[0, 1\], got 1.5"),
        ({"strata": np.zeros(3)}, ValueError, r"strata must be integer codes of shape \(4,\)"),
        ({"within": np.ones(3, bool)}, ValueError, r"within must be a bool array of shape \(4,\)"),
        ({"include": np.array([7])}, ValueError, r"include positions must lie in \[0, 4\)"),
        ({"seed": None}, TypeError, "seed must be an int, got NoneType"),
    ],
)
def test_sample_refuses_bad_options(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    options: dict[str, object] = {"max_points": 2, "seed": 0, **kwargs}
    with pytest.raises(error, match=message):
        sample_for_drawing(np.zeros(4), **options)  # type: ignore[arg-type]


# --- density ------------------------------------------------------------------------------------


def test_density_counts_like_numpy_histogram2d() -> None:
    rng = np.random.default_rng(3)
    bins_x, bins_y = 7, 5
    # points at random cells, well inside them: no point sits on an edge
    cells = rng.integers(0, [bins_x, bins_y], size=(2000, 2))
    xy = (cells + rng.uniform(0.1, 0.9, size=(2000, 2))) / [bins_x, bins_y] * [4, 2] - 1
    extent = ((-1.0, 3.0), (-1.0, 1.0))
    grid = density_grid(xy, bins=(bins_x, bins_y), extent=extent)
    reference = np.histogram2d(xy[:, 0], xy[:, 1], bins=[bins_x, bins_y], range=extent)[0].T
    assert grid.counts.shape == (bins_y, bins_x)
    assert np.array_equal(grid.counts, reference)
    assert grid.total == 2000 and grid.dx == pytest.approx(4 / 7)


def test_density_edges_outside_points_and_masks() -> None:
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5], [2.0, 0.5]])
    grid = density_grid(xy, bins=2, extent=((0, 1), (0, 1)))
    assert grid.counts.tolist() == [[1, 0], [0, 2]]  # the upper edge joins the last bin
    masked = density_grid(xy, bins=2, extent=((0, 1), (0, 1)), mask=np.array([1, 0, 0, 0], bool))
    assert masked.counts.tolist() == [[1, 0], [0, 0]]


def test_map_extent_pads_and_never_collapses() -> None:
    assert map_extent([[0, 0], [10, 5]], pad=0.1) == ((-1.0, 11.0), (-0.5, 5.5))
    (x0, x1), (y0, y1) = map_extent([[2, 2], [2, 2]])
    assert x0 < 2 < x1 and y0 < 2 < y1


def test_density_refuses_an_empty_extent() -> None:
    with pytest.raises(ValueError, match="extent must have x0 < x1 and y0 < y1"):
        density_grid([[0, 0]], extent=((1, 1), (0, 1)))


# --- points in a polygon / box ------------------------------------------------------------------

coordinate = st.floats(-10, 10, allow_nan=False, width=32)


@settings(max_examples=300, deadline=None)
@given(
    polygon=st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=25),
    points=st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=200),
)
def test_points_in_polygon_equals_matplotlib(
    polygon: list[tuple[float, float]], points: list[tuple[float, float]]
) -> None:
    """Random vertex lists are concave and self-intersecting more often than not."""
    xy = np.array(points, dtype=np.float64)
    theirs = MplPath(np.array(polygon, dtype=np.float64)).contains_points(xy)
    assert points_in_polygon(xy, polygon).tolist() == theirs.tolist()
    for cells in (2, 7, 32):  # the grid path, which large point sets take
        with _grid(cells):
            assert points_in_polygon(xy, polygon).tolist() == theirs.tolist()


def _grid(cells: int) -> mock._patch[int]:  # type: ignore[name-defined]
    """Force the grid path (whole cells classified at once) even for a few points."""
    patch = mock.patch.multiple(map_data, _GRID_CELLS=cells, _GRID_MIN_POINTS=0)
    return patch  # type: ignore[no-any-return]


@settings(max_examples=100, deadline=None)
@given(
    polygon=st.lists(st.tuples(st.integers(-4, 4), st.integers(-4, 4)), min_size=3, max_size=12),
    seed=st.integers(0, 1000),
)
def test_points_in_polygon_equals_matplotlib_on_a_grid_of_edge_cases(
    polygon: list[tuple[int, int]], seed: int
) -> None:
    """Integer vertices and half-integer points: points on edges, vertices and horizontal lines."""
    grid = np.stack(np.meshgrid(np.arange(-9, 10) / 2, np.arange(-9, 10) / 2), -1).reshape(-1, 2)
    xy = grid[np.random.default_rng(seed).permutation(len(grid))]
    theirs = MplPath(np.array(polygon, dtype=np.float64)).contains_points(xy)
    assert points_in_polygon(xy.astype(np.float32), polygon).tolist() == theirs.tolist()
    for cells in (3, 16):
        with _grid(cells):
            assert points_in_polygon(xy, polygon).tolist() == theirs.tolist()


def test_the_grid_path_equals_matplotlib_on_a_dense_cloud_and_a_drawn_lasso() -> None:
    rng = np.random.default_rng(5)
    xy = rng.normal(size=(60_000, 2)).astype(np.float32)  # above the grid threshold
    angle = np.linspace(0, 2 * np.pi, 150, endpoint=False)
    radius = 1.2 + 0.6 * np.sin(7 * angle) + rng.uniform(-0.05, 0.05, 150)
    lasso = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    theirs = MplPath(lasso).contains_points(xy)
    assert points_in_polygon(xy, lasso).tolist() == theirs.tolist()
    assert 0 < theirs.sum() < len(xy)


def test_a_concave_polygon_leaves_its_notch_out() -> None:
    u_shape = [(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)]
    xy = np.array([[0.5, 2.0], [1.5, 2.0], [2.5, 2.0], [1.5, 0.5]])
    assert points_in_polygon(xy, u_shape).tolist() == [True, False, True, True]


def test_a_self_intersecting_polygon_uses_the_even_odd_rule() -> None:
    # a pentagram: the centre is crossed twice, so it is outside; a tip is inside
    angles = np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    star = np.column_stack([np.cos(angles), np.sin(angles)])
    xy = np.array([[0.0, 0.0], [0.0, 0.8], [2.0, 2.0]])
    assert points_in_polygon(xy, star).tolist() == [False, True, False]


def test_degenerate_polygons_contain_nothing() -> None:
    xy = np.array([[0.5, 0.5]])
    assert points_in_polygon(xy, [(0, 0), (1, 1)]).tolist() == [False]
    assert points_in_polygon(xy, [(0, 0.5), (1, 0.5), (2, 0.5)]).tolist() == [False]
    assert points_in_polygon(np.empty((0, 2)), [(0, 0), (1, 0), (0, 1)]).tolist() == []


def test_points_in_polygon_refuses_bad_vertices() -> None:
    with pytest.raises(ValueError, match=r"polygon must have shape \(n_vertices, 2\)"):
        points_in_polygon([[0, 0]], [1, 2, 3])
    with pytest.raises(ValueError, match="polygon vertices must be finite numbers"):
        points_in_polygon([[0, 0]], [(0, 0), (1, np.nan), (1, 1)])
    with pytest.raises(ValueError, match=r"xy must have shape \(n_rows, 2\)"):
        points_in_polygon([1, 2], [(0, 0), (1, 0), (1, 1)])


@settings(max_examples=100, deadline=None)
@given(
    points=st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=100),
    corners=st.tuples(coordinate, coordinate, coordinate, coordinate),
)
def test_points_in_box_is_the_rectangle_polygon_plus_its_edges(
    points: list[tuple[float, float]], corners: tuple[float, float, float, float]
) -> None:
    xa, xb, ya, yb = corners
    xy = np.array(points)
    box = points_in_box(xy, (xa, xb), (ya, yb))
    inside = (
        (xy[:, 0] >= min(xa, xb))
        & (xy[:, 0] <= max(xa, xb))
        & (xy[:, 1] >= min(ya, yb))
        & (xy[:, 1] <= max(ya, yb))
    )
    assert box.tolist() == inside.tolist()
    assume(xa != xb and ya != yb)
    rectangle = [(xa, ya), (xb, ya), (xb, yb), (xa, yb)]
    assert not (points_in_polygon(xy, rectangle) & ~box).any()


# --- selection state -> mask over all rows ------------------------------------------------------

XY = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [5.0, 5.0], [1.5, 0.2]], dtype=np.float32)
IDS = np.array(["a", "b", "c", "d", "e"], dtype=object)


def _state(points=(), box=(), lasso=()) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "selection": {
            "points": list(points),
            "point_indices": list(range(len(points))),
            "box": list(box),
            "lasso": list(lasso),
        }
    }


def test_a_lasso_selects_every_row_inside_drawn_or_not() -> None:
    lasso = {"xref": "x", "yref": "y", "x": [-1, 3, 3, -1], "y": [-1, -1, 3, 3]}
    drawn = np.array([0, 3])  # only rows 0 and 3 were drawn
    points = [{"curve_number": 1, "point_index": 0, "x": 0, "y": 0, "customdata": "a"}]
    result = selection_from_state(_state(points, lasso=[lasso]), XY, ids=IDS, drawn=drawn)
    assert result.kind == "lasso" and result.mask.tolist() == [True, True, True, False, True]
    assert result.n_selected == 4 and result.n_drawn_selected == 1 and result.n_shapes == 1
    assert result.message == "4 row(s) inside the lasso (1 of them drawn)."
    assert result.point_ids == ("a",)


def test_a_box_with_corners_in_any_order_selects_inclusively() -> None:
    box = {"xref": "x", "yref": "y", "x": [2.0, 1.0], "y": [2.0, 0.0]}
    result = selection_from_state(_state(box=[box]), XY)
    assert result.kind == "box" and result.mask.tolist() == [False, True, True, False, True]


def test_several_shapes_are_united_and_the_filter_applies() -> None:
    box = {"x": [4, 6], "y": [4, 6]}
    lasso = {"x": [-0.5, 0.5, 0.5, -0.5], "y": [-0.5, -0.5, 0.5, 0.5]}
    result = selection_from_state(_state(box=[box], lasso=[lasso]), XY)
    assert result.kind == "box+lasso" and result.mask.tolist() == [True, False, False, True, False]
    within = np.array([True, True, True, False, True])
    filtered = selection_from_state(_state(box=[box], lasso=[lasso]), XY, within=within)
    assert filtered.mask.tolist() == [True, False, False, False, False]


def test_a_lasso_with_no_rows_inside_changes_nothing_and_says_so() -> None:
    lasso = {"x": [10, 11, 11], "y": [10, 10, 11]}
    result = selection_from_state(_state(lasso=[lasso]), XY)
    assert result.is_empty and not result.mask.any() and result.kind == "lasso"
    assert result.message == "No rows inside the lasso; the selection is unchanged."
    before = frozenset({"x"})
    assert apply_to_selection(before, result, IDS) == before


def test_clicked_points_resolve_by_id_not_by_index() -> None:
    points = [
        {"curve_number": 1, "point_index": 0, "customdata": "d"},  # index 0 is not row 0
        {"curve_number": 1, "point_index": 1, "customdata": ["b", "extra"]},
        {"curve_number": 0, "point_index": 7, "z": 3.0},  # a density cell: no id, skipped
        {"curve_number": 1, "point_index": 2, "customdata": "not-a-row"},
    ]
    result = selection_from_state(_state(points), XY, ids=IDS)
    assert result.kind == "points" and result.point_ids == ("d", "b", "not-a-row")
    assert result.mask.tolist() == [False, True, False, True, False]
    import pandas as pd

    by_index = selection_from_state(_state(points), XY, ids=pd.Index(IDS))
    assert np.array_equal(by_index.mask, result.mask)


def test_empty_and_missing_states_select_nothing() -> None:
    for state in (None, {}, _state(), {"selection": {"points": [], "box": [], "lasso": []}}):
        result = selection_from_state(state, XY)
        assert result.kind == "none" and result.message == "Nothing is selected on the map."
    corner_less = selection_from_state(_state(box=[{"x": [], "y": []}]), XY)
    assert corner_less.kind == "none"
    short = selection_from_state(_state(lasso=[{"x": [0, 1], "y": [0, 1]}]), XY)
    assert (
        short.message
        == "Nothing is selected on the map. (1 shape(s) with too few vertices ignored)"
    )


def test_the_inner_selection_mapping_is_accepted_too() -> None:
    inner = {"points": [], "box": [{"x": [-1, 0.5], "y": [-1, 0.5]}], "lasso": []}
    assert selection_from_state(inner, XY).mask.tolist() == [True, False, False, False, False]


def test_the_signature_names_the_event_so_it_is_applied_once() -> None:
    box = {"x": [4, 6], "y": [4, 6]}
    a = selection_from_state(_state(box=[box]), XY)
    b = selection_from_state(_state(box=[dict(box)]), XY)
    c = selection_from_state(_state(box=[{"x": [4, 7], "y": [4, 6]}]), XY)
    assert a.signature == b.signature != c.signature


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ([1, 2], "state must be a mapping"),
        ({"selection": 3}, r"state\['selection'\] must be a mapping, got int"),
        ({"selection": {"lasso": "x"}}, r"state\['selection'\]\['lasso'\] must be a list"),
        (
            {"selection": {"lasso": [{"x": [0, 1, 2], "y": [0, 1]}]}},
            r"state\['selection'\]\['lasso'\]\[0\] has 3 x values and 2 y values",
        ),
        (
            {"selection": {"box": [{"x": [0, "1"], "y": [0, 1]}]}},
            r"state\['selection'\]\['box'\]\[0\]\['x'\] must hold numbers, got '1'",
        ),
        (
            {"selection": {"box": [{"x": [0, float("nan")], "y": [0, 1]}]}},
            r"must hold finite numbers, got nan",
        ),
    ],
)
def test_malformed_states_are_refused_by_part(state: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        selection_from_state(state, XY)  # type: ignore[arg-type]


def test_apply_to_selection_adds_or_removes_the_rows_inside() -> None:
    result = selection_from_state(_state(box=[{"x": [0.5, 2.5], "y": [0.5, 2.5]}]), XY)
    added = apply_to_selection({"a", "b"}, result, IDS)
    assert added == {"a", "b", "c"}
    assert apply_to_selection(added, result, IDS, remove=True) == {"a"}
    with pytest.raises(ValueError, match="ids has 2 rows, the selection mask has 5"):
        apply_to_selection(set(), result, IDS[:2])
