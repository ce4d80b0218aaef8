"""Scoring with calibrated probabilities (``Scoring(temperature=T)``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelnext.calibration import calibrated_probabilities
from labelnext.errors import StrategyError
from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run
from labelnext.scoring import Scoring, run_scores
from labelnext.uncertainty import uncertainty_scores


def test_a_temperature_scores_the_calibrated_probabilities_by_hand(tmp_path: Path) -> None:
    run_file = tmp_path / "run.csv"
    run_file.write_text("data_row_id,prob_a,prob_b\nx,0.9,0.1\ny,0.6,0.4\n", encoding="utf-8")
    run = load_run(run_file)
    # T = 2: softmax(log p / 2) = sqrt(p) renormalised; x: 0.75/0.25, least confidence 0.25
    scores = run_scores(run, Scoring(strategy="least_confidence", temperature=2.0))
    assert scores[0] == pytest.approx(0.25)
    q = np.sqrt([0.6, 0.4]) / np.sqrt([0.6, 0.4]).sum()
    assert scores[1] == pytest.approx(1 - q[0])
    assert run_scores(run, Scoring(temperature=1.0)) == pytest.approx(run_scores(run, Scoring()))


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "entropy"])
def test_calibrated_scores_on_the_sample_are_the_kernels_over_calibrated_probabilities(
    strategy: str,
) -> None:
    run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    got = run_scores(run, Scoring(strategy=strategy, temperature=1.7))
    p = calibrated_probabilities(run.probabilities, 1.7)
    assert got == pytest.approx(uncertainty_scores(p, strategy))


def test_the_temperature_is_recorded_only_when_set() -> None:
    assert "temperature" not in Scoring().params()
    assert Scoring(temperature=1.25).params()["temperature"] == 1.25
    assert Scoring(temperature=1.25).describe("classification") == (
        "least_confidence, calibrated (T = 1.25)"
    )


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan"), "2"])
def test_bad_temperatures_are_refused(bad: object) -> None:
    with pytest.raises(StrategyError, match="temperature must be a finite number > 0"):
        Scoring(temperature=bad)  # type: ignore[arg-type]


def test_detection_runs_cannot_be_calibrated_this_way() -> None:
    run = load_run(SAMPLE_DATA_DIR / "mnist_detect")
    with pytest.raises(StrategyError, match="calibrated scoring needs"):
        run_scores(run, Scoring(temperature=1.5))
