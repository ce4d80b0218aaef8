"""Labelbox export NDJSON (export v2, what ``project.export()`` and the app's Export write).

One JSON object per line, one data row each::

    {"data_row": {"id": "ck...", "global_key": "mnist-00042", ...},
     "projects": {"<project id>": {"name": "...", "labels": [
        {"label_details": {"created_at": "...", "updated_at": "...", "created_by": "a@b.c"},
         "performance_details": {"skipped": false, ...},
         "annotations": {
            "classifications": [
               {"name": "digit", "value": "digit", "radio_answer": {"name": "7", "value": "7"}},
               {"name": "contains", "checklist_answers": [{"name": "cat", ...}, ...]}],
            "objects": [{"name": "cat", "bounding_box": {"top": 5, "left": 3,
                                                          "height": 20, "width": 10}}]}}]}}}

A radio answer is a classification label, checklist answers a multi-label label, bounding boxes
(pixels) a detection label; other tools (polygons, points, text answers...) are left out and
counted in ``notes``. A row is named by ``data_row.global_key`` (labelnext exports
``global_key = data_row_id``), else by ``data_row.id`` (``key="auto"``, the default); ``key``
picks one. An answer's class is its option ``value`` (what an import's answer ``name`` gives,
and what labelnext's Labelbox export writes), a box's class its tool ``name``; when only the
other of the two is among the run's classes, that one. Several projects, or several questions
of the kind read, need ``project`` or ``question``. Skipped labels are left out; several labels
of one row in one project (consensus) must agree. ``labeled_by`` is
``label_details.created_by``, ``labeled_at`` its ``updated_at`` (else ``created_at``). Problems
name the file, the line and the field path. A JSON array of the same objects (the SDK's
``export_v2(...).result`` saved with ``json.dump``) is read too, its entries numbered as lines.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from labelnext.errors import ProblemLog
from labelnext.labels.table import (
    Entry,
    LabelSet,
    Reading,
    Source,
    box_problem,
    check_classes_argument,
    check_task,
    finish,
    label_problems,
    make_box,
    multilabel,
    parse_time,
    read_source,
    sort_boxes,
    text_or_none,
)
from labelnext.readers.source import decode

__all__ = ["KEYS", "looks_like_labelbox_export", "read_labelbox_labels"]

KEYS = ("auto", "global_key", "id", "external_id")
_KIND_OF_TASK = {"classification": "radio", "multilabel": "checklist", "detection": "bbox"}
_TASK_OF_KIND = {kind: task for task, kind in _KIND_OF_TASK.items()}


def looks_like_labelbox_export(first_object: object) -> bool:
    """Whether a parsed first line is a Labelbox export line (``data_row`` and ``projects``)."""
    return isinstance(first_object, dict) and "data_row" in first_object


@dataclass
class _Label:
    line: int
    key: str
    index: int
    path: str
    labeled_by: str | None
    labeled_at: Any
    classifications: list[tuple[int, dict[str, Any]]]
    objects: list[tuple[int, dict[str, Any]]]


def read_labelbox_labels(
    source: Source,
    *,
    filename: str | None = None,
    classes: Sequence[str] | None = None,
    task: str | None = None,
    known_ids: Collection[str] | None = None,
    key: str = "auto",
    project: str | None = None,
    question: str | None = None,
) -> LabelSet:
    """Read a Labelbox export NDJSON into a :class:`~labelnext.labels.LabelSet`.

    Parameters
    ----------
    source : path, bytes or binary file object
    filename : str, optional
        How messages name the file.
    classes : sequence of str, optional
        The run's classes; an answer outside them is a problem.
    task : {"classification", "multilabel", "detection"}, optional
        Which annotations to read (radio, checklist, bounding boxes); inferred when the file
        holds one kind only.
    known_ids : collection of str, optional
        The data rows labels may be given for; any other row is a problem.
    key : {"auto", "global_key", "id", "external_id"}, default="auto"
        Which ``data_row`` field is the data_row_id; ``auto``: the global key, else the id.
    project : str, optional
        The project (id or name) whose labels to read, when the file holds several.
    question : str, optional
        The radio or checklist question (name or value) to read, when there are several.

    Raises
    ------
    LabelFileError
        Every problem found (up to 50), each naming file, line and field.
    """
    check_task(task)
    wanted = check_classes_argument(classes)
    if key not in KEYS:
        raise ValueError(f"key must be one of {', '.join(KEYS)}, got {key!r}")
    data, name = read_source(source, filename)
    problems = label_problems(name)
    reading = Reading()
    lines = list(_lines(decode(data, problems), problems))
    problems.raise_if_any()
    if not lines:
        raise problems.fail(None, None, "the file holds no export lines")
    chosen = _choose_project(lines, project, problems)
    labels = [label for line in lines for label in _labels(line, chosen, key, problems, reading)]
    problems.raise_if_any()
    kind = _choose_kind(labels, task, problems)
    features = _choose_question(labels, kind, question, problems) if kind != "bbox" else None
    for label in labels:
        entry = _entry(label, kind, features, wanted, problems, reading)
        if entry is not None:
            reading.entries.append(entry)
    return finish(
        reading,
        problems,
        task=_TASK_OF_KIND[kind],
        fmt="labelbox",
        classes=wanted,
        known_ids=known_ids,
    )


def _records(text: str, problems: ProblemLog) -> Iterator[tuple[int, Any]]:
    """(line, parsed line) of NDJSON; or (position, entry) of a JSON array of export rows."""
    if text.lstrip().startswith("["):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise problems.fail(exc.lineno, None, f"not valid JSON: {exc.msg}") from None
        yield from enumerate(document, start=1)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            problems.add(number, None, f"malformed line: not valid JSON ({exc.msg})")


def _lines(text: str, problems: ProblemLog) -> Iterator[tuple[int, dict[str, Any]]]:
    if not text.strip():
        raise problems.fail(None, None, "the file is empty")
    for number, record in _records(text, problems):
        if not isinstance(record, dict):
            problems.add(number, None, "malformed line: must hold a JSON object")
            continue
        if "dataRow" in record and "data_row" not in record:
            raise problems.fail(
                number,
                "dataRow",
                "this is Labelbox import NDJSON (predictions or pre-labels, one feature per "
                "line), not an export of labels: export the project from Labelbox "
                "(project.export() or Export data) and import that file",
            )
        for required in ("data_row", "projects"):
            if not isinstance(record.get(required), dict):
                problems.add(
                    number,
                    required,
                    f"a Labelbox export line needs a '{required}' object, got "
                    f"{type(record.get(required)).__name__}",
                )
                break
        else:
            yield number, record


def _choose_project(
    lines: list[tuple[int, dict[str, Any]]], project: str | None, problems: ProblemLog
) -> str:
    names: dict[str, str] = {}
    for _, record in lines:
        for pid, body in record["projects"].items():
            names.setdefault(pid, str(body.get("name", "")) if isinstance(body, dict) else "")
    listed = ", ".join(f"{pid} ({n})" if n else pid for pid, n in names.items())
    if project is not None:
        matches = [pid for pid, n in names.items() if project in (pid, n)]
        if len(matches) != 1:
            how = "no" if not matches else "several"
            raise problems.fail(
                None, "projects", f"{how} project with id or name {project!r}; found: {listed}"
            )
        return matches[0]
    if not names:
        raise problems.fail(None, "projects", "no line holds a project: nothing is labeled")
    if len(names) > 1:
        raise problems.fail(
            None, "projects", f"labels of several projects: {listed}; choose one with project="
        )
    return next(iter(names))


def _labels(
    line: tuple[int, dict[str, Any]],
    project: str,
    key: str,
    problems: ProblemLog,
    reading: Reading,
) -> Iterator[_Label]:
    number, record = line
    row_key = _row_key(record["data_row"], key, number, problems)
    body = record["projects"].get(project)
    if body is None:
        reading.notes.append(f"line {number}: no labels in project {project}")
        return
    labels = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(labels, list):
        problems.add(number, f"projects.{project}.labels", "must be a list of labels")
        return
    if not labels:
        reading.notes.append(f"line {number}: data row not labeled yet")
    for k, label in enumerate(labels):
        path = f"projects.{project}.labels[{k}]"
        if not isinstance(label, dict):
            problems.add(number, path, "must be an object")
            continue
        performance = label.get("performance_details")
        if isinstance(performance, dict) and performance.get("skipped") is True:
            reading.notes.append(f"line {number}: {path} was skipped by the labeler")
            continue
        details = label.get("label_details")
        details = details if isinstance(details, dict) else {}
        annotations = label.get("annotations")
        if not isinstance(annotations, dict):
            problems.add(number, f"{path}.annotations", "must be an object")
            continue
        groups = []
        for part in ("classifications", "objects"):
            items = annotations.get(part, [])
            if not isinstance(items, list):
                problems.add(number, f"{path}.annotations.{part}", "must be a list")
                items = []
            groups.append([(i, item) for i, item in enumerate(items) if isinstance(item, dict)])
        labeled_at = details.get("updated_at") or details.get("created_at")
        if row_key is not None:
            yield _Label(
                line=number,
                key=row_key,
                index=k,
                path=path,
                labeled_by=text_or_none(details.get("created_by")),
                labeled_at=labeled_at,
                classifications=groups[0],
                objects=groups[1],
            )


def _row_key(row: dict[str, Any], key: str, number: int, problems: ProblemLog) -> str | None:
    if key == "auto":
        value = text_or_none(row.get("global_key"))
        field = "data_row.global_key"
        if value is None:
            value, field = text_or_none(row.get("id")), "data_row.id"
    else:
        field = f"data_row.{key}"
        value = text_or_none(row.get(key))
    if value is None:
        problems.add(
            number,
            field,
            f"empty or missing data row key, got {row.get(field.split('.')[1])!r}"
            + ("; the export names each row by global_key or id" if key == "auto" else ""),
        )
    return value


def _kind(feature: dict[str, Any]) -> str:
    if "radio_answer" in feature:
        return "radio"
    if "checklist_answers" in feature:
        return "checklist"
    if "bounding_box" in feature:
        return "bbox"
    return "other"


def _choose_kind(labels: list[_Label], task: str | None, problems: ProblemLog) -> str:
    first: dict[str, str] = {}
    for label in labels:
        for i, feature in label.classifications:
            kind = _kind(feature)
            first.setdefault(kind, f"line {label.line}, classifications[{i}]")
        for i, feature in label.objects:
            first.setdefault(_kind(feature), f"line {label.line}, objects[{i}]")
    readable = [k for k in ("radio", "checklist", "bbox") if k in first]
    found = ", ".join(f"{k} (first on {where})" for k, where in first.items()) or "none"
    if task is not None:
        kind = _KIND_OF_TASK[task]
        if kind not in first and labels:
            raise problems.fail(
                None, "annotations", f"task '{task}' reads {kind} annotations; the file has none"
            )
        return kind
    if len(readable) == 1:
        return readable[0]
    if not readable:
        raise problems.fail(
            None,
            "annotations",
            f"no radio, checklist or bounding-box annotation in the file (found: {found})",
        )
    raise problems.fail(
        None,
        "annotations",
        f"the file holds several kinds of annotation: {found}; give task= (classification: "
        "radio, multilabel: checklist, detection: bounding boxes)",
    )


def _choose_question(
    labels: list[_Label], kind: str, question: str | None, problems: ProblemLog
) -> set[str]:
    """The names and values that identify the one question to read."""
    questions: dict[str, set[str]] = {}
    for label in labels:
        for _, feature in label.classifications:
            if _kind(feature) == kind:
                ident = str(feature.get("name") or feature.get("value"))
                questions.setdefault(ident, set()).update(
                    str(v) for v in (feature.get("name"), feature.get("value")) if v
                )
    if question is not None:
        chosen = [q for q, names in questions.items() if question in names]
        if not chosen:
            raise problems.fail(
                None,
                "classifications",
                f"no {kind} question named {question!r}; found: {', '.join(questions) or 'none'}",
            )
        return questions[chosen[0]]
    if len(questions) > 1:
        raise problems.fail(
            None,
            "classifications",
            f"several {kind} questions: {', '.join(questions)}; choose one with question=",
        )
    return next(iter(questions.values()), set())


def _class_name(feature: Any, classes: Sequence[str] | None, *, answer: bool) -> str | None:
    """The class of an answer (its option ``value``) or an object (its tool ``name``).

    When only the other of ``name`` and ``value`` is among ``classes``, that one.
    """
    if not isinstance(feature, dict):
        return None
    name, value = text_or_none(feature.get("name")), text_or_none(feature.get("value"))
    first, second = (value, name) if answer else (name, value)
    if classes is not None and first not in classes and second in classes:
        return second
    return first or second


def _entry(
    label: _Label,
    kind: str,
    features: set[str] | None,
    classes: Sequence[str] | None,
    problems: ProblemLog,
    reading: Reading,
) -> Entry | None:
    where = f"line {label.line} ({label.path})"
    if kind == "bbox":
        boxes = []
        for i, feature in label.objects:
            if _kind(feature) != "bbox":
                reading.notes.append(f"{where}: objects[{i}] is not a bounding box, left out")
                continue
            field = f"{label.path}.annotations.objects[{i}]"
            box = feature["bounding_box"]
            name = _class_name(feature, classes, answer=False)
            if not isinstance(box, dict):
                problems.add(label.line, f"{field}.bounding_box", "must be an object")
                return None
            values = [box.get(k) for k in ("left", "top", "width", "height")]
            why = box_problem(values, ["left", "top", "width", "height"])
            if why is not None or name is None:
                problems.add(label.line, field, why or "the object has no name")
                return None
            left, top, width, height = (float(v) for v in values)  # type: ignore[arg-type]
            boxes.append(make_box(left, top, width, height, name))
        return _made(label, sort_boxes(boxes), f"{label.path}.annotations.objects", problems)
    matching = [
        (i, f)
        for i, f in label.classifications
        if _kind(f) == kind and {str(f.get("name")), str(f.get("value"))} & (features or set())
    ]
    field = f"{label.path}.annotations.classifications"
    if len(matching) > 1:
        problems.add(
            label.line,
            field,
            f"the question is answered {len(matching)} times in one label "
            f"(classifications[{matching[0][0]}] and [{matching[1][0]}])",
        )
        return None
    if kind == "radio":
        if not matching:
            reading.notes.append(f"{where}: the question is not answered, left out")
            return None
        i, feature = matching[0]
        name = _class_name(feature["radio_answer"], classes, answer=True)
        if name is None:
            problems.add(label.line, f"{field}[{i}].radio_answer", "the answer has no name")
            return None
        return _made(label, name, f"{field}[{i}].radio_answer", problems)
    names: list[str] = []
    if matching:
        i, feature = matching[0]
        answers = feature["checklist_answers"]
        if not isinstance(answers, list):
            problems.add(label.line, f"{field}[{i}].checklist_answers", "must be a list")
            return None
        for k, answer in enumerate(answers):
            name = _class_name(answer, classes, answer=True)
            if name is None:
                problems.add(
                    label.line, f"{field}[{i}].checklist_answers[{k}]", "the answer has no name"
                )
                return None
            if name in names:
                problems.add(
                    label.line, f"{field}[{i}].checklist_answers[{k}]", f"{name!r} listed twice"
                )
                return None
            names.append(name)
    return _made(label, multilabel(names, classes), field, problems)


def _made(label: _Label, value: Any, field: str, problems: ProblemLog) -> Entry | None:
    labeled_at, why = parse_time(label.labeled_at)
    if why is not None:
        problems.add(label.line, f"{label.path}.label_details.updated_at", why)
        return None
    return Entry(
        data_row_id=label.key,
        label=value,
        labeled_by=label.labeled_by,
        labeled_at=labeled_at,
        row=label.line,
        where=f"line {label.line} ({label.path})",
        field=field,
    )
