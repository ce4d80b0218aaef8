"""``labelnext simulate``: the table and verdict on stdout, curves to --out, errors exit 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from labelnext.cli import main
from labelnext.paths import SAMPLE_DATA_DIR

MNIST = SAMPLE_DATA_DIR / "mnist"
QUICK = ["--seeds", "2", "--batch", "50", "--budget", "120", "--strategies", "random,margin"]


def test_simulate_prints_the_table_and_the_verdict(tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "curves.csv"
    assert main(["simulate", str(MNIST / "run_001"), *QUICK, "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "mnist-logreg-r1: 3,900 pool rows, 975 test rows, 10 classes, features: run" in out
    assert "| strategy | labels to target (median) | 25% to 75% | reached |" in out
    assert "\n| random | " in out and "\n| margin | " in out
    verdict = out.strip().splitlines()[-1]
    assert "2 seed(s), batches of 50, budget 120" in verdict
    curves = pd.read_csv(out_file)
    assert set(curves["strategy"]) == {"random", "margin"}
    assert curves["labels"].tolist()[:3] == [20, 70, 120]
    assert {"accuracy_median", "accuracy_low", "accuracy_high", "macro_f1_median"} <= set(
        curves.columns
    )


def test_simulate_reads_labels_from_a_file(tmp_path: Path, capsys) -> None:
    truth = pd.read_csv(MNIST / "ground_truth.csv", dtype=str)
    labels = tmp_path / "labels.csv"
    truth.iloc[:1500].to_csv(labels, index=False)
    assert main(["simulate", str(MNIST / "run_001"), *QUICK, "--labels", str(labels)]) == 0
    out = capsys.readouterr().out
    # the labels of rows run_001 was trained on are not among its rows: they are left out
    trained = set((MNIST / "run_001" / "labeled_ids.txt").read_text().split())
    n = int((~truth["data_row_id"].iloc[:1500].isin(trained)).sum())
    assert f"{n - round(0.2 * n):,} pool rows, {round(0.2 * n):,} test rows" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategies", "random,bald"], "unknown strategy 'bald'"),
        (["--budget", "99999"], "budget 99,999 is larger than the pool of 3,900 rows"),
        (["--seeds", "0"], "seeds must be an integer >= 1, got 0"),
    ],
)
def test_bad_options_exit_2_with_the_message(extra: list[str], message: str, capsys) -> None:
    assert main(["simulate", str(MNIST / "run_001"), *QUICK, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labelnext simulate: error: ")
    assert message in err


def test_a_run_without_labels_says_how_to_add_them(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run.csv"
    run.write_text("data_row_id,prob_a,prob_b\nr1,0.9,0.1\nr2,0.2,0.8\n")
    assert main(["simulate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "has no labels to simulate with: add a 'ground_truth' column" in err
    assert "--labels FILE" in err


def test_a_run_without_embedding_or_images_says_what_is_missing(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run.csv"
    rows = "\n".join(f"r{i},{0.3 + i % 5 / 10},{0.7 - i % 5 / 10},{'ab'[i % 2]}" for i in range(60))
    run.write_text(f"data_row_id,prob_a,prob_b,ground_truth\n{rows}\n")
    assert main(["simulate", str(run), "--budget", "30", "--batch", "5", "--initial", "5"]) == 2
    err = capsys.readouterr().err
    assert "no 'embedding' column and no 'image' column" in err
    assert "Simulate trains its model on the embedding" in err
