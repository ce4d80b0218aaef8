"""The batch ledger, on SQLite and PostgreSQL (the ``ledger`` / ``ledger_url`` fixtures)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from labelnext.errors import BatchConflictError, LedgerError, ReopenConflictError
from labelnext.ledger import (
    BatchInputError,
    Ledger,
    NothingToSubmitError,
    SubmitResult,
    batch_rows,
    batches,
    default_url,
)

FIXTURES = Path(__file__).parent / "fixtures"


def selection(ids: list[str], *, start_rank: int = 1) -> pd.DataFrame:
    """A selection shaped like labelnext.select.ranked(...)."""
    n = len(ids)
    scores = np.linspace(0.9, 0.5, n) if n > 1 else np.array([0.9])
    return pd.DataFrame(
        {
            "data_row_id": ids,
            "image": [f"images/{i}.png" for i in ids],
            "predicted_label": ["cat" if k % 2 else "dog" for k in range(n)],
            "score": scores,
            "confidence": 1 - scores,
            "rank": np.arange(start_rank, start_rank + n),
        }
    )


def submit(ledger: Ledger, ids: list[str], **kw: object) -> SubmitResult:
    args: dict[str, object] = {
        "project": "cats",
        "name": "batch",
        "created_by": "ana",
        "strategy": "margin",
        "run_id": None,
    }
    args.update(kw)
    return ledger.submit(rows=selection(ids), **args)  # type: ignore[arg-type]


def n_batches(ledger: Ledger) -> tuple[int, int]:
    with ledger.engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(batches)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(batch_rows)).scalar_one(),
        )


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    """For checks of arguments, which happen before any database work: one backend is enough."""
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as opened:
        yield opened


@dataclass(frozen=True)
class FakeRun:
    name: str = "mnist-iter1"
    model: str | None = "logreg"
    version: str | None = "1"
    source: str = "sample_data/mnist_iter1"
    content_hash: str = "cd" * 32
    n_rows: int = 1000


# -- opening --------------------------------------------------------------------------------


def test_new_ledger_is_at_the_newest_schema_revision(ledger: Ledger) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from labelnext.ledger import MIGRATIONS_DIR, SCHEMA_HEAD, metadata

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD == "0005"
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == SCHEMA_HEAD
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_reopening_a_ledger_keeps_its_data(ledger_url: str) -> None:
    with Ledger(ledger_url) as first:
        batch_id = submit(first, ["a", "b"]).batch_id
    with Ledger(ledger_url) as again:
        assert again.batch(batch_id).n_rows == 2


def test_default_url_is_a_sqlite_file_in_labelnext_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LABELNEXT_DB_URL", raising=False)
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "home"))
    assert default_url() == f"sqlite:///{tmp_path / 'home' / 'ledger.db'}"
    with Ledger() as ledger:
        submit(ledger, ["a"])
    assert (tmp_path / "home" / "ledger.db").is_file()


def test_default_home_is_dot_labelnext_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LABELNEXT_DB_URL", raising=False)
    monkeypatch.delenv("LABELNEXT_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_url() == f"sqlite:///{tmp_path / '.labelnext' / 'ledger.db'}"
    assert (tmp_path / ".labelnext").is_dir()


def test_db_url_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELNEXT_DB_URL", f"sqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "home"))
    assert default_url() == f"sqlite:///{tmp_path / 'other.db'}"


def test_sqlite_ledger_uses_wal(tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger, ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(BatchInputError, match=r"url: backend 'mysql' is not supported"):
        Ledger("mysql://localhost/db")
    with pytest.raises(BatchInputError, match=r"url: 'not a url' is not a database URL"):
        Ledger("not a url")


def test_ledger_from_a_newer_labelnext_is_refused(ledger_url: str) -> None:
    with Ledger(ledger_url) as ledger, ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(LedgerError, match=r"schema revision '9999'.*Upgrade labelnext"):
        Ledger(ledger_url)


# -- projects and runs ------------------------------------------------------------------------


def test_projects_are_created_once(ledger: Ledger) -> None:
    first = ledger.ensure_project("dogs")
    assert ledger.ensure_project(" dogs ") == first
    ledger.ensure_project("cats")
    assert ledger.projects() == ["cats", "dogs"]
    with pytest.raises(BatchInputError, match=r"project: expected a non-empty str, got ' '"):
        ledger.ensure_project(" ")


def test_register_run_is_idempotent_on_content_hash(ledger: Ledger) -> None:
    run_id = ledger.register_run(FakeRun())
    assert ledger.register_run(FakeRun(name="renamed")) == run_id
    other = ledger.register_run(FakeRun(content_hash="ef" * 32))
    assert other != run_id
    runs = ledger.runs()
    assert len(runs) == 2
    assert runs.set_index("run_id").loc[run_id, "name"] == "mnist-iter1"
    assert runs.set_index("run_id").loc[run_id, "row_count"] == 1000


# -- submit -----------------------------------------------------------------------------------


def test_submit_stores_every_row_as_selected(ledger: Ledger) -> None:
    run_id = ledger.register_run(FakeRun())
    rows = selection(["r3", "r1", "r2"])
    result = ledger.submit(
        project="cats",
        name="week 48",
        rows=rows,
        priority=2,
        note="urgent: new camera",
        created_by="ana",
        strategy="margin",
        strategy_params={"k": 3, "classes": ("cat",), "exclude": frozenset({"x"})},
        run_id=run_id,
    )
    assert result == SubmitResult(result.batch_id, 3, {}, True)

    stored = ledger.batch_rows(result.batch_id)
    expected = rows.sort_values("rank").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        stored[["data_row_id", "image", "rank", "score", "confidence", "predicted_label"]],
        expected[["data_row_id", "image", "rank", "score", "confidence", "predicted_label"]],
    )
    assert (stored["status"] == "open").all()
    assert stored["labeled_at"].isna().all()

    info = ledger.batch(result.batch_id)
    assert (info.name, info.project, info.priority, info.status) == ("week 48", "cats", 2, "queued")
    assert (info.note, info.created_by, info.strategy) == ("urgent: new camera", "ana", "margin")
    assert info.strategy_params == {"classes": ["cat"], "exclude": ["x"], "k": 3}
    assert (info.run_id, info.run_name, info.run_model, info.run_version) == (
        run_id,
        "mnist-iter1",
        "logreg",
        "1",
    )
    assert info.created_at.tzinfo is not None

    listing = ledger.batches()
    assert listing.columns.tolist() == [
        "batch_id",
        "name",
        "project",
        "priority",
        "status",
        "n_rows",
        "n_open",
        "n_labeled",
        "n_cancelled",
        "created_by",
        "created_at",
        "strategy",
        "strategy_params",
        "run_id",
        "run_name",
        "note",
        "client_token",
        "task",
        "method",
    ]
    row = listing.iloc[0]
    assert (row["batch_id"], row["n_rows"], row["n_open"], row["run_name"]) == (
        result.batch_id,
        3,
        3,
        "mnist-iter1",
    )


def test_rank_defaults_to_row_order_and_missing_scores_are_null(ledger: Ledger) -> None:
    rows = pd.DataFrame({"data_row_id": ["b", "a"], "score": [np.nan, 0.4]})
    result = ledger.submit(
        project="p", name="n", rows=rows, created_by="ana", strategy="s", run_id=None
    )
    stored = ledger.batch_rows(result.batch_id)
    assert stored["data_row_id"].tolist() == ["b", "a"]
    assert stored["rank"].tolist() == [1, 2]
    assert np.isnan(stored["score"].iloc[0])
    assert stored["score"].iloc[1] == pytest.approx(0.4)
    assert stored["image"].isna().all()


def test_batches_are_listed_newest_first_and_by_project(ledger: Ledger) -> None:
    first = submit(ledger, ["a"], name="one").batch_id
    second = submit(ledger, ["b"], name="two").batch_id
    third = submit(ledger, ["a"], name="three", project="dogs").batch_id
    assert ledger.batches()["batch_id"].tolist() == [third, second, first]
    assert ledger.batches("cats")["name"].tolist() == ["two", "one"]
    assert ledger.batches("nobody").empty


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"priority": 0}, r"priority: expected an int from 1 \(most urgent\) to 5, got 0"),
        ({"priority": 6}, r"priority: expected an int from 1 \(most urgent\) to 5, got 6"),
        ({"priority": True}, r"priority: expected an int .* got True"),
        ({"priority": "2"}, r"priority: expected an int .* got '2'"),
        ({"on_conflict": "merge"}, r"on_conflict: 'merge' is not allowed; expected one of"),
        ({"name": ""}, r"name: expected a non-empty str, got ''"),
        ({"project": None}, r"project: expected a non-empty str, got None"),
        ({"created_by": "  "}, r"created_by: expected a non-empty str"),
        ({"strategy_params": {"f": object()}}, r"strategy_params: not JSON-serialisable"),
        ({"run_id": 12345}, r"run_id: no model run with id 12345; register the run first"),
        ({"client_token": ""}, r"client_token: expected a non-empty str, got ''"),
        ({"note": 5}, r"note: expected a str, got int"),
    ],
)
def test_bad_submit_arguments_are_refused_and_nothing_is_stored(
    sqlite_ledger: Ledger, change: dict[str, object], message: str
) -> None:
    with pytest.raises(BatchInputError, match=message):
        submit(sqlite_ledger, ["a", "b"], **change)
    assert n_batches(sqlite_ledger) == (0, 0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (pd.DataFrame({"id": ["a"]}), r"rows: no 'data_row_id' column \(columns: id\)"),
        (pd.DataFrame({"data_row_id": []}), r"rows: the selection is empty; nothing to submit"),
        (
            pd.DataFrame({"data_row_id": ["a", "b", "a", "c", "c"]}),
            r"rows: data_row_id must be unique; repeated: a, c",
        ),
        (
            pd.DataFrame({"data_row_id": ["a", "", None]}),
            r"rows: data_row_id must be a non-empty str; bad value\(s\) at position\(s\) 1, 2",
        ),
        (
            pd.DataFrame({"data_row_id": ["a"], "rank": [None]}),
            r"rows: rank must be an integer on every row",
        ),
        (
            pd.DataFrame({"data_row_id": ["a"], "score": ["high"]}),
            r"rows: score and confidence must be numbers",
        ),
        (["a", "b"], r"rows: expected a pandas DataFrame, got list"),
    ],
)
def test_bad_rows_are_refused(sqlite_ledger: Ledger, rows: object, message: str) -> None:
    with pytest.raises(BatchInputError, match=message):
        sqlite_ledger.submit(
            project="p",
            name="n",
            rows=rows,  # type: ignore[arg-type]
            created_by="a",
            strategy="s",
            run_id=None,
        )
    assert n_batches(sqlite_ledger) == (0, 0)


# -- the open-batch invariant ------------------------------------------------------------------


def test_overlap_fails_naming_each_row_and_its_batch(ledger: Ledger) -> None:
    first = submit(ledger, ["a", "b", "c"]).batch_id
    second = submit(ledger, ["d"]).batch_id
    before = n_batches(ledger)
    with pytest.raises(BatchConflictError, match=r"3 row\(s\) are already in an open batch") as err:
        submit(ledger, ["b", "c", "d", "e"])
    assert err.value.conflicts == {"b": first, "c": first, "d": second}
    assert err.value.project == "cats"
    message = str(err.value)
    assert f"b (batch {first})" in message and f"d (batch {second})" in message
    assert n_batches(ledger) == before
    assert ledger.excluded_ids("cats") == {"a", "b", "c", "d"}


def test_overlap_under_skip_trims_and_says_how_many(ledger: Ledger) -> None:
    first = submit(ledger, ["a", "b"]).batch_id
    result = submit(ledger, ["b", "c", "a", "d"], on_conflict="skip")
    assert result.created
    assert result.skipped == {"a": first, "b": first}
    assert result.n_rows == 2
    assert ledger.batch_rows(result.batch_id)["data_row_id"].tolist() == ["c", "d"]


def test_skip_with_every_row_taken_stores_nothing(ledger: Ledger) -> None:
    first = submit(ledger, ["a", "b"]).batch_id
    before = n_batches(ledger)
    with pytest.raises(NothingToSubmitError, match=r"All 2 row\(s\) .* Nothing was submitted") as e:
        submit(ledger, ["a", "b"], on_conflict="skip")
    assert e.value.conflicts == {"a": first, "b": first}
    assert n_batches(ledger) == before


def test_the_same_row_may_be_open_in_two_projects(ledger: Ledger) -> None:
    submit(ledger, ["a"], project="cats")
    assert submit(ledger, ["a"], project="dogs").n_rows == 1
    assert ledger.excluded_ids("cats") == {"a"}
    assert ledger.excluded_ids() == {"a"}


def test_exported_batches_still_hold_their_rows(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a"]).batch_id
    ledger.mark_exported(batch_id)
    assert ledger.batch(batch_id).status == "exported"
    with pytest.raises(BatchConflictError, match=rf"a \(batch {batch_id}\)"):
        submit(ledger, ["a"])


def test_the_database_itself_refuses_a_second_open_row(ledger: Ledger) -> None:
    """The invariant holds even for writers that bypass Ledger.submit."""
    batch_id = submit(ledger, ["a"]).batch_id
    project_id = ledger.ensure_project("cats")
    row = {
        "batch_id": batch_id,
        "project_id": project_id,
        "data_row_id": "a",
        "rank": 2,
        "status": "open",
    }
    with pytest.raises(IntegrityError, match=r"(?i)unique"), ledger.engine.begin() as conn:
        conn.execute(batch_rows.insert().values(**row))
    with ledger.engine.begin() as conn:  # a closed row of the same data row is fine
        conn.execute(batch_rows.insert().values(**{**row, "status": "labeled"}))


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [("batches", "priority", 9), ("batches", "status", "lost"), ("batch_rows", "status", "maybe")],
)
def test_check_constraints(ledger: Ledger, table: str, column: str, value: object) -> None:
    batch_id = submit(ledger, ["a"]).batch_id
    target = batches if table == "batches" else batch_rows
    key = target.c.id if table == "batches" else target.c.batch_id
    with pytest.raises(IntegrityError, match=r"(?i)check"), ledger.engine.begin() as conn:
        conn.execute(target.update().where(key == batch_id).values({column: value}))


# -- idempotency --------------------------------------------------------------------------------


def test_client_token_makes_a_retry_return_the_same_batch(ledger: Ledger) -> None:
    first = submit(ledger, ["a", "b"], client_token="tok-1")
    again = submit(ledger, ["a", "b"], client_token="tok-1")
    assert again == SubmitResult(first.batch_id, 2, {}, False)
    assert n_batches(ledger) == (1, 2)
    assert ledger.batches()["client_token"].tolist() == ["tok-1"]


def test_client_token_of_another_project_is_refused(ledger: Ledger) -> None:
    first = submit(ledger, ["a"], client_token="tok-1").batch_id
    with pytest.raises(
        BatchInputError, match=rf"'tok-1' was already used for batch {first} of project 'cats'"
    ):
        submit(ledger, ["a"], client_token="tok-1", project="dogs")


# -- labeling and cancelling -------------------------------------------------------------------


def test_marking_a_batch_labeled_records_it(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b"]).batch_id
    assert ledger.mark_labeled(batch_id) == 2
    assert ledger.batch(batch_id).status == "labeled"
    rows = ledger.batch_rows(batch_id)
    assert (rows["status"] == "labeled").all()
    assert rows["labeled_at"].notna().all()
    assert ledger.excluded_ids("cats") == {"a", "b"}
    assert ledger.mark_labeled(batch_id) == 0  # idempotent
    # labeled rows are no longer open: relabeling them on purpose is allowed
    assert submit(ledger, ["a"]).n_rows == 1


def test_marking_some_rows_labeled(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b", "c"]).batch_id
    assert ledger.mark_labeled(batch_id, rows=["a", "b"]) == 2
    assert ledger.batch(batch_id).status == "queued"
    listing = ledger.batches().iloc[0]
    assert (listing["n_open"], listing["n_labeled"]) == (1, 2)
    assert ledger.mark_labeled(batch_id, rows=["c", "a"]) == 1
    assert ledger.batch(batch_id).status == "labeled"


def test_marking_rows_not_in_the_batch_names_them(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a"]).batch_id
    with pytest.raises(LedgerError, match=rf"2 row\(s\) are not in batch {batch_id}: x, y"):
        ledger.mark_labeled(batch_id, rows=["a", "y", "x"])
    assert ledger.batch_rows(batch_id)["status"].tolist() == ["open"]


def test_cancelling_frees_the_rows(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b"]).batch_id
    assert ledger.cancel(batch_id) == 2
    assert ledger.batch(batch_id).status == "cancelled"
    assert ledger.excluded_ids("cats") == frozenset()
    assert submit(ledger, ["a", "b"]).n_rows == 2
    assert ledger.cancel(batch_id) == 0  # cancelling again changes nothing


def test_cancelling_a_partly_labeled_batch_keeps_the_labels(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b"]).batch_id
    ledger.mark_labeled(batch_id, rows=["a"])
    assert ledger.cancel(batch_id) == 1
    assert ledger.batch_rows(batch_id)["status"].tolist() == ["labeled", "cancelled"]
    assert ledger.excluded_ids("cats") == {"a"}


def test_refused_status_changes(ledger: Ledger) -> None:
    labeled = submit(ledger, ["a"]).batch_id
    ledger.mark_labeled(labeled)
    with pytest.raises(LedgerError, match=rf"batch {labeled} is labeled; .* cannot be cancelled"):
        ledger.cancel(labeled)
    cancelled = submit(ledger, ["b"]).batch_id
    ledger.cancel(cancelled)
    with pytest.raises(LedgerError, match=rf"batch {cancelled} is cancelled; its rows cannot"):
        ledger.mark_labeled(cancelled)
    ledger.mark_exported(cancelled)
    assert ledger.batch(cancelled).status == "cancelled"
    for action in (ledger.cancel, ledger.mark_labeled, ledger.mark_exported, ledger.batch):
        with pytest.raises(LedgerError, match=r"batch_id: there is no batch 999"):
            action(999)
    with pytest.raises(LedgerError, match=r"batch_id: there is no batch 999"):
        ledger.batch_rows(999)


def test_excluded_ids_counts_open_and_labeled_rows_across_runs(ledger: Ledger) -> None:
    run1 = ledger.register_run(FakeRun(content_hash="01" * 32))
    run2 = ledger.register_run(FakeRun(content_hash="02" * 32))
    labeled = submit(ledger, ["a", "b"], run_id=run1).batch_id
    ledger.mark_labeled(labeled)
    submit(ledger, ["c"], run_id=run2)
    cancelled = submit(ledger, ["d"], run_id=run2).batch_id
    ledger.cancel(cancelled)
    submit(ledger, ["e"], project="dogs", run_id=run2)
    assert ledger.excluded_ids("cats") == {"a", "b", "c"}
    assert ledger.excluded_ids("dogs") == {"e"}
    assert ledger.excluded_ids() == {"a", "b", "c", "e"}
    assert ledger.excluded_ids("nobody") == frozenset()


def test_row_status_tells_queued_from_labeled_rows(ledger: Ledger) -> None:
    labeled = submit(ledger, ["a", "b", "c"]).batch_id
    ledger.mark_labeled(labeled, rows=["a", "b"])  # c stays open
    submit(ledger, ["d"])
    cancelled = submit(ledger, ["e"]).batch_id
    ledger.cancel(cancelled)
    requeued = submit(ledger, ["b"]).batch_id  # b sent back for relabeling: queued again
    submit(ledger, ["z"], project="dogs")
    found = ledger.row_status("cats")
    assert found == {"queued": {"b", "c", "d"}, "labeled": {"a"}}
    assert found["queued"] | found["labeled"] == ledger.excluded_ids("cats")
    ledger.mark_labeled(requeued)
    assert ledger.row_status("cats") == {"queued": {"c", "d"}, "labeled": {"a", "b"}}
    assert ledger.row_status("dogs") == {"queued": {"z"}, "labeled": frozenset()}
    assert ledger.row_status("nobody") == {"queued": frozenset(), "labeled": frozenset()}
    with pytest.raises(LedgerError, match=r"project: .* is refused"):
        ledger.row_status("x\x00y")


# -- migrations --------------------------------------------------------------------------------


def _fixture_module(name: str = "make_ledger_v1") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_upgraded(ledger: Ledger, v1: ModuleType) -> None:
    assert ledger.projects() == [v1.PROJECT]
    listing = ledger.batches().sort_values("batch_id")
    assert listing["name"].tolist() == [b[0] for b in v1.BATCHES]
    assert listing["status"].tolist() == [b[1] for b in v1.BATCHES]
    assert listing["priority"].tolist() == [b[2] for b in v1.BATCHES]
    assert listing["note"].tolist() == ["", "", ""]
    assert listing["run_name"].tolist() == [v1.RUN["name"]] * 3
    assert listing["strategy_params"].tolist() == [{"k": 2}] * 3
    for batch_id, (_, _, _, rows) in enumerate(v1.BATCHES, start=1):
        stored = ledger.batch_rows(batch_id)
        assert list(zip(stored["data_row_id"], stored["status"], strict=True)) == rows
        assert stored["image"].isna().all()
    assert ledger.excluded_ids(v1.PROJECT) == {"d001", "d002", "d003", "d004", "d005"}
    # the upgraded ledger keeps enforcing the invariant and takes new batches
    with pytest.raises(BatchConflictError, match=r"d003 \(batch 2\)"):
        submit(ledger, ["d003"], project=v1.PROJECT)
    fresh = submit(ledger, ["d006", "d007"], project=v1.PROJECT, client_token="token-9")
    assert fresh.created and fresh.batch_id > 3  # PostgreSQL sequences may leave gaps
    assert ledger.batch_rows(fresh.batch_id)["data_row_id"].tolist() == ["d006", "d007"]
    assert submit(ledger, ["x"], project=v1.PROJECT, client_token="token-2").created is False
    # the batch cancelled before actions were recorded can be reopened once its rows are free:
    # d003 is open in batch 2 again, d006 in the fresh batch, so the index refuses it now
    with pytest.raises(ReopenConflictError, match=r"Cannot reopen batch 3: 2 of its row") as err:
        ledger.reopen(3)
    assert err.value.conflicts == {"d003": 2, "d006": fresh.batch_id}
    assert ledger.batch(3).status == "cancelled"


def test_the_shipped_v1_ledger_upgrades_with_its_data(tmp_path: Path) -> None:
    v1 = _fixture_module()
    copy = tmp_path / "ledger_v1.db"
    shutil.copyfile(FIXTURES / "ledger_v1.db", copy)
    with Ledger(f"sqlite:///{copy}") as ledger:
        with ledger.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
                "0005"
            )
        _check_upgraded(ledger, v1)


def test_a_v1_ledger_upgrades_on_each_backend(ledger_url: str) -> None:
    v1 = _fixture_module()
    v1.populate_v1(ledger_url)
    with Ledger(ledger_url) as ledger:
        _check_upgraded(ledger, v1)


def _check_upgraded_v2(ledger: Ledger, v2: ModuleType) -> None:
    assert ledger.projects() == [v2.PROJECT]
    listing = ledger.batches().sort_values("batch_id")
    assert listing["name"].tolist() == [b[0] for b in v2.BATCHES]
    assert listing["status"].tolist() == [b[1] for b in v2.BATCHES]
    assert listing["note"].tolist() == [b[3] for b in v2.BATCHES]
    for batch_id, batch in enumerate(v2.BATCHES, start=1):
        stored = ledger.batch_rows(batch_id)
        assert list(zip(stored["data_row_id"], stored["status"], strict=True)) == [
            (r[0], r[1]) for r in batch[4]
        ]
        images = [None if pd.isna(i) else i for i in stored["image"]]
        assert images == [r[2] for r in batch[4]]
        expected = [pd.NaT if r[3] is None else pd.Timestamp(r[3]) for r in batch[4]]
        assert stored["labeled_at"].tolist() == expected
    assert ledger.actions().empty  # nothing before 0003 is invented
    # the old cancel can be taken back (its freed row is free), to "queued": the status it had
    # before was not recorded
    result = ledger.reopen(3, actor="cy", origin="cli")
    assert (result.kind, result.n_rows, result.status) == ("reopen", 1, "queued")
    assert ledger.batch_rows(3)["status"].tolist() == ["open", "labeled"]
    logged = ledger.actions()
    assert logged[["kind", "actor", "origin", "n_rows"]].values.tolist() == [
        ["reopen", "cy", "cli", 1]
    ]
    assert logged["details"].iloc[0]["reverts"] is None
    # and a new submit is recorded
    submit(ledger, ["d9"], project=v2.PROJECT)
    assert ledger.actions()["kind"].tolist() == ["submit", "reopen"]


def test_the_shipped_v2_ledger_upgrades_with_its_data(tmp_path: Path) -> None:
    v2 = _fixture_module("make_ledger_v2")
    copy = tmp_path / "ledger_v2.db"
    shutil.copyfile(FIXTURES / "ledger_v2.db", copy)
    with Ledger(f"sqlite:///{copy}") as ledger:
        with ledger.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
                "0005"
            )
        _check_upgraded_v2(ledger, v2)


def test_a_v2_ledger_upgrades_on_each_backend(ledger_url: str) -> None:
    v2 = _fixture_module("make_ledger_v2")
    v2.populate_v2(ledger_url)
    with Ledger(ledger_url) as ledger:
        _check_upgraded_v2(ledger, v2)


def test_a_batch_keeps_each_rows_prediction_its_task_classes_and_method(ledger: Ledger) -> None:
    """What an export to a labeling tool and the next round need, stored with the batch."""
    boxes = {"task": "detection", "boxes": [{"x": 1.0, "y": 2.0, "w": 3.0, "h": 4.0,
             "label": "7", "score": 0.42}], "image_width": 28, "image_height": 28}  # fmt: skip
    rows = pd.DataFrame(
        {
            "data_row_id": ["b", "a"],
            "prediction": [json.dumps(boxes), None],  # JSON text or a dict, or nothing
            "rank": [1, 2],
        }
    )
    result = ledger.submit(
        project="p",
        name="n",
        rows=rows,
        created_by="ana",
        strategy="least_confidence",
        run_id=None,
        task="detection",
        classes=("1", "7"),
        method="diverse",
        method_params={"candidates": 10, "seed": 3},
        embedding_source="embedding",
    )
    info = ledger.batch(result.batch_id)
    assert (info.task, info.classes, info.method) == ("detection", ("1", "7"), "diverse")
    assert info.method_params == {"candidates": 10, "seed": 3}
    assert info.embedding_source == "embedding"
    stored = ledger.batch_rows(result.batch_id).set_index("data_row_id")["prediction"]
    assert stored["b"] == boxes and stored["a"] is None
    with pytest.raises(BatchInputError, match="method: expected one of"):
        ledger.submit(project="p", name="n", rows=rows.iloc[:1].assign(data_row_id="c"),
                      created_by="a", strategy="s", run_id=None, method="magic")  # fmt: skip
    with pytest.raises(BatchInputError, match="the prediction of 'c' must be a JSON object"):
        ledger.submit(project="p", name="n", rows=rows.iloc[:1].assign(data_row_id="c",
                      prediction="[1]"), created_by="a", strategy="s", run_id=None)  # fmt: skip
