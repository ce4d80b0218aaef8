"""One set of text limits, checked before writing, the same on SQLite and PostgreSQL.

Without the checks, SQLite stored long and NUL-holding text that PostgreSQL refused with a raw
traceback (one bad id sank the whole batch). The corpus below is refused by both backends with the
same message, naming the field (and, for rows, the position and a shortened id), and nothing is
stored; values exactly at the limits are stored unchanged by both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from labelnext.ledger import (
    TEXT_LIMITS,
    BatchInputError,
    Ledger,
    actions,
    batch_rows,
    batches,
    model_runs,
    projects,
)
from labelnext.ledger.inputs import shorten

LONG_ID = "x" * 501
NUL = "\x00"


def _rows(**columns: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({"data_row_id": ["ok-1", "ok-2", "ok-3"]})
    for name, values in columns.items():
        frame[name] = pd.Series(values, dtype=object)  # str columns refuse lone surrogates
    return frame


def _submit(ledger: Ledger, rows: pd.DataFrame | None = None, **change: Any) -> None:
    args: dict[str, Any] = {
        "project": "cats",
        "name": "batch",
        "created_by": "ana",
        "strategy": "margin",
        "run_id": None,
        "rows": _rows() if rows is None else rows,
    }
    args.update(change)
    ledger.submit(**args)


@dataclass(frozen=True)
class FakeRun:
    name: str = "run"
    model: str | None = "m"
    version: str | None = "1"
    source: str = "runs/a.parquet"
    content_hash: str = "ab" * 32
    n_rows: int = 3


# (case id, what to call, the message it must raise)
CORPUS: list[tuple[str, Any, str]] = [
    (
        "501-char id",
        lambda led: _submit(led, _rows(data_row_id=["ok", LONG_ID, "ok2"])),
        r"rows: 1 value\(s\) break the ledger's text limits \(at most 500 characters for a "
        r"data_row_id.*nothing was stored: position 1: data_row_id 'x{32}'\.\.\. "
        r"\(501 characters; at most 500\)$",
    ),
    (
        "id with NUL",
        lambda led: _submit(led, _rows(data_row_id=["a\x00b", "ok", "ok2"])),
        r"position 0: data_row_id 'a\\x00b' \(contains a NUL character at index 1\)$",
    ),
    (
        "id with a lone surrogate",
        lambda led: _submit(led, _rows(data_row_id=["ok", "ok2", "bad\udcff"])),
        r"position 2: data_row_id 'bad\\udcff' \(not valid UTF-8 text \(a lone surrogate at "
        r"index 3\)\)$",
    ),
    (
        "many bad ids",
        lambda led: _submit(led, pd.DataFrame({"data_row_id": [f"{i}{NUL}" for i in range(25)]})),
        r"rows: 25 value\(s\) break .*position 19: data_row_id '19\\x00' .*; and 5 more$",
    ),
    (
        "201-char project",
        lambda led: _submit(led, project="p" * 201),
        r"project: 'p{32}'\.\.\. is refused: 201 characters; at most 200$",
    ),
    (
        "project with NUL",
        lambda led: _submit(led, project="cats\x00"),
        r"project: 'cats\\x00' is refused: contains a NUL character at index 4$",
    ),
    (
        "501-char batch name",
        lambda led: _submit(led, name="n" * 501),
        r"name: 'n{32}'\.\.\. is refused: 501 characters; at most 500$",
    ),
    (
        "user with NUL",
        lambda led: _submit(led, created_by="ana\x00"),
        r"created_by: 'ana\\x00' is refused: contains a NUL character",
    ),
    (
        "201-char user",
        lambda led: _submit(led, created_by="u" * 201),
        r"created_by: 'u{32}'\.\.\. is refused: 201 characters; at most 200$",
    ),
    (
        "101-char strategy",
        lambda led: _submit(led, strategy="s" * 101),
        r"strategy: .* 101 characters; at most 100$",
    ),
    (
        "note with NUL",
        lambda led: _submit(led, note="see\x00here"),
        r"note: 'see\\x00here' is refused: contains a NUL character at index 3$",
    ),
    (
        "10001-char note",
        lambda led: _submit(led, note="n" * 10_001),
        r"note: .* 10001 characters; at most 10000$",
    ),
    (
        "client token with NUL",
        lambda led: _submit(led, client_token="tok\x00"),
        r"client_token: 'tok\\x00' is refused: contains a NUL",
    ),
    (
        "201-char client token",
        lambda led: _submit(led, client_token="t" * 201),
        r"client_token: .* 201 characters; at most 200$",
    ),
    (
        "predicted label with NUL",
        lambda led: _submit(led, _rows(predicted_label=["cat", "d\x00g", None])),
        r"rows: 1 value\(s\) .*position 1 \(data_row_id 'ok-2'\): predicted_label 'd\\x00g' "
        r"\(contains a NUL character at index 1\)$",
    ),
    (
        "501-char predicted label",
        lambda led: _submit(led, _rows(predicted_label=["cat", "dog", "c" * 501])),
        r"position 2 \(data_row_id 'ok-3'\): predicted_label 'c{32}'\.\.\. \(501 characters; "
        r"at most 500\)$",
    ),
    (
        "image with NUL",
        lambda led: _submit(led, _rows(image=["a.png", "b.png\x00.jpg", "c.png"])),
        r"position 1 \(data_row_id 'ok-2'\): image 'b\.png\\x00\.jpg' \(contains a NUL",
    ),
    (
        "4097-char image",
        lambda led: _submit(led, _rows(image=["i" * 4097, "b.png", "c.png"])),
        r"position 0 \(data_row_id 'ok-1'\): image .* \(4097 characters; at most 4096\)$",
    ),
    (
        "actor with NUL",
        lambda led: _submit(led, actor="bo\x00"),
        r"actor: 'bo\\x00' is refused: contains a NUL character",
    ),
    (
        "project with NUL, ensure_project",
        lambda led: led.ensure_project("a\x00"),
        r"project: 'a\\x00' is refused",
    ),
    (
        "run name with NUL",
        lambda led: led.register_run(FakeRun(name="run\x00")),
        r"run\.name: 'run\\x00' is refused: contains a NUL character",
    ),
    (
        "run version too long",
        lambda led: led.register_run(FakeRun(version="v" * 201)),
        r"run\.version: .* 201 characters; at most 200$",
    ),
    (
        "project with NUL, excluded_ids",
        lambda led: led.excluded_ids("cats\x00"),
        r"project: 'cats\\x00' is refused",
    ),
    (
        "project with NUL, batches",
        lambda led: led.batches("cats\x00"),
        r"project: 'cats\\x00' is refused",
    ),
    (
        "project with NUL, actions",
        lambda led: led.actions(project="\x00"),
        r"project: '\\x00' is refused",
    ),
]


def _stored(ledger: Ledger) -> tuple[int, ...]:
    with ledger.engine.connect() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (projects, model_runs, batches, batch_rows, actions)
        )


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_text_the_ledger_cannot_store_is_refused_before_writing(
    ledger: Ledger, call: Any, message: str
) -> None:
    with pytest.raises(BatchInputError, match=message):
        call(ledger)
    assert _stored(ledger) == (0, 0, 0, 0, 0)


def test_a_bad_row_refuses_the_whole_batch_and_keeps_what_was_stored(ledger: Ledger) -> None:
    _submit(ledger, pd.DataFrame({"data_row_id": ["kept"]}))
    before = _stored(ledger)
    with pytest.raises(BatchInputError, match=r"position 1: data_row_id"):
        _submit(ledger, pd.DataFrame({"data_row_id": ["fine", LONG_ID]}), name="second")
    assert _stored(ledger) == before
    assert ledger.excluded_ids("cats") == {"kept"}


def test_marking_rows_with_an_id_no_ledger_could_hold_is_refused(ledger: Ledger) -> None:
    _submit(ledger)
    batch_id = int(ledger.batches()["batch_id"].iloc[0])
    with pytest.raises(BatchInputError, match=r"rows: 1 value\(s\) .*position 1: data_row_id 'b"):
        ledger.mark_labeled(batch_id, ["ok-1", "b\x00"])
    assert ledger.batch_rows(batch_id)["status"].tolist() == ["open"] * 3


@pytest.fixture
def both_backends(tmp_path: Path, pg_schema_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as lite, Ledger(pg_schema_url) as pg:
        yield lite, pg


@pytest.mark.postgres
def test_both_backends_refuse_the_corpus_with_the_same_words(
    both_backends: tuple[Ledger, Ledger],
) -> None:
    lite, pg = both_backends
    for case, call, _ in CORPUS:
        words = []
        for ledger in (lite, pg):
            with pytest.raises(BatchInputError) as err:
                call(ledger)
            words.append(str(err.value))
        assert words[0] == words[1], case


def test_the_limits_are_the_columns_lengths() -> None:
    columns = {
        "data_row_id": batch_rows.c.data_row_id,
        "project": projects.c.name,
        "name": batches.c.name,
        "created_by": batches.c.created_by,
        "actor": actions.c.actor,
        "strategy": batches.c.strategy,
        "client_token": batches.c.client_token,
        "predicted_label": batch_rows.c.predicted_label,
        "run.name": model_runs.c.name,
        "run.model": model_runs.c.model,
        "run.version": model_runs.c.version,
        "run.content_hash": model_runs.c.content_hash,
    }
    for field, column in columns.items():
        assert TEXT_LIMITS[field] == column.type.length, field  # type: ignore[attr-defined]
    # the free-text columns have bounds of their own
    assert (TEXT_LIMITS["note"], TEXT_LIMITS["image"], TEXT_LIMITS["run.source"]) == (
        10_000,
        4096,
        4096,
    )
    # a data_row_id in the unique index stays under PostgreSQL's b-tree entry cap (2704 bytes)
    # even if every character takes 4 bytes in UTF-8
    assert TEXT_LIMITS["data_row_id"] * 4 < 2704


def test_values_at_the_limits_are_stored_exactly(ledger: Ledger) -> None:
    """The limits are the columns' own: PostgreSQL takes every value at them."""
    top = "\U0001f600" * TEXT_LIMITS["data_row_id"]  # 4-byte characters, 2000 bytes
    rows = pd.DataFrame(
        {
            "data_row_id": [top, "i" * 500],
            "predicted_label": ["l" * 500, "ok"],
            "image": ["m" * 4096, None],
        }
    )
    params = {"note\x00key": "value with \x00 inside", "k": 3}
    result = ledger.submit(
        project="p" * 200,
        name="n" * 500,
        rows=rows,
        note="é" * 10_000,
        created_by="u" * 200,
        strategy="s" * 100,
        strategy_params=params,
        run_id=None,
        client_token="t" * 200,
        actor="a" * 200,
    )
    info = ledger.batch(result.batch_id)
    assert (info.project, info.name, info.created_by) == ("p" * 200, "n" * 500, "u" * 200)
    assert info.note == "é" * 10_000 and info.client_token == "t" * 200
    # JSON writes NUL as an escape, so parameters holding one round-trip on both backends
    assert info.strategy_params == params
    with ledger.engine.connect() as conn:
        raw = conn.execute(sa.select(batches.c.strategy_params)).scalar_one()
    assert "\x00" not in raw
    stored = ledger.batch_rows(result.batch_id)
    assert stored["data_row_id"].tolist() == [top, "i" * 500]
    assert stored["image"].tolist()[0] == "m" * 4096
    assert ledger.actions()["actor"].tolist() == ["a" * 200]


def test_shorten_cuts_long_text_and_keeps_short_text() -> None:
    assert shorten("abc") == "'abc'"
    assert shorten("a" * 40, width=4) == "'aaaa'..."
    assert shorten("a\x00") == "'a\\x00'"
