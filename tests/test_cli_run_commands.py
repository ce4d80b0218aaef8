"""The labelnext CLI: validate, score and select, with exit codes and messages on stderr."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from labelnext.cli import main

MALFORMED = Path(__file__).parent / "malformed"


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    path = tmp_path / "run.csv"
    path.write_text(
        "data_row_id,prob_cat,prob_dog,prob_bird\n"
        "a,0.9,0.05,0.05\n"
        "b,0.4,0.35,0.25\n"
        "c,0.1,0.8,0.1\n"
        "d,0.34,0.33,0.33\n"
        "e,0.2,0.2,0.6\n"
    )
    return path


def test_validate_prints_a_summary_and_histogram(run_file: Path, capsys) -> None:
    assert main(["validate", str(run_file)]) == 0
    out = capsys.readouterr().out
    assert "rows       5" in out
    assert "classes    3: cat, dog, bird" in out
    assert "0.30-0.40 | " in out and out.count("|") == 10
    # d (0.34) and b (0.40, on the bin edge: float32 rounding must not move it down a bin)
    assert next(ln for ln in out.splitlines() if ln.startswith("  0.30-0.40")).endswith(" 1")
    assert next(ln for ln in out.splitlines() if ln.startswith("  0.40-0.50")).endswith(" 1")


def test_validate_lists_every_problem_and_exits_2(capsys) -> None:
    assert main(["validate", str(MALFORMED / "several_problems.csv")]) == 2
    err = capsys.readouterr().err
    assert "several_problems.csv, row 1, field 'data_row_id': empty data_row_id" in err
    assert "row 2, field 'prob_dog': not a number: 'x'" in err
    assert "Traceback" not in err


def test_score_writes_csv_to_stdout_ranked(run_file: Path, capsys) -> None:
    assert main(["score", str(run_file), "--strategy", "entropy"]) == 0
    frame = pd.read_csv(StringIO(capsys.readouterr().out))
    assert list(frame.columns) == [
        "data_row_id",
        "predicted_label",
        "score",
        "confidence",
        "rank",
    ]
    assert frame["data_row_id"].iloc[0] == "d"  # closest to uniform
    assert frame["data_row_id"].iloc[-1] == "a"
    assert frame["rank"].tolist() == [1, 2, 3, 4, 5]


def test_score_to_parquet_by_extension(run_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    assert main(["score", str(run_file), "--strategy", "margin", "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    assert frame["data_row_id"].tolist()[:2] == ["d", "b"]


def test_select_filters_and_excludes(run_file: Path, tmp_path: Path, capsys) -> None:
    exclude = tmp_path / "queued.txt"
    exclude.write_text("d\n")
    code = main(
        [
            "select",
            str(run_file),
            "--top",
            "2",
            "--exclude",
            str(exclude),
            "--max-confidence",
            "0.8",
        ]
    )
    assert code == 0
    frame = pd.read_csv(StringIO(capsys.readouterr().out))
    assert frame["data_row_id"].tolist() == ["b", "e"]
    assert main(["select", str(run_file), "--top", "1", "--class", "dog"]) == 0
    assert pd.read_csv(StringIO(capsys.readouterr().out))["data_row_id"].tolist() == ["c"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["select", "{run}", "--top", "9"], "k=9 is larger than the pool of 5 row(s)"),
        (["select", "{run}", "--top", "0"], "k must be >= 1, got 0"),
        (["select", "{run}", "--top", "1", "--class", "fish"], "Unknown class(es) fish"),
        (
            ["select", "{run}", "--top", "1", "--exclude", "/nope/ids.txt"],
            "--exclude /nope/ids.txt: cannot read it",
        ),
        (["score", "{run}", "--out", "x.xlsx"], "unknown extension '.xlsx'"),
        (["score", "/nope/run.csv"], "/nope/run.csv: file not found"),
    ],
)
def test_user_errors_exit_2_with_one_message(run_file: Path, argv, message, capsys) -> None:
    assert main([a.replace("{run}", str(run_file)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_console_script_runs_as_a_process(run_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "labelnext.cli", "select", str(run_file), "--top", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("d,")
    bad = subprocess.run(
        [sys.executable, "-m", "labelnext.cli", "validate", str(MALFORMED / "empty.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "empty.csv: the file is empty" in bad.stderr
    assert "Traceback" not in bad.stderr
