"""The canonical label table that every reader produces, and the checks that every reader shares.

A reader turns its file into :class:`Entry` values (one per label found, with where it was
found) and hands them to :func:`finish`, which checks ids, classes, duplicates and conflicts in
one place, so that every format reports them in the same words, and builds the
:class:`LabelSet`. Problems are collected (up to :data:`MAX_PROBLEMS`) and raised together as
:class:`~labelnext.errors.LabelFileError`: a bad file is never half read.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeGuard

import pandas as pd

from labelnext.errors import LabelFileError, ProblemLog
from labelnext.runs import TASKS

__all__ = [
    "LABEL_COLUMNS",
    "MAX_PROBLEMS",
    "Box",
    "Label",
    "LabelSet",
    "label_from_json",
    "label_to_json",
]

LABEL_COLUMNS = ("data_row_id", "label", "labeled_by", "labeled_at", "source", "source_row")
MAX_PROBLEMS = 50
_SHOWN_CLASSES = 12

Box = dict[str, Any]
"""One labeled box: ``{"x", "y", "w", "h"}`` in pixels (top-left corner and size) and ``label``."""
Label = str | tuple[str, ...] | list[Box]
"""A row's label: a class name (classification), a tuple of class names (multi-label) or a list
of boxes (detection)."""

Source = str | os.PathLike[str] | bytes | IO[bytes]


@dataclass(frozen=True, eq=False)
class LabelSet:
    """Labels read from one file, in canonical form.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per labeled data row, in file order, columns :data:`LABEL_COLUMNS`:

        ``data_row_id`` (str), ``label`` (str for classification; tuple of str for multi-label,
        in ``classes`` order when classes were given, else sorted; list of ``{x, y, w, h,
        label}`` dicts in pixels for detection, sorted by x, y, w, h, label), ``labeled_by``
        (str or None), ``labeled_at`` (timezone-aware UTC ``datetime`` or None; a time without
        an offset is taken as UTC), ``source`` (the file as messages name it) and
        ``source_row`` (int, the 1-based position problems would name: CSV/Parquet data row,
        header not counted; NDJSON line; Label Studio task; COCO image).
    task : {"classification", "multilabel", "detection"}
    format : {"csv", "parquet", "labelbox", "labelstudio", "coco"}
    source : str
    classes : tuple of str
        Classes the labels use: ``classes`` as given to the reader, else the names found, sorted.
    notes : tuple of str
        What was read but left out, and why (unlabeled tasks, skipped labels...).
    """

    frame: pd.DataFrame
    task: str
    format: str
    source: str
    classes: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.frame)

    def mapping(self) -> dict[str, Label]:
        """``{data_row_id: label}``, the form :func:`labelnext.compare.compare_runs` takes."""
        return dict(zip(self.frame["data_row_id"], self.frame["label"], strict=True))


def label_problems(file: str, limit: int = MAX_PROBLEMS) -> ProblemLog:
    """The problem log of a labels file: raises :class:`~labelnext.errors.LabelFileError`."""
    return ProblemLog(file, limit, error=LabelFileError, by_row=True)


@dataclass
class Entry:
    """One label found in a file, before the shared checks."""

    data_row_id: str
    label: Label
    labeled_by: str | None
    labeled_at: datetime | None
    row: int
    where: str
    """How a message names the place, e.g. ``line 3`` or ``task 2, annotation 1``."""
    field: str = "label"
    """The field a problem with the label names."""


@dataclass
class Reading:
    """What a reader hands to :func:`finish`."""

    entries: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Sources


def read_source(source: Source, filename: str | None) -> tuple[bytes, str]:
    """(bytes, how messages name the file) of a path, bytes or binary file object.

    Raises
    ------
    LabelFileError
        If the file cannot be read.
    TypeError
        If ``source`` is none of the accepted types.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), filename or "<upload>"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        label = filename or str(path)
        try:
            return path.read_bytes(), label
        except FileNotFoundError:
            raise label_problems(label).fail(None, None, "file not found") from None
        except IsADirectoryError:
            raise label_problems(label).fail(None, None, "is a folder, expected a file") from None
        except OSError as exc:
            raise label_problems(label).fail(None, None, f"cannot read: {exc.strerror}") from None
    if isinstance(source, io.IOBase) or hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, bytes):
            raise TypeError(
                f"source: a file object must be opened in binary mode, got {type(data).__name__}"
            )
        return data, filename or str(getattr(source, "name", "<upload>"))
    raise TypeError(
        f"source must be a path, bytes or a binary file object, got {type(source).__name__}"
    )


# --------------------------------------------------------------------------------------------
# Values


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (``true``/``false`` are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def text_or_none(value: object) -> str | None:
    """A non-empty string, a number as text, or None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_time(value: object) -> tuple[datetime | None, str | None]:
    """``(time in UTC or None, why it is not a time or None)``.

    Accepts ISO 8601 text (``2024-04-08T16:21:26.000+00:00``, ``...Z``, ``2024-04-08 16:21``),
    ``datetime`` and pandas ``Timestamp`` values; a time without an offset is taken as UTC.
    None, NaN/NaT and blank text are "unknown" (None, no error).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, float) and math.isnan(value):
        return None, None
    if value is pd.NaT:
        return None, None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None, f"not an ISO 8601 time: {value!r} (e.g. 2024-04-08T16:21:26+00:00)"
    else:
        return None, f"must be an ISO 8601 time, got {value!r}"
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC), None
    return moment.astimezone(UTC), None


def make_box(x: float, y: float, w: float, h: float, label: str) -> Box:
    """A canonical box: floats in pixels and the class name."""
    return {"x": float(x), "y": float(y), "w": float(w), "h": float(h), "label": label}


def sort_boxes(boxes: Iterable[Box]) -> list[Box]:
    """Boxes in canonical order (x, y, w, h, label), so equal label sets compare equal."""
    return sorted(boxes, key=lambda b: (b["x"], b["y"], b["w"], b["h"], b["label"]))


def box_problem(values: Sequence[object], names: Sequence[str]) -> str | None:
    """Why four box numbers are not a box (finite numbers, width and height > 0), or None."""
    for value, name in zip(values, names, strict=True):
        if not is_number(value):
            return f"{name} must be a finite number, got {value!r}"
    for value, name in list(zip(values, names, strict=True))[2:]:
        if float(value) <= 0:  # type: ignore[arg-type]
            return f"{name} must be > 0, got {value!r}"
    return None


def multilabel(names: Iterable[str], classes: Sequence[str] | None) -> tuple[str, ...]:
    """A multi-label label: the names in ``classes`` order (unknown names last), else sorted."""
    unique = set(names)
    if classes is None:
        return tuple(sorted(unique))
    position = {name: i for i, name in enumerate(classes)}
    return tuple(sorted(unique, key=lambda n: (position.get(n, len(position)), n)))


def label_names(label: Label) -> list[str]:
    """The class names a label uses."""
    if isinstance(label, str):
        return [label]
    if isinstance(label, tuple):
        return list(label)
    return [str(box["label"]) for box in label]


def describe_label(label: Label) -> str:
    """A label as a message shows it."""
    if isinstance(label, str):
        return repr(label)
    if isinstance(label, tuple):
        return "{" + ", ".join(repr(n) for n in label) + "}"
    shown = ", ".join(
        f"{b['label']!r} at ({b['x']:g}, {b['y']:g}, {b['w']:g}, {b['h']:g})" for b in label[:3]
    )
    more = f" and {len(label) - 3} more" if len(label) > 3 else ""
    return f"{len(label)} box(es)" + (f": {shown}{more}" if label else "")


def shown_classes(classes: Sequence[str]) -> str:
    """A class list for a message, shortened past a dozen names."""
    head = ", ".join(repr(c) for c in classes[:_SHOWN_CLASSES])
    more = f" and {len(classes) - _SHOWN_CLASSES} more" if len(classes) > _SHOWN_CLASSES else ""
    return head + more


def check_class_list(
    declared: Sequence[str], classes: Sequence[str] | None, problems: ProblemLog, field: str
) -> None:
    """Report a class list declared by the file that differs from the run's ``classes``."""
    if classes is None:
        return
    extra = [c for c in declared if c not in set(classes)]
    missing = [c for c in classes if c not in set(declared)]
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"not among the run's classes: {shown_classes(extra)}")
        if missing:
            parts.append(f"missing from the file: {shown_classes(missing)}")
        problems.add(
            None,
            field,
            f"the file's class list differs from the run's ({'; '.join(parts)}); the run's "
            f"classes are {shown_classes(classes)}",
        )


def check_task(task: str | None) -> None:
    """Refuse an unknown ``task`` (a programming error, not a file problem)."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)} or None, got {task!r}")


def check_classes_argument(classes: Sequence[str] | None) -> tuple[str, ...] | None:
    """``classes`` as a tuple of non-empty, distinct names (or None)."""
    if classes is None:
        return None
    if isinstance(classes, str):
        raise TypeError(f"classes must be a sequence of class names, not a string: {classes!r}")
    names = tuple(str(c) for c in classes)
    if not names or any(not n for n in names):
        raise ValueError(f"classes must be non-empty names, got {list(classes)!r}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"classes holds duplicate names: {', '.join(dup)}")
    return names


# --------------------------------------------------------------------------------------------
# The shared checks and the table


def finish(
    reading: Reading,
    problems: ProblemLog,
    *,
    task: str,
    fmt: str,
    classes: Sequence[str] | None,
    known_ids: Collection[str] | None,
) -> LabelSet:
    """Check every entry (ids, classes, duplicates, conflicts) and build the :class:`LabelSet`.

    Entries of the same data row found at the same ``row`` (several annotations of one task or
    line) that agree are merged, keeping the latest; entries at different rows that agree are
    duplicate rows; entries that disagree are a conflict naming both places. Every one of these
    is a problem except the merge.
    """
    known = set(classes) if classes is not None else None
    kept: dict[str, Entry] = {}
    for entry in reading.entries:
        if not _entry_ok(entry, known, classes, known_ids, problems):
            continue
        first = kept.get(entry.data_row_id)
        if first is None:
            kept[entry.data_row_id] = entry
            continue
        if first.label != entry.label:
            problems.add(
                entry.row,
                entry.field,
                f"data row '{entry.data_row_id}' is labeled twice with different labels: "
                f"{first.where} says {describe_label(first.label)}, {entry.where} says "
                f"{describe_label(entry.label)}",
            )
        elif first.row != entry.row:
            problems.add(
                entry.row,
                None,
                f"duplicate row: data row '{entry.data_row_id}' is labeled again with the same "
                f"label (first on {first.where})",
            )
        elif _later(entry, first):
            kept[entry.data_row_id] = entry
    problems.raise_if_any()
    if not kept:
        why = "; ".join(reading.notes) if reading.notes else "no labeled rows found"
        raise problems.fail(None, None, f"the file holds no labels ({why})")
    entries = list(kept.values())
    if classes is not None:
        used: tuple[str, ...] = tuple(classes)
    else:
        used = tuple(sorted({n for e in entries for n in label_names(e.label)}))
    frame = pd.DataFrame(
        {
            "data_row_id": pd.Series([e.data_row_id for e in entries], dtype=object),
            "label": pd.Series([e.label for e in entries], dtype=object),
            "labeled_by": pd.Series([e.labeled_by for e in entries], dtype=object),
            "labeled_at": pd.Series([e.labeled_at for e in entries], dtype=object),
            "source": pd.Series([problems.file] * len(entries), dtype=object),
            "source_row": pd.Series([e.row for e in entries], dtype="int64"),
        }
    )
    return LabelSet(
        frame=frame,
        task=task,
        format=fmt,
        source=problems.file,
        classes=used,
        notes=tuple(reading.notes),
    )


def _entry_ok(
    entry: Entry,
    known: set[str] | None,
    classes: Sequence[str] | None,
    known_ids: Collection[str] | None,
    problems: ProblemLog,
) -> bool:
    ok = True
    if known_ids is not None and entry.data_row_id not in known_ids:
        problems.add(
            entry.row,
            "data_row_id",
            f"unknown data row '{entry.data_row_id}': not among the rows labels may be "
            "imported for",
        )
        ok = False
    if known is not None and classes is not None:
        unknown = [n for n in label_names(entry.label) if n not in known]
        for name in dict.fromkeys(unknown):
            problems.add(
                entry.row,
                entry.field,
                f"unknown class {name!r} for data row '{entry.data_row_id}'; the run's classes "
                f"are {shown_classes(classes)}",
            )
            ok = False
    return ok


def _later(entry: Entry, than: Entry) -> bool:
    if entry.labeled_at is None:
        return False
    return than.labeled_at is None or entry.labeled_at > than.labeled_at


# --------------------------------------------------------------------------------------------
# Labels as JSON (what a store keeps)


def label_to_json(label: Label, task: str) -> str:
    """A label as compact JSON: ``"cat"``, ``["cat", "dog"]`` or ``[{"x": ..., "label": ...}]``.

    Parameters
    ----------
    label : str, tuple of str or list of dict
    task : {"classification", "multilabel", "detection"}

    Returns
    -------
    str
        JSON text that :func:`label_from_json` turns back into the same label.

    Examples
    --------
    >>> label_to_json(("cat", "dog"), "multilabel")
    '["cat","dog"]'
    """
    check_task(task)
    if task == "classification":
        if not isinstance(label, str):
            raise TypeError(f"a classification label is a str, got {type(label).__name__}")
        return json.dumps(label, ensure_ascii=False)
    if task == "multilabel":
        if not isinstance(label, tuple | list) or not all(isinstance(n, str) for n in label):
            raise TypeError(f"a multi-label label is a tuple of str, got {label!r}")
        return json.dumps(list(label), ensure_ascii=False, separators=(",", ":"))
    if not isinstance(label, list):
        raise TypeError(f"a detection label is a list of boxes, got {type(label).__name__}")
    boxes = [make_box(b["x"], b["y"], b["w"], b["h"], str(b["label"])) for b in label]
    return json.dumps(sort_boxes(boxes), ensure_ascii=False, separators=(",", ":"))


def label_from_json(text: str, task: str) -> Label:
    """The label :func:`label_to_json` wrote.

    Examples
    --------
    >>> label_from_json('["cat","dog"]', "multilabel")
    ('cat', 'dog')
    """
    check_task(task)
    value = json.loads(text)
    if task == "classification":
        if not isinstance(value, str):
            raise ValueError(f"a classification label is a JSON string, got {text!r}")
        return value
    if not isinstance(value, list):
        raise ValueError(f"a {task} label is a JSON array, got {text!r}")
    if task == "multilabel":
        return tuple(str(n) for n in value)
    return sort_boxes(make_box(b["x"], b["y"], b["w"], b["h"], str(b["label"])) for b in value)
