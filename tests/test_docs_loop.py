"""docs/loop.md: its example runs as written, and its sample figures are the measured ones."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from labelnext import load_run
from labelnext.calibration import calibration_report
from labelnext.compare import compare_runs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "loop.md"
MNIST = ROOT / "sample_data" / "mnist"


def test_the_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(ROOT)
    exec(compile(blocks[0], str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "run 1 on its first batch: ECE 0.056" in out
    assert "batch 'batch 1': none of its 300 rows is in 'mnist-logreg-r2'" in out


def test_the_sample_figures_quoted() -> None:
    r1, r2 = load_run(MNIST / "run_001"), load_run(MNIST / "run_002")
    truth = pd.read_csv(MNIST / "ground_truth.csv", dtype=str)
    mapping = dict(zip(truth["data_row_id"], truth["label"], strict=True))
    c = compare_runs(r1, r2, labels=mapping)
    text = DOC.read_text(encoding="utf-8")
    assert f"{len(c.shared_ids):,} shared rows" in text
    assert f"mean confidence up by {c.change.mean():.3f}" in text
    assert f"{c.changed_prediction} rows changed predicted class" in text
    before, after = c.accuracy["shared_accuracy"]
    assert f"accuracy on the shared rows\n{before:.1%} → {after:.1%}" in text
    report = calibration_report(r1, mapping, fit=False)
    assert report is not None and f"run 1's ECE is {report.ece:.3f} over its whole pool" in text
