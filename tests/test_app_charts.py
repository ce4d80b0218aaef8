"""labelnext_app.charts and the scoring state helpers: plain functions, no app run needed."""

from __future__ import annotations

from collections.abc import Callable

import app_support  # noqa: F401  (puts labelnext_app on sys.path)
import numpy as np
import plotly.graph_objects as go
import pytest

from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run
from labelnext.scoring import Scoring
from labelnext_app import charts, scoring_state

CLASSES = ["a", "b", "c"]
FIGURES: dict[str, Callable[[], go.Figure]] = {
    "confidence": lambda: charts.confidence_histogram(np.array([0.1, 0.9]), strategy="margin"),
    "selection": lambda: charts.selection_histogram(np.array([0.1, 0.5]), np.array([0.2])),
    "classes": lambda: charts.class_distribution(
        CLASSES, np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0])
    ),
    "probabilities": lambda: charts.class_probabilities(CLASSES, np.array([0.2, 0.5, 0.3])),
    "multilabel": lambda: charts.multilabel_probabilities(
        CLASSES, np.array([0.2, 0.7, 0.5]), threshold=0.5
    ),
    "ensemble": lambda: charts.ensemble_spread(
        CLASSES, np.array([[0.2, 0.5, 0.3], [0.6, 0.2, 0.2]])
    ),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_text_is_readable_on_a_projector(name: str) -> None:
    fig = FIGURES[name]()
    assert fig.layout.font.size >= 14
    assert fig.layout.legend.font.size >= 14
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.tickfont.size >= 14
        assert axis.title.font.size >= 14


def test_multilabel_bars_mark_the_predicted_classes() -> None:
    fig = charts.multilabel_probabilities(CLASSES, np.array([0.2, 0.7, 0.5]), threshold=0.5)
    bar = fig.data[0]
    assert list(bar.y) == CLASSES
    assert list(bar.marker.color) == [
        charts.POOL_COLOR,
        charts.SELECTION_COLOR,
        charts.SELECTION_COLOR,
    ]


def test_fit_scoring_keeps_what_the_run_can_use() -> None:
    detect = load_run(SAMPLE_DATA_DIR / "mnist_detect")
    multilabel = load_run(SAMPLE_DATA_DIR / "mnist_multilabel")
    classify = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    wide = Scoring(
        strategy="margin", aggregation="topk", top_k=5, classes=("3", "x"), empty_score=1
    )
    # detection without box probabilities: least confidence only; unknown classes dropped
    assert scoring_state.fit_scoring(detect, wide) == Scoring(
        aggregation="topk", top_k=5, classes=("3",), empty_score=1.0
    )
    # multi-label: max or mean only; box options back to their defaults
    assert scoring_state.fit_scoring(multilabel, wide) == Scoring(strategy="margin")
    mean = Scoring(aggregation="mean")
    assert scoring_state.fit_scoring(multilabel, mean) == mean
    # classification: the strategy alone
    assert scoring_state.fit_scoring(classify, wide) == Scoring(strategy="margin")
    assert scoring_state.fit_scoring(classify, Scoring(strategy="bald")) == Scoring()


def test_scoring_key_is_stable_and_distinguishes_options() -> None:
    assert scoring_state.scoring_key(Scoring()) == scoring_state.scoring_key(Scoring())
    keys = {
        scoring_state.scoring_key(s)
        for s in (Scoring(), Scoring(aggregation="mean"), Scoring(top_k=4), Scoring(classes=("1",)))
    }
    assert len(keys) == 4


def test_as_scoring_reads_params_back() -> None:
    original = Scoring(strategy="entropy", aggregation="sum", classes=("1", "2"), empty_score=1.0)
    assert scoring_state.as_scoring(original.params()) == original
    assert scoring_state.as_scoring(None) == Scoring()
    assert scoring_state.as_scoring({"strategy": "nope"}) == Scoring()


def test_histograms_send_bins_not_rows() -> None:
    confidence = np.random.default_rng(0).random(100_000)
    fig = charts.confidence_histogram(confidence, strategy="margin", bins=40)
    bar = fig.data[0]
    assert len(bar.y) == 40 and sum(bar.y) == 100_000
    counts, _ = np.histogram(np.round(confidence, 6), 40, (0, 1))
    assert list(bar.y) == counts.tolist()
    both = charts.selection_histogram(confidence, confidence[:10], bins=25)
    assert [round(sum(t.y)) for t in both.data] == [100, 100]  # each a share of its own rows
    # a float32 0.4 (0.39999998) counts in the bin it prints as
    edge = charts.confidence_histogram(np.array([0.4], dtype=np.float32), strategy="m", bins=10)
    assert list(edge.data[0].y).index(1) == 4


def test_class_chart_caps_the_bars_and_sums_the_rest() -> None:
    classes = [f"c{i}" for i in range(200)]
    pool = np.full(200, 1 / 200)
    selected = np.zeros(200)
    selected[[5, 7]] = [0.75, 0.25]
    fig = charts.class_distribution(classes, pool, selected, max_bars=10)
    assert list(fig.data[1].x)[:2] == ["c5", "c7"]  # the selection's classes come first
    assert list(fig.data[1].x)[-1] == "other (191 classes)"
    assert sum(fig.data[0].y) == pytest.approx(100)
    assert sum(fig.data[1].y) == pytest.approx(100)


def test_class_shares_by_task() -> None:
    from labelnext import view

    for name in ("mnist/run_001", "mnist_detect", "mnist_multilabel"):
        run = load_run(SAMPLE_DATA_DIR / name)
        mask = np.zeros(run.n_rows, dtype=bool)
        mask[:50] = True
        shares = view.class_shares(run, mask)
        presence = run.class_presence()[:50]
        np.testing.assert_allclose(shares, presence.mean(axis=0))
