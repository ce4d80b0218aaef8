"""Label Studio JSON export: a JSON array of tasks with their annotations.

Each task (Label Studio's "JSON" export, the raw task format)::

    {"id": 1, "data": {"image": "...", "data_row_id": "mnist-00042"},
     "annotations": [{"id": 7, "completed_by": 3, "was_cancelled": false,
                      "created_at": "2024-03-09T22:16:08.728353Z", "updated_at": "...",
                      "result": [{"from_name": "choice", "to_name": "image", "type": "choices",
                                  "value": {"choices": ["7"]}},
                                 {"from_name": "box", "to_name": "image",
                                  "type": "rectanglelabels",
                                  "original_width": 640, "original_height": 480,
                                  "value": {"x": 10.0, "y": 20.0, "width": 5.0, "height": 8.0,
                                            "rotation": 0, "rectanglelabels": ["cat"]}}]}],
     "predictions": [...]}

The row is ``data.data_row_id`` (labelnext's task export puts it there; ``id_field`` names
another ``data`` key). ``choices`` results are classification labels (one choice) or multi-label
labels (several choices, or ``task="multilabel"``); ``rectanglelabels`` are detection boxes,
converted from Label Studio's percent of the image to pixels with ``original_width`` and
``original_height`` (a rotated box is refused). Cancelled (skipped) annotations and tasks with no
annotation are left out and counted in ``notes``; several annotations of one task must agree.
``labeled_by`` is ``completed_by`` (a user id, or the email of an expanded user), ``labeled_at``
the annotation's ``updated_at`` (else ``created_at``). Predictions are ignored. Problems name
the file, the task (1-based position in the array, as ``row``) and the field path.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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
    is_number,
    label_problems,
    make_box,
    multilabel,
    parse_time,
    read_source,
    sort_boxes,
    text_or_none,
)
from labelnext.readers.source import parse_json

__all__ = ["looks_like_labelstudio_export", "read_labelstudio_labels"]

_TYPES = {"choices": "choices", "rectanglelabels": "rectanglelabels"}
_Task = tuple[int, str | None, list[tuple[int, dict[str, Any]]]]
"""(1-based task position, its data_row_id, its kept (index, annotation) pairs)."""


def looks_like_labelstudio_export(document: object) -> bool:
    """Whether a parsed JSON document is a list of Label Studio tasks."""
    return (
        isinstance(document, list)
        and bool(document)
        and isinstance(document[0], dict)
        and ("annotations" in document[0] or "data" in document[0])
    )


def read_labelstudio_labels(
    source: Source,
    *,
    filename: str | None = None,
    classes: Sequence[str] | None = None,
    task: str | None = None,
    known_ids: Collection[str] | None = None,
    id_field: str = "data_row_id",
    question: str | None = None,
) -> LabelSet:
    """Read a Label Studio JSON export into a :class:`~labelnext.labels.LabelSet`.

    Parameters
    ----------
    source : path, bytes or binary file object
    filename : str, optional
        How messages name the file.
    classes : sequence of str, optional
        The run's classes; a choice or rectangle label outside them is a problem.
    task : {"classification", "multilabel", "detection"}, optional
        ``choices`` (classification or multilabel) or ``rectanglelabels`` (detection); inferred
        when not given (several choices anywhere make the file multi-label).
    known_ids : collection of str, optional
        The data rows labels may be given for; any other row is a problem.
    id_field : str, default="data_row_id"
        The key of each task's ``data`` that holds the data_row_id.
    question : str, optional
        The control (``from_name``) to read, when the labeling config has several.

    Raises
    ------
    LabelFileError
        Every problem found (up to 50), each naming file, task and field.
    """
    check_task(task)
    wanted = check_classes_argument(classes)
    data, name = read_source(source, filename)
    problems = label_problems(name)
    document = parse_json(data, problems)
    tasks = _tasks(document, problems)
    reading = Reading()
    found = [_annotations(i, t, id_field, problems, reading) for i, t in enumerate(tasks)]
    problems.raise_if_any()
    kind = _choose_type(found, task, problems)
    control = _choose_control(found, kind, question, problems)
    out_task = task or ("detection" if kind == "rectanglelabels" else _choices_task(found))
    for row, data_row_id, kept in found:
        for k, annotation in kept:
            entry = _entry(row, data_row_id, k, annotation, control, out_task, wanted, problems)
            if entry is None:
                continue
            if entry.label == () and out_task != "multilabel":
                reading.notes.append(f"task {row}, annotation {k}: no {kind} result, left out")
                continue
            reading.entries.append(entry)
    return finish(
        reading, problems, task=out_task, fmt="labelstudio", classes=wanted, known_ids=known_ids
    )


def _tasks(document: Any, problems: ProblemLog) -> list[Any]:
    if isinstance(document, dict):
        if "images" in document or "annotations" in document:
            hint = "a COCO file"
        else:
            hint = "a single JSON object"
        raise problems.fail(
            None,
            None,
            f"holds {hint}; a Label Studio export is a JSON array of tasks "
            "(export the project as JSON)",
        )
    if not isinstance(document, list):
        raise problems.fail(None, None, "a Label Studio export must be a JSON array of tasks")
    if not document:
        raise problems.fail(None, None, "the file holds no tasks")
    first = document[0]
    if isinstance(first, dict) and "annotations" not in first and "data" not in first:
        raise problems.fail(
            1,
            None,
            "tasks have no 'data' and 'annotations': this looks like Label Studio's JSON_MIN or "
            "CSV export, which drops who labeled and when; export the project as JSON",
        )
    return document


def _annotations(
    index: int, task: Any, id_field: str, problems: ProblemLog, reading: Reading
) -> _Task:
    row = index + 1
    if not isinstance(task, dict):
        problems.add(row, None, "a task must be a JSON object with data and annotations")
        return row, None, []
    data = task.get("data")
    value = data.get(id_field) if isinstance(data, dict) else None
    data_row_id = text_or_none(value)
    if data_row_id is None:
        problems.add(
            row,
            f"data.{id_field}",
            f"empty or missing data row id, got {value!r} (labelnext's task export puts the "
            f"data_row_id in data.{id_field})",
        )
    annotations = task.get("annotations", [])
    if not isinstance(annotations, list):
        problems.add(row, "annotations", "must be a list")
        return row, data_row_id, []
    kept = []
    for k, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            problems.add(row, f"annotations[{k}]", "must be an object")
            continue
        if annotation.get("was_cancelled") is True:
            reading.notes.append(f"task {row}: annotation {k} was cancelled (skipped), left out")
            continue
        if not isinstance(annotation.get("result", []), list):
            problems.add(row, f"annotations[{k}].result", "must be a list")
            continue
        kept.append((k, annotation))
    if not kept and data_row_id is not None:
        reading.notes.append(f"task {row}: no annotation, left out")
    return row, data_row_id, kept


def _results(annotation: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    results = annotation.get("result", [])
    return [(i, r) for i, r in enumerate(results) if isinstance(r, dict)]


def _choose_type(
    found: list[_Task],
    task: str | None,
    problems: ProblemLog,
) -> str:
    first: dict[str, str] = {}
    for row, _, kept in found:
        for k, annotation in kept:
            for i, result in _results(annotation):
                kind = str(result.get("type"))
                first.setdefault(kind, f"task {row}, annotations[{k}].result[{i}]")
    if task is not None:
        return "rectanglelabels" if task == "detection" else "choices"
    readable = [k for k in _TYPES if k in first]
    if len(readable) == 1:
        return readable[0]
    listed = ", ".join(f"{k} (first in {where})" for k, where in first.items()) or "none"
    if not readable:
        raise problems.fail(
            None, "result.type", f"no choices or rectanglelabels results (found: {listed})"
        )
    raise problems.fail(
        None,
        "result.type",
        f"results of several types: {listed}; give task= (classification or multilabel: "
        "choices, detection: rectanglelabels)",
    )


def _choose_control(
    found: list[_Task],
    kind: str,
    question: str | None,
    problems: ProblemLog,
) -> str | None:
    controls: dict[str, None] = {}
    for _, _, kept in found:
        for _, annotation in kept:
            for _, result in _results(annotation):
                if result.get("type") == kind:
                    controls[str(result.get("from_name"))] = None
    if question is not None:
        if question not in controls:
            raise problems.fail(
                None,
                "result.from_name",
                f"no {kind} control named {question!r}; found: {', '.join(controls) or 'none'}",
            )
        return question
    if len(controls) > 1:
        raise problems.fail(
            None,
            "result.from_name",
            f"several {kind} controls: {', '.join(controls)}; choose one with question=",
        )
    return next(iter(controls), None)


def _choices_task(found: list[_Task]) -> str:
    for _, _, kept in found:
        for _, annotation in kept:
            for _, result in _results(annotation):
                value = result.get("value")
                choices = value.get("choices") if isinstance(value, dict) else None
                if result.get("type") == "choices" and isinstance(choices, list):
                    if len(choices) > 1:
                        return "multilabel"
    return "classification"


def _entry(
    row: int,
    data_row_id: str | None,
    k: int,
    annotation: dict[str, Any],
    control: str | None,
    task: str,
    classes: Sequence[str] | None,
    problems: ProblemLog,
) -> Entry | None:
    if data_row_id is None:
        return None
    kind = "rectanglelabels" if task == "detection" else "choices"
    picked = [
        (i, r)
        for i, r in _results(annotation)
        if r.get("type") == kind and str(r.get("from_name")) == control
    ]
    base = f"annotations[{k}]"
    label: Any
    if kind == "choices":
        if len(picked) > 1:
            problems.add(
                row, f"{base}.result", f"{len(picked)} '{control}' results in one annotation"
            )
            return None
        names: list[str] = []
        if picked:
            i, result = picked[0]
            field = f"{base}.result[{i}].value.choices"
            value = result.get("value")
            choices = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(choices, list) or not all(text_or_none(c) for c in choices):
                problems.add(row, field, f"must be a list of choice names, got {choices!r}")
                return None
            names = [str(text_or_none(c)) for c in choices]
            if len(set(names)) != len(names):
                problems.add(row, field, f"a choice is listed twice: {names!r}")
                return None
        if task == "classification":
            if len(names) > 1:
                problems.add(
                    row, f"{base}.result", f"{len(names)} choices {names!r} in a single-choice task"
                )
                return None
            label = names[0] if names else ()
        else:
            label = multilabel(names, classes)
    else:
        boxes = []
        for i, result in picked:
            box = _box(result, row, f"{base}.result[{i}]", problems)
            if box is None:
                return None
            boxes.append(box)
        label = sort_boxes(boxes)
    labeled_at, why = parse_time(annotation.get("updated_at") or annotation.get("created_at"))
    if why is not None:
        problems.add(row, f"{base}.updated_at", why)
        return None
    return Entry(
        data_row_id=data_row_id,
        label=label,
        labeled_by=_user(annotation.get("completed_by")),
        labeled_at=labeled_at,
        row=row,
        where=f"task {row}, annotation {k}",
        field=f"{base}.result",
    )


def _box(result: dict[str, Any], row: int, field: str, problems: ProblemLog) -> Any:
    value = result.get("value")
    if not isinstance(value, dict):
        problems.add(row, f"{field}.value", "must be an object")
        return None
    names = value.get("rectanglelabels")
    if not isinstance(names, list) or len(names) != 1 or not text_or_none(names[0]):
        problems.add(row, f"{field}.value.rectanglelabels", f"must name one label, got {names!r}")
        return None
    rotation = value.get("rotation", 0)
    if not is_number(rotation) or float(rotation) % 360 != 0:
        problems.add(
            row, f"{field}.value.rotation", f"rotated boxes are not supported, got {rotation!r}"
        )
        return None
    size = [result.get("original_width"), result.get("original_height")]
    why = box_problem([0, 0, *size], ["x", "y", "original_width", "original_height"])
    if why is not None:
        problems.add(
            row,
            field,
            f"{why}: a box in percent needs the image size to be put in pixels",
        )
        return None
    percent = [value.get(k) for k in ("x", "y", "width", "height")]
    why = box_problem(percent, ["x", "y", "width", "height"])
    if why is not None:
        problems.add(row, f"{field}.value", why)
        return None
    width, height = float(size[0]), float(size[1])  # type: ignore[arg-type]
    x, y, w, h = (float(v) for v in percent)  # type: ignore[arg-type]
    return make_box(
        x * width / 100, y * height / 100, w * width / 100, h * height / 100, str(names[0])
    )


def _user(value: Any) -> str | None:
    if isinstance(value, dict):
        return text_or_none(value.get("email")) or text_or_none(value.get("id"))
    return text_or_none(value)
