"""labelnext.simulate_figure: the learning-curve chart (Plotly) and its PNG."""

from __future__ import annotations

import numpy as np
import pytest

from labelnext.simulate import SimulationData, simulate
from labelnext.simulate_figure import curves_figure, curves_png


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 1, (60, 2)), rng.normal(2, 1, (60, 2))])
    data = SimulationData.from_arrays(x, np.repeat(["a", "b"], 60))
    return simulate(data, strategies=["random", "margin"], seeds=3, batch=5, budget=20, initial=5)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_one_band_and_one_median_line_per_strategy(result, metric: str) -> None:
    fig = curves_figure(result, metric)
    medians = [t for t in fig.data if t.fill != "toself"]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert [t.name for t in medians] == ["random", "margin"]
    assert len(bands) == 2
    bands_frame = result.bands()
    margin = bands_frame[bands_frame["strategy"] == "margin"]
    assert list(medians[1].x) == margin["labels"].tolist()
    assert list(medians[1].y) == pytest.approx(margin[f"{metric}_median"].tolist())
    # the band: the upper quantiles left to right, then the lower ones back
    assert list(bands[1].y) == pytest.approx(
        margin[f"{metric}_high"].tolist() + margin[f"{metric}_low"].tolist()[::-1]
    )
    assert medians[0].line.dash == "dash"  # random, the baseline


def test_the_target_line_is_drawn_on_accuracy_only(result) -> None:
    assert any("target 95%" in (a.text or "") for a in curves_figure(result).layout.annotations)
    assert not curves_figure(result, "macro_f1").layout.annotations


def test_the_png_is_a_png_and_says_how_it_was_made(result) -> None:
    png, how = curves_png(result)
    if png is None:
        assert how.startswith("No PNG: ")
        return
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert how in {"kaleido", "matplotlib"}


def test_an_unknown_metric_is_refused(result) -> None:
    with pytest.raises(ValueError, match="metric must be one of accuracy, macro_f1, got 'f2'"):
        curves_figure(result, "f2")
