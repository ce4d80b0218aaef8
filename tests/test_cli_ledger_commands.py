"""The ledger commands of the CLI: submit, batches, export, mark, revert, actions (through
labelnext.cli.main)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from cli_support import run_cli

from labelnext.cli import build_parser, main
from labelnext.cli.ledger_commands import (
    cmd_actions,
    cmd_batches,
    cmd_export,
    cmd_mark,
    cmd_revert,
    cmd_submit,
)
from labelnext.export import formats_for
from labelnext.ledger import Ledger
from labelnext.readers import load_run
from labelnext.select import ranked

RUN = Path(__file__).resolve().parents[1] / "sample_data" / "mnist" / "run_001"


def ids_file(path: Path, ids: list[str]) -> str:
    """One id per line, exactly (a .txt id list)."""
    path.write_text("\n".join(ids) + "\n", encoding="utf-8")
    return str(path)


def test_commands_are_wired_into_the_cli() -> None:
    parser = build_parser()
    for argv, func in [
        (["submit", "R", "--project", "p", "--name", "n", "--top", "1"], cmd_submit),
        (["batches"], cmd_batches),
        (["export", "1", "--format", "csv", "--out", "f"], cmd_export),
        (["mark", "1", "--labeled"], cmd_mark),
        (["mark", "1", "--reopen", "--as", "bo"], cmd_mark),
        (["revert", "3"], cmd_revert),
        (["actions", "--batch", "2", "--project", "p"], cmd_actions),
    ]:
        assert parser.parse_args(argv).func is func


def test_submit_top_k_prints_the_batch_id_and_skips_queued_rows(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    common = ["--project", "digits", "--strategy", "margin", "--db", db]
    code, out, err = run_cli(capsys, "submit", str(RUN), "--name", "one", "--top", "30", *common)
    assert code == 0
    first = int(out.strip())
    assert f"batch {first}: 30 row(s) stored in project 'digits'" in err
    code, out, _ = run_cli(capsys, "submit", str(RUN), "--name", "two", "--top", "20", *common)
    assert code == 0
    second = int(out.strip())

    expected = ranked(load_run(RUN), "margin", k=50)["data_row_id"].tolist()
    with Ledger(db) as ledger:
        one = ledger.batch_rows(first)["data_row_id"].tolist()
        two = ledger.batch_rows(second)["data_row_id"].tolist()
        info = ledger.batch(first)
        assert ledger.batch_rows(second)["rank"].tolist() == list(range(1, 21))
    assert one + two == expected  # the second batch continues where the first stopped
    assert (info.priority, info.strategy, info.run_name) == (3, "margin", "mnist-logreg-r1")
    assert info.strategy_params["top"] == 30


def test_submit_rows_conflict_exits_3_listing_the_rows(
    capsys: pytest.CaptureFixture[str], ledger_url: str, tmp_path: Path
) -> None:
    picked = ranked(load_run(RUN), "least_confidence", k=3)["data_row_id"].tolist()
    rows = ids_file(tmp_path / "rows.txt", picked)
    base = ["submit", str(RUN), "--project", "digits", "--rows", rows, "--db", ledger_url]
    code, out, _ = run_cli(capsys, *base, "--name", "first", "--priority", "1")
    assert code == 0
    first = int(out)

    code, out, err = run_cli(capsys, *base, "--name", "again")
    assert (code, out) == (3, "")
    assert "3 row(s) are already in an open batch of project 'digits'" in err
    for row in picked:
        assert f"  {row}\tbatch {first}" in err

    more = ids_file(tmp_path / "more.txt", [*picked, "mnist-00001"])
    code, out, err = run_cli(
        capsys, *base[:5], more, "--db", ledger_url, "--name", "trimmed", "--on-conflict", "skip"
    )
    assert code == 0
    assert "1 row(s) stored" in err and "skipped 3 row(s)" in err
    with Ledger(ledger_url) as ledger:
        assert ledger.batch_rows(int(out))["data_row_id"].tolist() == ["mnist-00001"]
        assert ledger.batch(first).priority == 1


def test_submit_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    base = ["--project", "digits", "--name", "n", "--db", db]
    code, _, err = run_cli(capsys, "submit", str(tmp_path / "nope"), "--top", "5", *base)
    assert code == 2 and "labelnext submit" in err
    rows = ids_file(tmp_path / "rows.txt", ["mnist-00001", "not-a-row"])
    code, _, err = run_cli(capsys, "submit", str(RUN), "--rows", rows, *base)
    assert code == 2
    assert "1 data_row_id(s) are not in run 'mnist-logreg-r1': not-a-row" in err
    code, _, err = run_cli(capsys, "submit", str(RUN), "--rows", str(tmp_path / "x.txt"), *base)
    assert code == 2 and "--rows" in err and "cannot read it" in err
    code, _, err = run_cli(capsys, "submit", str(RUN), "--top", "0", *base)
    assert code == 2 and "--top: expected a positive number of rows, got 0" in err
    with pytest.raises(SystemExit, match=r"^2$") as exit_info:
        main(["submit", str(RUN), "--top", "5", "--priority", "9", *base])
    assert exit_info.value.code == 2
    code, _, err = run_cli(capsys, "batches", "--db", "mysql://x/y")
    assert code == 2 and "backend 'mysql' is not supported" in err
    with Ledger(db) as ledger:
        assert ledger.batches().empty


def test_created_by_is_the_os_user_and_the_default_ledger_is_in_labelnext_home(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LABELNEXT_DB_URL", raising=False)
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("getpass.getuser", lambda: "grace")
    code, out, _ = run_cli(
        capsys, "submit", str(RUN), "--project", "p", "--name", "n", "--top", "2"
    )
    assert code == 0
    with Ledger(f"sqlite:///{tmp_path / 'home' / 'ledger.db'}") as ledger:
        assert ledger.batch(int(out)).created_by == "grace"
        submit = ledger.actions(batch_id=int(out)).iloc[0]
        assert (submit["kind"], submit["actor"], submit["origin"]) == ("submit", "grace", "cli")


@pytest.mark.parametrize("option", ["--as", "--created-by"])
def test_submit_as_records_that_name_on_the_batch_and_its_action(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "grace")
    code, out, _ = run_cli(
        capsys, "submit", str(RUN), "--project", "p", "--name", "n", "--top", "2",
        option, "ada@lab.org", "--db", db,
    )  # fmt: skip
    assert code == 0
    with Ledger(db) as ledger:
        assert ledger.batch(int(out)).created_by == "ada@lab.org"
        assert list(ledger.actions(batch_id=int(out))["actor"]) == ["ada@lab.org"]


def test_batches_lists_newest_first(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "batches", "--db", db)
    assert (code, out.strip()) == (0, "no batches")
    for name, project in [("alpha", "digits"), ("beta", "letters")]:
        argv = ["submit", str(RUN), "--project", project, "--name", name, "--top", "3"]
        assert main([*argv, "--db", db]) == 0
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "batches", "--db", db)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:5] == [
        "batch_id",
        "name",
        "project",
        "priority",
        "status",
    ]
    assert [line.split()[1] for line in lines[1:]] == ["beta", "alpha"]
    code, out, _ = run_cli(capsys, "batches", "--project", "digits", "--db", db)
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["alpha"]


@pytest.mark.parametrize("fmt", formats_for("classification"))
def test_export_writes_the_file_and_marks_the_batch_exported(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, fmt: str
) -> None:
    argv = ["submit", str(RUN), "--project", "digits", "--name", "n", "--top", "5", "--db", db]
    batch_id = int(run_cli(capsys, *argv)[1])
    out = tmp_path / f"batch.{fmt}"
    code, _, err = run_cli(
        capsys, "export", str(batch_id), "--format", fmt, "--out", str(out), "--db", db
    )
    assert code == 0 and f"bytes to {out}" in err
    data = out.read_bytes()
    if fmt == "csv":
        assert len(pd.read_csv(out)) == 5
    elif fmt == "parquet":
        assert len(pd.read_parquet(out)) == 5
    elif fmt == "jsonl":
        assert len(data.splitlines()) == 5
    elif fmt == "labelstudio":
        assert len(json.loads(zipfile.ZipFile(io.BytesIO(data)).read("tasks.json"))) == 5
    else:
        batch = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("batch.json"))
        assert len(batch["create_batch"]["global_keys"]) == 5
    with Ledger(db) as ledger:
        assert ledger.batch(batch_id).status == "exported"


def test_export_errors_exit_2(capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path) -> None:
    code, _, err = run_cli(
        capsys, "export", "7", "--format", "csv", "--out", str(tmp_path / "x"), "--db", db
    )
    assert code == 2 and "batch_id: there is no batch 7" in err
    assert not (tmp_path / "x").exists()


def test_mark_labeled_and_cancelled(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    argv = ["submit", str(RUN), "--project", "digits", "--top", "4", "--db", db]
    first = int(run_cli(capsys, *argv, "--name", "one")[1])
    second = int(run_cli(capsys, *argv, "--name", "two")[1])
    with Ledger(db) as ledger:
        rows = ledger.batch_rows(first)["data_row_id"].tolist()

    some = ids_file(tmp_path / "some.txt", rows[:2])
    code, _, err = run_cli(capsys, "mark", str(first), "--labeled", "--rows", some, "--db", db)
    assert code == 0 and "2 row(s) marked labeled; status queued" in err
    code, _, err = run_cli(capsys, "mark", str(first), "--labeled", "--db", db)
    assert code == 0 and "2 row(s) marked labeled; status labeled" in err

    code, _, err = run_cli(capsys, "mark", str(second), "--cancelled", "--rows", some, "--db", db)
    assert code == 2 and "--rows goes with --labeled" in err
    code, _, err = run_cli(capsys, "mark", str(second), "--cancelled", "--db", db)
    assert code == 0 and "cancelled, 4 row(s) freed" in err
    code, _, err = run_cli(capsys, "mark", str(second), "--labeled", "--db", db)
    assert code == 2 and f"batch {second} is cancelled" in err
    code, _, err = run_cli(capsys, "mark", "99", "--labeled", "--db", db)
    assert code == 2 and "there is no batch 99" in err
    with pytest.raises(SystemExit, match=r"^2$"):
        main(["mark", str(first), "--labeled", "--cancelled", "--db", db])

    with Ledger(db) as ledger:
        assert ledger.excluded_ids("digits") == set(rows)


def test_submit_a_detection_run_records_the_aggregation(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    from labelnext.scoring import Scoring

    detect = RUN.parents[1] / "mnist_detect"
    argv = ["submit", str(detect), "--project", "boxes", "--name", "b", "--top", "5"]
    code, out, _ = run_cli(capsys, *argv, "--aggregation", "mean", "--empty-score", "1", "--db", db)
    assert code == 0
    expected = ranked(load_run(detect), Scoring(aggregation="mean", empty_score=1.0), k=5)
    with Ledger(db) as ledger:
        info = ledger.batch(int(out.strip()))
        stored = ledger.batch_rows(info.batch_id)["data_row_id"].tolist()
    assert stored == expected["data_row_id"].tolist()
    assert info.strategy_params["aggregation"] == "mean"
    assert info.strategy_params["empty_score"] == 1.0


def _actions(capsys: pytest.CaptureFixture[str], db: str, *extra: str) -> list[list[str]]:
    code, out, _ = run_cli(capsys, "actions", "--db", db, *extra)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "action_id",
        "at",
        "kind",
        "batch_id",
        "project",
        "actor",
        "origin",
        "n_rows",
        "reverted_by",
        "revertible",
    ]
    # "at" prints as two words (date and time)
    return [line.split()[:1] + line.split()[3:] for line in lines[1:]]


def test_cancel_reopen_mark_and_revert_are_recorded_with_the_user_and_the_cli(
    capsys: pytest.CaptureFixture[str],
    ledger_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "grace")
    db = ["--db", ledger_url]
    code, out, _ = run_cli(
        capsys, "submit", str(RUN), "--project", "digits", "--name", "one", "--top", "3", *db
    )
    batch = int(out)
    code, out, _ = run_cli(capsys, "actions", *db, "--batch", str(batch + 100))
    assert (code, out.strip()) == (0, "no actions")

    code, _, err = run_cli(capsys, "mark", str(batch), "--cancelled", "--as", "bo", *db)
    log = _actions(capsys, ledger_url)
    cancel = int(log[0][0])
    assert log[0][1:] == ["cancel", str(batch), "digits", "bo", "cli", "3", "-", "True"]
    assert log[1][1:] == ["submit", str(batch), "digits", "grace", "cli", "3", "-", "False"]
    assert code == 0
    assert f"cancelled, 3 row(s) freed (action {cancel}; undo: labelnext revert {cancel})" in err

    code, _, err = run_cli(capsys, "mark", str(batch), "--reopen", *db)
    assert code == 0 and "reopened, 3 row(s) open again; status queued" in err
    code, _, err = run_cli(capsys, "mark", str(batch), "--reopen", *db)
    assert code == 2 and f"batch {batch} is queued, not cancelled" in err

    code, _, err = run_cli(capsys, "mark", str(batch), "--labeled", *db)
    log = _actions(capsys, ledger_url, "--project", "digits")
    mark = int(log[0][0])
    assert code == 0 and f"status labeled (action {mark}; undo: labelnext revert {mark})" in err
    assert [row[1] for row in log] == ["mark_labeled", "reopen", "cancel", "submit"]
    assert log[2][7] == log[1][0]  # the cancel is reverted by the reopen

    code, _, err = run_cli(capsys, "revert", str(mark), "--as", "cy", *db)
    assert code == 0
    assert (
        f"action {mark} reverted by action " in err and "3 row(s) open again; status queued" in err
    )
    log = _actions(capsys, ledger_url, "--batch", str(batch))
    assert log[0][1:7] == ["unmark", str(batch), "digits", "cy", "cli", "3"]
    code, _, err = run_cli(capsys, "revert", str(mark), *db)
    assert (
        code == 2 and f"action {mark} (mark_labeled of batch {batch}) was already reverted" in err
    )
    code, _, err = run_cli(capsys, "revert", log[-1][0], *db)
    assert code == 2 and "a submit of batch" in err and "cancel it" in err
    code, _, err = run_cli(capsys, "revert", "999", *db)
    assert code == 2 and "there is no action 999" in err

    # a cancel whose rows another batch took since: exit 3, each row and its batch listed
    run_cli(capsys, "mark", str(batch), "--cancelled", *db)
    with Ledger(ledger_url) as ledger:
        picked = ledger.batch_rows(batch)["data_row_id"].tolist()
    rows = ids_file(tmp_path / "rows.txt", picked[:2])
    code, out, _ = run_cli(
        capsys, "submit", str(RUN), "--project", "digits", "--name", "two", "--rows", rows, *db
    )
    taker = int(out)
    code, _, err = run_cli(capsys, "mark", str(batch), "--reopen", *db)
    assert code == 3
    assert f"Cannot reopen batch {batch}: 2 of its row(s) are now in another open batch" in err
    for row in picked[:2]:
        assert f"  {row}\tbatch {taker}" in err


def test_export_is_recorded_as_the_cli_user(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    argv = ["submit", str(RUN), "--project", "digits", "--name", "n", "--top", "2", "--db", db]
    batch_id = int(run_cli(capsys, *argv)[1])
    out = str(tmp_path / "b.csv")
    code, _, _ = run_cli(
        capsys, "export", str(batch_id), "--format", "csv", "--out", out, "--as", "dee", "--db", db
    )
    assert code == 0
    with Ledger(db) as ledger:
        log = ledger.actions(batch_id)
        assert ledger.batch(batch_id).status == "exported"
    assert log[["kind", "actor", "origin"]].values.tolist()[0] == ["export", "dee", "cli"]


def test_a_ledger_that_is_down_exits_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://ana:pw@127.0.0.1:{port}/test"
    for argv in (["batches"], ["actions"], ["mark", "1", "--cancelled"], ["revert", "1"]):
        code, out, err = run_cli(capsys, *argv, "--db", url)
        assert (code, out) == (2, "")
        assert (
            f"labelnext {argv[0]}: error: The ledger Ledger('postgresql+psycopg://ana:***@" in err
        )
        assert "is unavailable (open)" in err and "Traceback" not in err and "pw@" not in err


def test_export_rewrites_image_references_for_the_tool(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    code, out, _ = run_cli(
        capsys, "submit", str(RUN), "--project", "img", "--name", "b", "--top", "3", "--db", db
    )
    batch = out.strip()
    target = tmp_path / "ls.zip"
    code, _, err = run_cli(
        capsys, "export", batch, "--format", "labelstudio", "--out", str(target), "--db", db
    )
    assert code == 0
    assert "warning:" in err and "Label Studio" in err  # bare file names will not load there
    root = RUN.parents[1]
    code, _, err = run_cli(
        capsys, "export", batch, "--format", "labelstudio", "--out", str(target),
        "--image-url", "label-studio", "--files-root", str(root), "--db", db,
    )  # fmt: skip
    assert code == 0 and "warning:" not in err
    tasks = json.loads(zipfile.ZipFile(target).read("tasks.json"))
    assert all(t["data"]["image"].startswith("/data/local-files/?d=mnist") for t in tasks)
    # the stored records carry the prediction the tasks pre-annotate with
    rows = Ledger(db).batch_rows(int(batch))
    assert rows["prediction"].map(lambda p: p["task"]).eq("classification").all()
