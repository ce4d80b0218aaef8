"""Labels in the ledger: importing what the labeling team gave each row, and reading it back.

Why one module of this length: the import's checks, its one transaction and its report share the
row-level state of one import; split, each part would pass that state around.

:func:`import_labels` runs inside the one write transaction :class:`~labelnext.ledger.Ledger`
opens, so an import is stored whole or not at all: the labels (a row labeled before keeps its
earlier labels as history, ``superseded_at``/``superseded_by``), the batch rows marked labeled,
the batches whose every row is now labeled, and one ``import_labels`` action per batch touched
(and one without a batch for rows imported outside every batch). A partial unique index keeps
one current label per row and project, so two imports of the same row at once cannot both win.

:func:`labels_frame` reads the current labels (or the whole history) with each row's image
reference and image size from its batch, which is what a training-set export needs.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from labelnext.errors import FileProblemsError
from labelnext.labels import LabelSet, label_to_json
from labelnext.labels.table import describe_label, label_names, label_problems, shown_classes
from labelnext.ledger import audit
from labelnext.ledger.engine import IN_CHUNK, as_utc, chunks, now
from labelnext.ledger.inputs import text_problem
from labelnext.ledger.queries import locked_batch
from labelnext.ledger.schema import (
    batch_rows,
    batches,
    labels,
    projects,
)
from labelnext.ledger.status import label_batch_if_done, move_rows

__all__ = [
    "LABEL_FRAME_COLUMNS",
    "LabelImportResult",
    "import_labels",
    "labeled_batches",
    "labels_frame",
    "project_labeling",
]

#: The columns of :meth:`labelnext.ledger.Ledger.labels`.
LABEL_FRAME_COLUMNS = (
    "label_id",
    "data_row_id",
    "label",
    "task",
    "labeled_by",
    "labeled_at",
    "batch_id",
    "batch_name",
    "image",
    "image_width",
    "image_height",
    "source",
    "source_row",
    "source_format",
    "imported_at",
    "imported_by",
    "superseded_at",
    "superseded_by",
)

_ROW_PREFERENCE = {"open": 0, "labeled": 1, "cancelled": 2}
_FEW_IDS = 2_000  # more ids than this are matched in one pass over the project's rows
_SHOWN = 20


@dataclass(frozen=True)
class LabelImportResult:
    """The outcome of :meth:`labelnext.ledger.Ledger.import_labels` (or its dry run).

    Attributes
    ----------
    project : str
    source : str
        The file, as messages name it.
    format : str
        The labels file's format (``labelbox``, ``labelstudio``, ``coco``, ``csv``, ``parquet``).
    task : str
    n_labels : int
        Labeled rows in the file.
    n_new : int
        Rows that had no label in the project before.
    n_relabeled : int
        Rows whose label changed (the earlier label is kept as history).
    n_unchanged : int
        Rows whose current label is the same already (nothing stored for them).
    n_marked : int
        Batch rows newly marked labeled.
    unbatched : tuple of str
        Rows in no batch of the project (imported only with ``allow_unbatched=True``).
    in_cancelled : tuple of str
        Rows whose only batch of the project was cancelled: their label is kept, no status
        changes.
    batches : dict of int to tuple of (str, str)
        Each batch the import touches: its status before and after.
    action_ids : tuple of int
        The ``import_labels`` actions recorded (empty for a dry run or when nothing changed).
    notes : tuple of str
        What the reader left out, and the above in words.
    dry_run : bool
        True when nothing was stored (a preview).
    """

    project: str
    source: str
    format: str
    task: str
    n_labels: int
    n_new: int
    n_relabeled: int
    n_unchanged: int
    n_marked: int
    unbatched: tuple[str, ...] = ()
    in_cancelled: tuple[str, ...] = ()
    batches: dict[int, tuple[str, str]] = field(default_factory=dict)
    action_ids: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def labeled_batches(self) -> tuple[int, ...]:
        """Batches this import made ``labeled`` (every row labeled)."""
        return tuple(b for b, (old, new) in self.batches.items() if new == "labeled" != old)

    def summary(self) -> list[str]:
        """The report in lines of plain text (what the CLI prints and the app shows)."""
        verb = "would import" if self.dry_run else "imported"
        lines = [
            f"{self.source} ({self.format}, {self.task}): {verb} {self.n_labels} label(s) into "
            f"project {self.project!r}: {self.n_new} new, {self.n_relabeled} relabeled "
            f"(earlier labels kept as history), {self.n_unchanged} unchanged",
            f"{self.n_marked} batch row(s) marked labeled",
        ]
        for batch_id, (old, new) in sorted(self.batches.items()):
            change = f"{old} -> {new}" if old != new else f"stays {new}"
            lines.append(f"batch {batch_id}: {change}")
        lines.extend(self.notes)
        return lines


def project_labeling(conn: Connection, project_id: int) -> tuple[tuple[str, ...], set[str]]:
    """The classes (in the order the project's batches list them) and tasks of a project."""
    found = conn.execute(
        sa.select(batches.c.classes, batches.c.task)
        .where(batches.c.project_id == project_id)
        .order_by(batches.c.id)
    ).all()
    classes: dict[str, None] = {}
    for text, _task in found:
        classes.update(dict.fromkeys(json.loads(text)))
    return tuple(classes), {str(task) for _text, task in found}


def check_label_classes(labels_set: LabelSet, classes: Sequence[str]) -> None:
    """Refuse labels whose classes the project's batches do not have (naming file and row)."""
    known = set(classes)
    problems = label_problems(labels_set.source)
    frame = labels_set.frame
    for data_row_id, label, row in zip(
        frame["data_row_id"], frame["label"], frame["source_row"], strict=True
    ):
        for name in dict.fromkeys(label_names(label)):
            if name not in known:
                problems.add(
                    int(row),
                    "label",
                    f"unknown class {name!r} for data row '{data_row_id}'; the project's "
                    f"classes are {shown_classes(classes)}",
                )
    problems.raise_if_any()


def check_label_text(labels_set: LabelSet) -> None:
    """Refuse ids and names the ledger cannot store the same way on both backends."""
    problems = label_problems(labels_set.source)
    frame = labels_set.frame
    limits = {"data_row_id": 500, "labeled_by": 200}
    for column, limit in limits.items():
        for value, row in zip(frame[column], frame["source_row"], strict=True):
            if value is None:
                continue
            problem = text_problem(str(value), limit)
            if problem is not None:
                problems.add(int(row), column, f"{column} is refused: {problem}")
    problems.raise_if_any()


def _batch_rows_of(conn: Connection, project_id: int, ids: list[str]) -> dict[str, tuple[int, str]]:
    """For each id, the batch row a label belongs to: its open row, else its newest labeled
    row, else its newest cancelled row (``(batch_id, status)``)."""
    chosen: dict[str, tuple[int, str]] = {}
    query = sa.select(batch_rows.c.data_row_id, batch_rows.c.batch_id, batch_rows.c.status).where(
        batch_rows.c.project_id == project_id
    )
    for found in _by_ids(conn, query, batch_rows.c.data_row_id, ids):
        data_row_id, batch_id, status = found
        candidate = (int(batch_id), str(status))
        previous = chosen.get(data_row_id)
        if previous is None or (_ROW_PREFERENCE[status], -candidate[0]) < (
            _ROW_PREFERENCE[previous[1]],
            -previous[0],
        ):
            chosen[data_row_id] = candidate
    return chosen


def _current_labels(
    conn: Connection, project_id: int, ids: list[str]
) -> dict[str, tuple[int, str, str]]:
    """``{data_row_id: (label_id, task, label json)}`` of the rows' current labels."""
    current: dict[str, tuple[int, str, str]] = {}
    query = sa.select(labels.c.data_row_id, labels.c.id, labels.c.task, labels.c.label).where(
        labels.c.project_id == project_id, labels.c.superseded_at.is_(None)
    )
    for data_row_id, label_id, task, text in _by_ids(conn, query, labels.c.data_row_id, ids):
        current[data_row_id] = (int(label_id), str(task), str(text))
    return current


def _by_ids(
    conn: Connection, query: sa.Select[Any], column: sa.ColumnElement[str], ids: list[str]
) -> Iterator[Any]:
    """The rows of ``query`` whose ``column`` is one of ``ids``: by IN lists for a few ids, else
    one pass over the project's rows filtered here. (After a few executions psycopg prepares
    the IN query, and PostgreSQL's generic plan for 500 parameters took a second per chunk:
    a 10,000-row relabel took 95 s.)"""
    if len(ids) <= _FEW_IDS:
        for chunk in chunks(ids):
            yield from conn.execute(query.where(column.in_(chunk)))
        return
    wanted = set(ids)
    for row in conn.execute(query):
        if row[0] in wanted:
            yield row


def _shown(ids: Collection[str]) -> str:
    listed = sorted(ids)
    return ", ".join(f"'{i}'" for i in listed[:_SHOWN]) + (" ..." if len(listed) > _SHOWN else "")


def _refuse_unbatched(labels_set: LabelSet, project: str, unbatched: set[str]) -> FileProblemsError:
    problems = label_problems(labels_set.source)
    frame = labels_set.frame
    for data_row_id, row in zip(frame["data_row_id"], frame["source_row"], strict=True):
        if data_row_id in unbatched:
            problems.add(
                int(row),
                "data_row_id",
                f"data row '{data_row_id}' is in no batch of project {project!r}; import it "
                "anyway with allow_unbatched=True (labelnext labels import --allow-unbatched)",
            )
    return problems.fail(None, None, f"{len(unbatched)} row(s) are in no batch of the project")


def import_labels(
    conn: Connection,
    *,
    project_id: int,
    project: str,
    labels_set: LabelSet,
    allow_unbatched: bool,
    actor: str | None,
    origin: str,
    dry_run: bool,
) -> LabelImportResult:
    """See :meth:`labelnext.ledger.Ledger.import_labels` (inside its write transaction)."""
    frame = labels_set.frame
    task = labels_set.task
    ids = [str(i) for i in frame["data_row_id"]]
    texts = [label_to_json(label, task) for label in frame["label"]]
    placed = _batch_rows_of(conn, project_id, ids)
    unbatched = {i for i in ids if i not in placed}
    if unbatched and not allow_unbatched:
        raise _refuse_unbatched(labels_set, project, unbatched)
    current = _current_labels(conn, project_id, ids)
    new_rows: list[int] = []
    relabeled: list[int] = []
    unchanged: list[int] = []
    for position, (data_row_id, text) in enumerate(zip(ids, texts, strict=True)):
        before = current.get(data_row_id)
        if before is None:
            new_rows.append(position)
        elif before[1:] == (task, text):
            unchanged.append(position)
        else:
            relabeled.append(position)
    stored = sorted(new_rows + relabeled)
    # batches touched, locked in id order (two imports at once take turns, never deadlock)
    touched = sorted({placed[ids[p]][0] for p in stored if ids[p] in placed})
    statuses = {b: locked_batch(conn, b)[0] for b in touched}
    to_mark: dict[int, list[str]] = {}
    for p in stored:
        where = placed.get(ids[p])
        if where is not None and where[1] == "open":
            to_mark.setdefault(where[0], []).append(ids[p])
    in_cancelled = tuple(sorted(i for i in ids if placed.get(i, (0, ""))[1] == "cancelled"))
    at = now()
    marked: dict[int, list[str]] = {}
    after: dict[int, str] = dict(statuses)
    for batch_id in touched:
        rows = sorted(to_mark.get(batch_id, []))
        changed = move_rows(
            conn, project_id, batch_id, rows, before="open", after="labeled", labeled_at=at
        )
        marked[batch_id] = sorted(changed)
        after[batch_id] = label_batch_if_done(conn, batch_id, statuses[batch_id])
    # the actions: one per batch touched, one without a batch for rows outside every batch
    by_batch: dict[int | None, list[int]] = {}
    for p in stored:
        where = placed.get(ids[p])
        by_batch.setdefault(None if where is None else where[0], []).append(p)
    relabeled_set = set(relabeled)
    action_of: dict[int | None, int] = {}
    for owner, positions in sorted(by_batch.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        details: dict[str, Any] = {
            "n_rows": len(marked.get(owner, [])) if owner is not None else 0,
            "data_row_ids": marked.get(owner, []) if owner is not None else [],
            "labeled_ids": sorted(ids[p] for p in positions),
            "n_labels": len(positions),
            "n_relabeled": sum(1 for p in positions if p in relabeled_set),
            "source": labels_set.source,
            "format": labels_set.format,
            "task": task,
        }
        if owner is not None:
            details["from_status"] = statuses[owner]
            details["to_status"] = after[owner]
        action_of[owner] = audit.record(
            conn,
            batch_id=owner,
            project_id=project_id,
            kind="import_labels",
            actor=actor,
            origin=origin,
            details=details,
        )
    # history first (the unique index allows one current label per row), then the new labels
    old_ids = [current[ids[p]][0] for p in relabeled]
    for start in range(0, len(old_ids), IN_CHUNK):
        id_chunk = old_ids[start : start + IN_CHUNK]
        conn.execute(labels.update().where(labels.c.id.in_(id_chunk)).values(superseded_at=at))
    # plain lists: a pandas lookup per cell costs more than the whole insert
    labeled_by = frame["labeled_by"].tolist()
    labeled_at = frame["labeled_at"].tolist()
    source_rows = [int(r) for r in frame["source_row"]]
    records = []
    for p in stored:
        where = placed.get(ids[p])
        owner = None if where is None else where[0]
        records.append(
            {
                "project_id": project_id,
                "data_row_id": ids[p],
                "batch_id": owner,
                "task": task,
                "label": texts[p],
                "labeled_by": labeled_by[p],
                "labeled_at": labeled_at[p],
                "source": labels_set.source,
                "source_row": source_rows[p],
                "source_format": labels_set.format,
                "imported_at": at,
                "imported_by": actor,
                "origin": origin,
                "action_id": action_of[owner],
                "superseded_at": None,
                "superseded_by": None,
            }
        )
    if records:
        conn.execute(labels.insert(), records)
    if relabeled:
        successor = _current_labels(conn, project_id, [ids[p] for p in relabeled])
        conn.execute(
            labels.update()
            .where(labels.c.id == sa.bindparam("old_id"))
            .values(superseded_by=sa.bindparam("new_id")),
            [{"old_id": current[ids[p]][0], "new_id": successor[ids[p]][0]} for p in relabeled],
        )
    notes = list(labels_set.notes)
    if unbatched:
        notes.append(
            f"{len(unbatched)} row(s) are in no batch of the project (imported as asked): "
            f"{_shown(unbatched)}"
        )
    if in_cancelled:
        notes.append(
            f"{len(in_cancelled)} row(s) are only in cancelled batches: their labels are kept, "
            f"their status is not changed: {_shown(in_cancelled)}"
        )
    if relabeled:
        examples = [f"'{ids[p]}' {describe_label(frame['label'].iloc[p])}" for p in relabeled[:5]]
        notes.append(
            f"{len(relabeled)} row(s) had another label before (kept as history), now: "
            + ", ".join(examples)
            + (" ..." if len(relabeled) > 5 else "")
        )
    return LabelImportResult(
        project=project,
        source=labels_set.source,
        format=labels_set.format,
        task=task,
        n_labels=len(ids),
        n_new=len(new_rows),
        n_relabeled=len(relabeled),
        n_unchanged=len(unchanged),
        n_marked=sum(len(v) for v in marked.values()),
        unbatched=tuple(sorted(unbatched)),
        in_cancelled=in_cancelled,
        batches={b: (statuses[b], after[b]) for b in touched},
        action_ids=() if dry_run else tuple(action_of.values()),
        notes=tuple(notes),
        dry_run=dry_run,
    )


def labels_frame(
    conn: Connection, project: str, *, history: bool = False, task: str | None = None
) -> pd.DataFrame:
    """See :meth:`labelnext.ledger.Ledger.labels`."""
    from labelnext.labels import label_from_json

    # by the (project_id, data_row_id) index: SQLite, keeping no statistics, picks the batch
    # index and scans the whole batch once per label (6 s for 2,000 labels); an expression is
    # no index key (as in labelnext.ledger.status)
    row_of_batch = sa.and_(
        batch_rows.c.project_id == labels.c.project_id,
        batch_rows.c.data_row_id == labels.c.data_row_id,
        batch_rows.c.batch_id + 0 == labels.c.batch_id,
    )
    query = (
        sa.select(
            labels.c.id.label("label_id"),
            labels.c.data_row_id,
            labels.c.label,
            labels.c.task,
            labels.c.labeled_by,
            labels.c.labeled_at,
            labels.c.batch_id,
            batches.c.name.label("batch_name"),
            batch_rows.c.image,
            batch_rows.c.prediction,
            labels.c.source,
            labels.c.source_row,
            labels.c.source_format,
            labels.c.imported_at,
            labels.c.imported_by,
            labels.c.superseded_at,
            labels.c.superseded_by,
        )
        .join(projects, projects.c.id == labels.c.project_id)
        .outerjoin(batches, batches.c.id == labels.c.batch_id)
        .outerjoin(batch_rows, row_of_batch)
        .where(projects.c.name == project)
        .order_by(labels.c.data_row_id, labels.c.id)
    )
    if not history:
        query = query.where(labels.c.superseded_at.is_(None))
    if task is not None:
        query = query.where(labels.c.task == task)
    found = conn.execute(query).mappings().all()
    frame = pd.DataFrame(found, columns=list(query.selected_columns.keys()))
    frame["label"] = pd.Series(
        [label_from_json(t, k) for t, k in zip(frame["label"], frame["task"], strict=True)],
        dtype=object,
    )
    records = [json.loads(p) if isinstance(p, str) else None for p in frame["prediction"]]
    frame["image_width"] = pd.Series(
        [_size(r, "image_width") for r in records], dtype="Int64", index=frame.index
    )
    frame["image_height"] = pd.Series(
        [_size(r, "image_height") for r in records], dtype="Int64", index=frame.index
    )
    for column in ("labeled_at", "imported_at", "superseded_at"):
        frame[column] = pd.to_datetime(frame[column].map(as_utc), utc=True)
    for column in ("batch_id", "superseded_by", "source_row"):
        frame[column] = frame[column].astype("Int64")
    frame["label_id"] = frame["label_id"].astype("int64")
    return frame[list(LABEL_FRAME_COLUMNS)].reset_index(drop=True)


def labeled_batches(conn: Connection, project: str) -> dict[str, list[str]]:
    """See :meth:`labelnext.ledger.Ledger.labeled_batches`."""
    has_labels = (
        sa.select(batch_rows.c.batch_id)
        .where(batch_rows.c.status == "labeled")
        .distinct()
        .scalar_subquery()
    )
    query = (
        sa.select(batches.c.id, batches.c.name, batch_rows.c.data_row_id)
        .join(projects, projects.c.id == batches.c.project_id)
        .join(batch_rows, batch_rows.c.batch_id == batches.c.id)
        .where(projects.c.name == project, batches.c.id.in_(has_labels))
        .order_by(batches.c.id, batch_rows.c.rank, batch_rows.c.data_row_id)
    )
    found: dict[str, list[str]] = {}
    for batch_id, name, data_row_id in conn.execute(query):
        found.setdefault(f"batch {batch_id}: {name}", []).append(str(data_row_id))
    return found


def _size(record: Mapping[str, Any] | None, key: str) -> int | None:
    if not record:
        return None
    value = record.get(key)
    return int(value) if isinstance(value, int | float) and value > 0 else None
