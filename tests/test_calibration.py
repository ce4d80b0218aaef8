"""Calibration figures against scikit-learn's references and hand-worked cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

from labelnext import load_run
from labelnext.calibration import (
    ECE_WARNING_THRESHOLD,
    brier_score,
    calibrated_probabilities,
    calibration_report,
    classwise_ece,
    ece_warning,
    expected_calibration_error,
    fit_temperature,
    reliability_diagram,
)

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "mnist"


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def synthetic(
    rng: np.random.Generator, n: int = 4000, classes: int = 5, sharpen: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(logits reported, labels, true probabilities): labels drawn from softmax(z); the model
    reports ``sharpen * z`` (> 1 over-confident, < 1 under-confident)."""
    z = rng.normal(scale=2.0, size=(n, classes))
    truth = softmax(z)
    labels = np.array([rng.choice(classes, p=row) for row in truth])
    return sharpen * z, labels, truth


# -- reliability diagram and ECE -----------------------------------------------------------------


@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=200),
    st.integers(1, 20),
    st.randoms(use_true_random=False),
)
@settings(max_examples=200, deadline=None)
def test_equal_width_bins_match_sklearn_calibration_curve(
    probs: list[float], n_bins: int, random: object
) -> None:
    y_prob = np.asarray(probs)
    y_true = np.asarray([random.random() < p for p in probs], dtype=int)  # type: ignore[attr-defined]
    if len(set(y_true)) < 2:
        y_true[0] = 1 - y_true[0]  # sklearn wants both classes present
    prob_true, prob_pred = calibration_curve(y_true, y_prob, n_bins=n_bins, strategy="uniform")
    diagram = reliability_diagram(y_prob, y_true, n_bins=n_bins)
    filled = diagram.counts > 0
    np.testing.assert_allclose(diagram.accuracy[filled], prob_true, rtol=1e-12)
    np.testing.assert_allclose(diagram.mean_confidence[filled], prob_pred, rtol=1e-12)
    assert diagram.counts.sum() == len(probs)
    np.testing.assert_array_equal(diagram.bin_edges, np.linspace(0, 1, n_bins + 1))


def test_values_on_a_bin_edge_fall_in_the_lower_bin_as_in_sklearn() -> None:
    diagram = reliability_diagram([0.0, 0.5, 0.5000001, 1.0], [0, 1, 1, 1], n_bins=2)
    assert diagram.counts.tolist() == [2, 2]
    prob_true, _ = calibration_curve([0, 1, 1, 1], [0.0, 0.5, 0.5000001, 1.0], n_bins=2)
    assert prob_true.tolist() == diagram.accuracy.tolist() == [0.5, 1.0]


def test_equal_mass_bins_match_sklearn_quantile_bins_on_distinct_values() -> None:
    rng = np.random.default_rng(7)
    y_prob = rng.permutation(np.linspace(0.01, 0.99, 60))
    y_true = (rng.random(60) < y_prob).astype(int)
    prob_true, prob_pred = calibration_curve(y_true, y_prob, n_bins=6, strategy="quantile")
    diagram = reliability_diagram(y_prob, y_true, n_bins=6, adaptive=True)
    assert diagram.counts.tolist() == [10] * 6
    np.testing.assert_allclose(diagram.accuracy, prob_true)
    np.testing.assert_allclose(diagram.mean_confidence, prob_pred)


def test_ece_worked_by_hand_with_15_bins() -> None:
    # top confidences 0.95, 0.95, 0.62, 0.61, 0.40; rights: yes, no, yes, yes, no
    # bins of width 1/15: 0.95 -> (14/15, 1]; 0.62, 0.61 -> (0.6, 0.6667]; 0.40 -> (0.3333, 0.4]
    p = np.array(
        [
            [0.95, 0.05, 0.00],
            [0.95, 0.05, 0.00],
            [0.62, 0.38, 0.00],
            [0.39, 0.61, 0.00],
            [0.40, 0.30, 0.30],
        ]
    )
    labels = np.array([0, 2, 0, 1, 1])
    by_hand = (
        2 / 5 * abs(0.5 - 0.95)  # two rows, one right
        + 2 / 5 * abs(1.0 - (0.62 + 0.61) / 2)  # two rows, both right
        + 1 / 5 * abs(0.0 - 0.40)  # one row, wrong
    )
    assert expected_calibration_error(p, labels) == pytest.approx(by_hand, abs=1e-12)
    # equal mass, 5 bins of one row each: mean |right - confidence|
    per_row = abs(1 - 0.95) + abs(0 - 0.95) + abs(1 - 0.62) + abs(1 - 0.61) + abs(0 - 0.40)
    assert expected_calibration_error(p, labels, n_bins=5, adaptive=True) == pytest.approx(
        per_row / 5
    )


def test_a_perfectly_calibrated_model_has_a_small_ece_and_an_overconfident_one_does_not() -> None:
    rng = np.random.default_rng(0)
    z, labels, truth = synthetic(rng, n=20_000)
    assert expected_calibration_error(truth, labels) < 0.02
    assert expected_calibration_error(softmax(3 * z), labels) > 0.1


def test_classwise_ece_is_the_binary_ece_of_each_column() -> None:
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    got = classwise_ece(p, labels, n_bins=4)
    for k in range(2):
        expected = reliability_diagram(p[:, k], labels == k, n_bins=4).ece
        assert got[k] == pytest.approx(expected)
    # class 1: confidences 0.1, 0.8, 0.4, 0.7 with outcomes 0, 1, 1, 1 in bins of width 0.25
    assert got[1] == pytest.approx((0.1 + 0.6 + 0.25 * 2) / 4)


def test_brier_score_matches_sklearn_multiclass() -> None:
    rng = np.random.default_rng(3)
    z, labels, _ = synthetic(rng, n=500, classes=4)
    p = softmax(z)
    expected = brier_score_loss(labels, p, labels=[0, 1, 2, 3], scale_by_half=False)
    assert brier_score(p, labels) == pytest.approx(expected)
    assert brier_score([[1.0, 0.0], [0.0, 1.0]], [1, 0]) == 2.0


def test_input_errors_name_the_parameter() -> None:
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), got 0\.\.2"):
        expected_calibration_error([[0.5, 0.5]] * 2, [0, 2])
    with pytest.raises(ValueError, match="labels must be class indices"):
        expected_calibration_error([[0.5, 0.5]], ["a"])
    with pytest.raises(ValueError, match=r"probabilities must hold finite values in \[0, 1\]"):
        brier_score([[np.nan, 1.0]], [0])
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1, got 0"):
        reliability_diagram([0.5], [1], n_bins=0)
    with pytest.raises(ValueError, match="confidence is empty"):
        reliability_diagram([], [])
    with pytest.raises(ValueError, match=r"correct must have shape \(2,\)"):
        reliability_diagram([0.1, 0.2], [1])


# -- temperature scaling -------------------------------------------------------------------------


def test_temperature_of_an_overconfident_model_is_above_one_and_lowers_ece() -> None:
    rng = np.random.default_rng(11)
    z, labels, _ = synthetic(rng, sharpen=2.5)
    fit = fit_temperature(labels, logits=z)
    assert fit.temperature > 1
    assert fit.temperature == pytest.approx(2.5, rel=0.1)  # undoes the sharpening
    assert fit.ece_after < fit.ece_before / 3
    assert fit.nll_after < fit.nll_before
    assert fit.source == "logits" and fit.n_rows == len(labels)


def test_temperature_of_an_underconfident_model_is_below_one() -> None:
    z, labels, _ = synthetic(np.random.default_rng(12), sharpen=0.5)
    fit = fit_temperature(labels, probabilities=softmax(z))
    assert fit.temperature == pytest.approx(0.5, rel=0.1)
    assert fit.ece_after < fit.ece_before
    assert fit.source == "log_probabilities"


def test_temperature_minimises_the_nll_as_scipy_finds_it() -> None:
    z, labels, _ = synthetic(np.random.default_rng(13), n=1500, sharpen=1.7)
    fit = fit_temperature(labels, logits=z)
    reference = minimize_scalar(
        lambda t: log_loss(labels, softmax(z / t), labels=range(z.shape[1])),
        bounds=(0.05, 20),
        method="bounded",
        options={"xatol": 1e-8},
    )
    assert fit.temperature == pytest.approx(reference.x, rel=1e-4)
    assert fit.nll_after == pytest.approx(reference.fun, rel=1e-9)


def test_log_probabilities_give_the_temperature_the_logits_give() -> None:
    z, labels, _ = synthetic(np.random.default_rng(14), n=1000, sharpen=2.0)
    from_logits = fit_temperature(labels, logits=z)
    from_probs = fit_temperature(labels, probabilities=softmax(z))
    assert from_probs.temperature == pytest.approx(from_logits.temperature, rel=1e-6)


def test_multilabel_temperature_scales_each_sigmoid() -> None:
    rng = np.random.default_rng(15)
    z = rng.normal(scale=2.0, size=(3000, 4))
    truth = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(int)
    fit = fit_temperature(truth, probabilities=1 / (1 + np.exp(-3 * z)), task="multilabel")
    assert fit.temperature == pytest.approx(3.0, rel=0.1)
    assert fit.ece_after < fit.ece_before


def test_fit_temperature_errors() -> None:
    with pytest.raises(ValueError, match="give exactly one of probabilities and logits"):
        fit_temperature([0], probabilities=[[1.0, 0.0]], logits=[[1.0, 0.0]])
    with pytest.raises(ValueError, match=r"bounds must be 0 < low < high < inf, got \(2, 1\)"):
        fit_temperature([0], logits=[[1.0, 0.0]], bounds=(2, 1))
    with pytest.raises(ValueError, match="task must be one of classification, multilabel"):
        fit_temperature([0], logits=[[1.0, 0.0]], task="detection")


@given(
    st.lists(st.lists(st.floats(0.001, 1.0), min_size=3, max_size=3), min_size=1, max_size=30),
    st.floats(0.1, 10.0),
)
@settings(max_examples=100, deadline=None)
def test_calibrated_probabilities_keep_each_rows_class_order(
    rows: list[list[float]], temperature: float
) -> None:
    p = np.asarray(rows)
    p = p / p.sum(axis=1, keepdims=True)
    q = calibrated_probabilities(p, temperature)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    # softmax(log p / T) is p ** (1 / T) renormalised: monotone in p within a row
    expected = p ** (1 / temperature)
    np.testing.assert_allclose(q, expected / expected.sum(axis=1, keepdims=True), rtol=1e-9)


def test_calibrated_probabilities_as_scoring_will_call_them() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]], dtype=np.float32)
    same = calibrated_probabilities(p, 1.0)
    assert same.dtype == np.float32 and same.shape == p.shape
    np.testing.assert_allclose(same, p, atol=1e-6)
    z = np.array([[2.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(calibrated_probabilities(z, 2.0, logits=True), softmax(z / 2))
    ml = calibrated_probabilities([[0.9, 0.5]], 2.0, task="multilabel")
    np.testing.assert_allclose(ml, [[1 / (1 + 9**-0.5), 0.5]])
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        calibrated_probabilities(p, 0)
    with pytest.raises(ValueError, match=r"probs_or_logits must hold finite values in \[0, 1\]"):
        calibrated_probabilities([[1.5, -0.5]], 2.0)
    with pytest.raises(ValueError, match="probs_or_logits holds NaN or infinite values near row 1"):
        calibrated_probabilities([[np.inf, 0.0]], 2.0, logits=True)


# -- the Home warning and a run's report -------------------------------------------------------


def test_ece_warning_threshold_and_row_count() -> None:
    assert ECE_WARNING_THRESHOLD == 0.05
    assert ece_warning(0.05) is None
    assert ece_warning(0.051) is not None
    assert ece_warning(0.2, n_rows=49) is None
    assert ece_warning(math.nan) is None
    message = ece_warning(0.0873, n_rows=1200)
    assert message is not None and "ECE 0.087 on 1,200 labeled rows (above 0.05)" in message


def test_report_on_the_sample_run_with_the_shipped_batch_labels() -> None:
    run = load_run(SAMPLE / "run_001")
    labels = pd.read_csv(SAMPLE / "batch_001_labels.csv", dtype=str)
    mapping = dict(zip(labels["data_row_id"], labels["label"], strict=True))
    report = calibration_report(run, mapping)
    assert report is not None and report.n_rows == 300
    rows = run.positions(labels["data_row_id"])
    truth = np.asarray([run.classes.index(v) for v in labels["label"]])
    p = run.probabilities[rows].astype(np.float64)
    assert report.accuracy == pytest.approx(float((p.argmax(axis=1) == truth).mean()))
    assert report.ece == pytest.approx(expected_calibration_error(p, truth))
    assert report.adaptive_ece == pytest.approx(expected_calibration_error(p, truth, adaptive=True))
    assert report.brier == pytest.approx(brier_score(p, truth))
    assert set(report.classwise_ece) == set(run.classes)
    assert report.temperature is not None and report.temperature.n_rows == 300
    # run 1's 300 least confident rows are right more often than their confidence says
    # (accuracy 0.37, mean confidence 0.31, ECE 0.056), enough for the Home warning
    assert report.accuracy > report.mean_confidence
    assert report.warning is not None and report.warning == ece_warning(report.ece, n_rows=300)
    assert calibration_report(run, {"nobody": "3"}) is None
    with pytest.raises(ValueError, match="labels name classes the run does not have: x"):
        calibration_report(run, {labels["data_row_id"][0]: "x"})
