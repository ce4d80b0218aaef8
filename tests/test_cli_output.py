"""What the CLI writes, and how it fails when it cannot: --out faults, closed or broken stdout,
formula-safe CSV, and id lists read exactly (a row is never marked by a near miss)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from labelnext.cli import EXIT_PIPE, main
from labelnext.ledger import Ledger


@pytest.fixture
def awkward_run(tmp_path: Path) -> Path:
    """Ids that a comma splitter or a stripper would confuse, and a formula-looking one."""
    path = tmp_path / "run.csv"
    path.write_text(
        'data_row_id,prob_a,prob_b\nimg,0.9,0.1\n"img,1",0.6,0.4\n" img",0.55,0.45\n'
        "=SUM(A1),0.5,0.5\n",
        encoding="utf-8",
    )
    return path


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelnext.cli", *argv], capture_output=True, text=True, check=False
    )


def test_csv_output_is_formula_safe(awkward_run: Path, capsys) -> None:
    assert main(["score", str(awkward_run)]) == 0
    out = capsys.readouterr().out
    assert "'=SUM(A1)" in out and "\n=SUM" not in out
    assert main(["score", str(awkward_run), "--out", str(awkward_run.with_name("s.parquet"))]) == 0
    assert "=SUM(A1)" in set(pd.read_parquet(awkward_run.with_name("s.parquet"))["data_row_id"])


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing/folder/out.csv", "does not exist"),
        (".", "is a folder"),
    ],
)
def test_out_faults_exit_2_with_a_message(
    awkward_run: Path, capsys, target: str, message: str
) -> None:
    out = str(awkward_run.parent / target)
    assert main(["score", str(awkward_run), "--out", out]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_full_disk_leaves_no_partial_file(
    awkward_run: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle) -> None:  # type: ignore[no-untyped-def]
            self.handle = handle

        def __enter__(self):  # type: ignore[no-untyped-def]
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    target = awkward_run.parent / "out.csv"
    assert main(["score", str(awkward_run), "--out", str(target)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not target.exists()
    assert [p.name for p in awkward_run.parent.iterdir()] == ["run.csv"]


def test_closed_stdout_is_an_error_not_silence(awkward_run: Path) -> None:
    done = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -m labelnext.cli score "{awkward_run}" >&-'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "standard output is closed" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reader_that_has_gone_gives_the_sigpipe_status(awkward_run: Path) -> None:
    """``| true``: the reader exits before a byte is written, whatever the pipe's capacity."""
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -m labelnext.cli score "{awkward_run}" | true; '
            'echo "${PIPESTATUS[0]}"',
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == str(EXIT_PIPE), done.stderr
    assert "Traceback" not in done.stderr


def test_mark_rows_marks_exactly_the_listed_ids(awkward_run: Path, tmp_path: Path, capsys) -> None:
    """``img,1`` once marked ``img`` (split on the comma), excluding it from the queue for good."""
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert main(["submit", str(awkward_run), "--project", "p", "--name", "b", "--top", "4",
                 "--db", db]) == 0  # fmt: skip
    batch = int(capsys.readouterr().out.strip())
    rows = tmp_path / "done.txt"
    rows.write_text("img,1\n", encoding="utf-8")
    assert main(["mark", str(batch), "--labeled", "--rows", str(rows), "--db", db]) == 0
    stored = Ledger(db).batch_rows(batch).set_index("data_row_id")["status"]
    assert stored.to_dict() == {
        "img": "open",
        "img,1": "labeled",
        " img": "open",
        "=SUM(A1)": "open",
    }
    # an id that matches nothing is an error naming it; nothing is marked
    rows.write_text("img,2\n", encoding="utf-8")
    assert main(["mark", str(batch), "--labeled", "--rows", str(rows), "--db", db]) == 2
    assert "img,2" in capsys.readouterr().err
    assert Ledger(db).batch_rows(batch)["status"].tolist().count("labeled") == 1


def test_exclude_reads_ids_exactly_and_says_which_are_unknown(
    awkward_run: Path, tmp_path: Path, capsys
) -> None:
    exclude = tmp_path / "queued.txt"
    exclude.write_text("img,1\nnot-here\n", encoding="utf-8")
    assert main(["select", str(awkward_run), "--top", "3", "--exclude", str(exclude)]) == 0
    captured = capsys.readouterr()
    chosen = pd.read_csv(StringIO(captured.out), keep_default_na=False)["data_row_id"].tolist()
    assert "img,1" not in chosen and "img" in chosen
    assert "1 of the 2 --exclude ids are not in this run (for example 'not-here')" in captured.err
