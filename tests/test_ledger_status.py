"""Status changes recorded as actions, and their undoing (reopen, revert), on both backends."""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from labelnext.errors import LedgerError, ReopenConflictError
from labelnext.ledger import (
    ACTION_COLUMNS,
    ActionResult,
    BatchInputError,
    Ledger,
    actions,
    batch_rows,
)


def submit(ledger: Ledger, ids: list[str], project: str = "cats", **kw: Any) -> int:
    args: dict[str, Any] = {"name": "batch", "created_by": "ana", "strategy": "margin"}
    args.update(kw)
    rows = pd.DataFrame({"data_row_id": ids})
    return ledger.submit(project=project, rows=rows, run_id=None, **args).batch_id


def statuses(ledger: Ledger, batch_id: int) -> dict[str, str]:
    frame = ledger.batch_rows(batch_id)
    return dict(zip(frame["data_row_id"], frame["status"], strict=True))


def n_actions(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(actions)).scalar_one())


def action_id(ledger: Ledger, kind: str, batch_id: int | None = None) -> int:
    frame = ledger.actions(batch_id)
    return int(frame[frame["kind"] == kind]["action_id"].iloc[0])


# -- every write is an action ------------------------------------------------------------------


def test_every_write_is_recorded_newest_first(ledger: Ledger) -> None:
    first = submit(ledger, ["a", "b", "c"])
    ledger.mark_exported(first, actor="bo", origin="app")
    assert ledger.mark_labeled(first, ["b"], actor="cy", origin="cli") == 1
    assert ledger.cancel(first, actor="dee") == 2
    other = submit(ledger, ["z"], project="dogs", created_by="eve", actor="eve-bot")

    log = ledger.actions()
    assert log.columns.tolist() == list(ACTION_COLUMNS)
    assert log[["kind", "batch_id", "project", "actor", "origin", "n_rows"]].values.tolist() == [
        ["submit", other, "dogs", "eve-bot", "library", 1],
        ["cancel", first, "cats", "dee", "library", 2],
        ["mark_labeled", first, "cats", "cy", "cli", 1],
        ["export", first, "cats", "bo", "app", 0],
        ["submit", first, "cats", "ana", "library", 3],  # actor defaults to created_by
    ]
    assert log["at"].is_monotonic_decreasing and str(log["at"].dt.tz) == "UTC"
    assert log["batch_name"].tolist() == ["batch"] * 5
    details = log.set_index("kind")["details"]
    assert details["cancel"] == {
        "data_row_ids": ["a", "c"],
        "n_rows": 2,
        "from_status": "exported",
        "to_status": "cancelled",
    }
    assert details["mark_labeled"] == {
        "data_row_ids": ["b"],
        "n_rows": 1,
        "from_status": "exported",
        "to_status": "exported",
    }
    assert details["export"] == {"from_status": "queued", "to_status": "exported"}
    assert log["revertible"].tolist() == [False, True, True, False, False]
    assert log["reverted_by"].isna().all()
    assert ledger.actions(batch_id=other)["kind"].tolist() == ["submit"]
    assert ledger.actions(project="cats")["batch_id"].tolist() == [first] * 4
    assert ledger.actions(project="nobody").empty


def test_an_actor_is_not_invented(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a"])
    ledger.cancel(batch_id)
    assert ledger.actions()["actor"].tolist() == [None, "ana"]


def test_writes_that_change_nothing_record_nothing(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b"], client_token="tok")
    submit(ledger, ["a", "b"], client_token="tok")  # the double click
    ledger.mark_labeled(batch_id, ["a"])
    assert ledger.mark_labeled(batch_id, ["a"]) == 0
    ledger.cancel(batch_id)
    assert ledger.cancel(batch_id) == 0
    assert ledger.actions()["kind"].tolist() == ["cancel", "mark_labeled", "submit"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"origin": "web"}, r"origin: 'web' is not allowed; expected one of \('app', 'cli', "),
        ({"actor": " "}, r"actor: expected a non-empty str, got ' '"),
        ({"actor": "a" * 201}, r"actor: .* 201 characters; at most 200"),
    ],
)
def test_bad_actor_or_origin_is_refused_before_any_change(
    ledger: Ledger, change: dict[str, str], message: str
) -> None:
    batch_id = submit(ledger, ["a"])
    for call in (ledger.cancel, ledger.mark_labeled, ledger.mark_exported, ledger.reopen):
        with pytest.raises(BatchInputError, match=message):
            call(batch_id, **change)
    with pytest.raises(BatchInputError, match=message):
        ledger.revert(1, **change)
    with pytest.raises(BatchInputError, match=message):
        submit(ledger, ["b"], **change)
    assert ledger.batch(batch_id).status == "queued"
    assert n_actions(ledger) == 1


# -- reopen ------------------------------------------------------------------------------------


def test_reopen_puts_back_the_rows_the_cancel_freed_and_the_status_it_had(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b", "c"])
    ledger.mark_exported(batch_id)
    ledger.mark_labeled(batch_id, ["a"])
    ledger.cancel(batch_id)
    assert ledger.excluded_ids("cats") == {"a"}
    cancel_id = action_id(ledger, "cancel")

    result = ledger.reopen(batch_id, actor="bo", origin="app")
    assert result == ActionResult(result.action_id, "reopen", batch_id, 2, "exported")
    assert ledger.batch(batch_id).status == "exported"
    assert statuses(ledger, batch_id) == {"a": "labeled", "b": "open", "c": "open"}
    assert ledger.excluded_ids("cats") == {"a", "b", "c"}
    log = ledger.actions().set_index("action_id")
    assert log.loc[cancel_id, "reverted_by"] == result.action_id
    assert not log.loc[cancel_id, "revertible"]
    assert log.loc[result.action_id, "details"]["reverts"] == cancel_id
    assert log.loc[result.action_id, "details"]["data_row_ids"] == ["b", "c"]
    # cancelled again, then reverted through the new cancel action: back again
    ledger.cancel(batch_id)
    again = ledger.revert(action_id(ledger, "cancel"))
    assert (again.kind, again.n_rows, again.status) == ("reopen", 2, "exported")


def test_reopen_is_refused_as_a_whole_when_a_row_is_taken(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b", "c"])
    ledger.cancel(batch_id)
    taker = submit(ledger, ["c", "a", "x"], name="taker")
    submit(ledger, ["b"], project="dogs")  # another project does not count
    before = n_actions(ledger)

    with pytest.raises(
        ReopenConflictError,
        match=rf"Cannot reopen batch {batch_id}: 2 of its row\(s\) are now in another open batch "
        rf"of project 'cats': a \(batch {taker}\), c \(batch {taker}\)\. Nothing was changed",
    ) as err:
        ledger.reopen(batch_id)
    assert err.value.conflicts == {"a": taker, "c": taker}
    assert (err.value.project, err.value.batch_id) == ("cats", batch_id)
    assert ledger.batch(batch_id).status == "cancelled"
    assert set(statuses(ledger, batch_id).values()) == {"cancelled"}
    assert n_actions(ledger) == before

    ledger.mark_labeled(taker)  # the taker's rows are no longer open
    assert ledger.reopen(batch_id).n_rows == 3


@pytest.mark.parametrize("status", ["queued", "exported", "labeled"])
def test_only_a_cancelled_batch_is_reopened(ledger: Ledger, status: str) -> None:
    batch_id = submit(ledger, ["a"])
    if status == "exported":
        ledger.mark_exported(batch_id)
    if status == "labeled":
        ledger.mark_labeled(batch_id)
    with pytest.raises(
        LedgerError, match=rf"batch {batch_id} is {status}, not cancelled; only a cancelled"
    ):
        ledger.reopen(batch_id)
    with pytest.raises(LedgerError, match=r"batch_id: there is no batch 999"):
        ledger.reopen(999)


# -- revert ------------------------------------------------------------------------------------


def test_reverting_a_mark_puts_its_rows_back_and_the_status_back(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b"])
    ledger.mark_exported(batch_id)
    ledger.mark_labeled(batch_id)
    assert ledger.batch(batch_id).status == "labeled"
    mark = action_id(ledger, "mark_labeled")

    result = ledger.revert(mark, actor="bo", origin="cli")
    assert result == ActionResult(result.action_id, "unmark", batch_id, 2, "exported")
    rows = ledger.batch_rows(batch_id)
    assert rows["status"].tolist() == ["open", "open"] and rows["labeled_at"].isna().all()
    assert ledger.batch(batch_id).status == "exported"
    log = ledger.actions().set_index("action_id")
    assert log.loc[mark, "reverted_by"] == result.action_id
    assert (log.loc[result.action_id, "actor"], log.loc[result.action_id, "origin"]) == (
        "bo",
        "cli",
    )
    with pytest.raises(
        LedgerError,
        match=rf"action {mark} \(mark_labeled of batch {batch_id}\) was already reverted by "
        rf"action {result.action_id}",
    ):
        ledger.revert(mark)


def test_reverting_a_partial_mark_touches_only_its_rows(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b", "c"])
    ledger.mark_labeled(batch_id, ["a"])
    first = action_id(ledger, "mark_labeled")
    ledger.mark_labeled(batch_id, ["b", "c"])  # the batch is labeled now
    result = ledger.revert(first)
    assert (result.n_rows, result.status) == (1, "queued")
    assert statuses(ledger, batch_id) == {"a": "open", "b": "labeled", "c": "labeled"}


def test_a_mark_whose_rows_are_queued_again_elsewhere_is_not_reverted(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b"])
    ledger.mark_labeled(batch_id)
    relabel = submit(ledger, ["b"], name="relabel on purpose")
    with pytest.raises(
        ReopenConflictError,
        match=rf"Cannot revert action \d+ on batch {batch_id}: 1 of its row\(s\) .* b \(batch "
        rf"{relabel}\)",
    ):
        ledger.revert(action_id(ledger, "mark_labeled"))
    assert statuses(ledger, batch_id) == {"a": "labeled", "b": "labeled"}
    assert ledger.batch(batch_id).status == "labeled"


def test_a_mark_on_a_batch_cancelled_since_needs_the_batch_reopened_first(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a", "b"])
    ledger.mark_labeled(batch_id, ["a"])
    mark = action_id(ledger, "mark_labeled")
    ledger.cancel(batch_id)
    cancel = action_id(ledger, "cancel")
    with pytest.raises(
        LedgerError,
        match=rf"action {mark}: batch {batch_id} was cancelled after it \(action {cancel}\); "
        "reopen the batch first, then revert the mark",
    ):
        ledger.revert(mark)
    ledger.revert(cancel)
    assert ledger.revert(mark).status == "queued"
    assert statuses(ledger, batch_id) == {"a": "open", "b": "open"}


def test_what_cannot_be_reverted_says_what_to_do_instead(ledger: Ledger) -> None:
    batch_id = submit(ledger, ["a"])
    ledger.mark_exported(batch_id)
    ledger.cancel(batch_id)
    reopened = ledger.reopen(batch_id).action_id
    ledger.mark_labeled(batch_id)
    unmarked = ledger.revert(action_id(ledger, "mark_labeled")).action_id
    cases = {
        action_id(ledger, "submit"): r"a submit of batch \d+, which cannot be reverted \(to take "
        r"a batch back, cancel it\)",
        action_id(ledger, "export"): r"an export .*cannot be reverted \(files handed out cannot "
        r"be taken back\)",
        reopened: r"a reopen .* \(to undo it, cancel the batch again\)",
        unmarked: r"an unmark .* \(to undo it, mark the rows labeled again\)",
    }
    before = n_actions(ledger)
    for action, message in cases.items():
        with pytest.raises(LedgerError, match=message):
            ledger.revert(action)
    with pytest.raises(LedgerError, match=r"action_id: there is no action 999"):
        ledger.revert(999)
    assert n_actions(ledger) == before


# -- the database decides -----------------------------------------------------------------------


@pytest.mark.postgres
def test_the_unique_index_decides_a_reopen_racing_a_submit(pg_schema_url: str) -> None:
    """A submit holding row "a" uncommitted makes the reopen wait on the index, not skip a
    check: when the submit commits, the reopen is refused naming the row."""
    ledger = Ledger(pg_schema_url)
    batch_id = submit(ledger, ["a", "b"])
    ledger.cancel(batch_id)
    project_id = ledger.ensure_project("cats")
    other = submit(ledger, ["other"], name="other")

    racer = sa.create_engine(pg_schema_url)
    outcome: dict[str, Any] = {}
    try:
        with racer.connect() as conn:
            transaction = conn.begin()
            conn.execute(
                batch_rows.insert().values(
                    batch_id=other, project_id=project_id, data_row_id="a", rank=2, status="open"
                )
            )

            def reopen() -> None:
                try:
                    outcome["result"] = ledger.reopen(batch_id)
                except Exception as exc:
                    outcome["error"] = exc

            worker = threading.Thread(target=reopen)
            worker.start()
            time.sleep(1.0)
            assert worker.is_alive(), f"the reopen did not wait for the index: {outcome}"
            transaction.commit()
            worker.join(timeout=30)
        assert not worker.is_alive()
        error = outcome.get("error")
        assert isinstance(error, ReopenConflictError), outcome
        assert error.conflicts == {"a": other}
        assert ledger.batch(batch_id).status == "cancelled"
    finally:
        racer.dispose()
        ledger.close()
