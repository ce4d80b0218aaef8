"""``labelnext labels import|export`` and ``labelnext compare`` (through labelnext.cli.main), on
the shipped sample: run 1's first batch, its labels, run 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from cli_support import run_cli

from labelnext.cli import build_parser
from labelnext.cli.compare_commands import cmd_compare
from labelnext.cli.label_commands import cmd_labels_export, cmd_labels_import
from labelnext.labels import read_labels
from labelnext.ledger import Ledger

MNIST = Path(__file__).resolve().parents[1] / "sample_data" / "mnist"
RUN_1, RUN_2 = MNIST / "run_001", MNIST / "run_002"
LABELS = MNIST / "batch_001_labels.csv"


@pytest.fixture
def submitted(db: str, capsys: pytest.CaptureFixture[str]) -> str:
    """Run 1's top 300 submitted to project mnist: exactly the sample's batch 1."""
    code, out, _ = run_cli(
        capsys, "submit", str(RUN_1), "--project", "mnist", "--name", "b1", "--top", "300",
        "--db", db,
    )  # fmt: skip
    assert (code, out.strip()) == (0, "1")
    return db


def test_commands_are_wired_into_the_cli() -> None:
    parser = build_parser()
    for argv, func in [
        (["labels", "import", "f.csv", "--project", "p", "--allow-unbatched"], cmd_labels_import),
        (
            ["labels", "export", "--project", "p", "--format", "yolo", "--out", "x"],
            cmd_labels_export,
        ),
        (["compare", "a", "b", "--project", "p"], cmd_compare),
    ]:
        assert parser.parse_args(argv).func is func


def test_import_labels_the_batch_and_export_gives_them_back(
    submitted: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(
        capsys, "labels", "import", str(LABELS), "--project", "mnist", "--as", "lu",
        "--db", submitted,
    )  # fmt: skip
    assert code == 0
    assert "imported 300 label(s) into project 'mnist': 300 new" in out
    assert "batch 1: queued -> labeled" in out
    with Ledger(submitted) as ledger:
        assert ledger.batch(1).status == "labeled"
        log = ledger.actions(batch_id=1)
        assert log[["kind", "actor", "origin"]].values.tolist()[0] == ["import_labels", "lu", "cli"]
    expected = read_labels(LABELS).mapping()
    for fmt in ("csv", "parquet"):
        out_file = tmp_path / f"train.{fmt}"
        code, _, err = run_cli(
            capsys, "labels", "export", "--project", "mnist", "--format", fmt,
            "--out", str(out_file), "--db", submitted,
        )  # fmt: skip
        assert code == 0 and "wrote 300 labeled row(s)" in err
        assert read_labels(out_file).mapping() == expected
    table = pd.read_csv(tmp_path / "train.csv")
    assert table["image"].str.endswith(".png").all()


def test_a_second_import_reports_unchanged_rows(
    submitted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("labels", "import", str(LABELS), "--project", "mnist", "--db", submitted)
    assert run_cli(capsys, *argv)[0] == 0
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "0 new, 0 relabeled (earlier labels kept as history), 300 unchanged" in out


def test_rows_outside_the_project_need_the_flag(
    submitted: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    labels = tmp_path / "more.csv"
    labels.write_text("data_row_id,label\nmnist-00008,9\nmnist-00000,5\n", encoding="utf-8")
    argv = ("labels", "import", str(labels), "--project", "mnist", "--db", submitted)
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert "more.csv, row 2, field 'data_row_id': data row 'mnist-00000' is in no batch" in err
    assert "--allow-unbatched" in err
    with Ledger(submitted) as ledger:
        assert ledger.labels("mnist").empty
    code, out, _ = run_cli(capsys, *argv, "--allow-unbatched", "--dry-run")
    assert code == 0 and "would import 2 label(s)" in out
    code, out, _ = run_cli(capsys, *argv, "--allow-unbatched")
    assert code == 0 and "1 row(s) are in no batch of the project (imported as asked)" in out


def test_a_malformed_file_is_refused_naming_line_and_field(
    submitted: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    labels = tmp_path / "bad.csv"
    labels.write_text(
        "data_row_id,label\nmnist-00008,9\nmnist-00014,eleven\nmnist-00008,4\n", encoding="utf-8"
    )
    code, _, err = run_cli(
        capsys, "labels", "import", str(labels), "--project", "mnist", "--db", submitted
    )
    assert code == 2
    assert "bad.csv, row 2, field 'label': unknown class 'eleven'" in err
    assert "bad.csv, row 3, field 'label': data row 'mnist-00008' is labeled twice" in err
    with Ledger(submitted) as ledger:
        assert ledger.batch(1).status == "queued" and ledger.labels("mnist").empty


def test_export_of_a_project_without_labels_says_so(
    submitted: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(
        capsys, "labels", "export", "--project", "mnist", "--format", "csv",
        "--out", str(tmp_path / "t.csv"), "--db", submitted,
    )  # fmt: skip
    assert code == 2 and "has no labels yet" in err
    assert not (tmp_path / "t.csv").exists()


def test_compare_prints_the_figures_of_the_sample(
    submitted: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_cli(capsys, "labels", "import", str(LABELS), "--project", "mnist", "--db", submitted)
    rows = tmp_path / "rows.csv"
    code, out, _ = run_cli(
        capsys, "compare", str(RUN_1), str(RUN_2), "--project", "mnist", "--db", submitted,
        "--out", str(rows),
    )  # fmt: skip
    assert code == 0
    assert "shared rows 4,575; only in A 300; only in B 0" in out
    assert "mean confidence 0.769 -> 0.837 (change +0.068)" in out
    assert "changed predicted class: 925 of 4,575 shared rows" in out
    assert "batch 1: b1" in out  # the labeled batch, with run 1's accuracy on it
    assert "none of its 300 rows is in 'mnist-logreg-r2'" in out
    assert len(pd.read_csv(rows)) == 4575


def test_compare_with_ground_truth_labels(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "compare", str(RUN_1), str(RUN_2), "--labels", str(MNIST / "ground_truth.csv")
    )
    assert code == 0
    accuracy = out.split("accuracy on labeled rows\n", 1)[1].splitlines()
    assert "0.808" in accuracy[1] and "0.835" in accuracy[2]


def test_compare_runs_sharing_no_rows_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("data_row_id,prob_cat,prob_dog\nx1,0.9,0.1\nx2,0.4,0.6\n", encoding="utf-8")
    b.write_text("data_row_id,prob_cat,prob_dog\ny1,0.8,0.2\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "compare", str(a), str(b))
    assert code == 0
    assert "shared rows 0" in out and "share no data rows" in out


def test_yolo_needs_detection(
    submitted: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_cli(capsys, "labels", "import", str(LABELS), "--project", "mnist", "--db", submitted)
    code, _, err = run_cli(
        capsys, "labels", "export", "--project", "mnist", "--format", "yolo", "--out",
        str(tmp_path / "never.zip"), "--db", submitted,
    )  # fmt: skip
    assert code == 2 and "'yolo' holds detection labels only" in err
