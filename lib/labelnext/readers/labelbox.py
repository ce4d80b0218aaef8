"""Labelbox prediction NDJSON: what Labelbox's MAL and model-run prediction imports read.

One JSON object per line, each one feature of one data row, named by ``dataRow.id`` or
``dataRow.globalKey``; a row may have several lines (several features). labelnext reads

=============  ==============================================================  ================
feature        line                                                            task
=============  ==============================================================  ================
radio          ``{"name": q, "answer": {"name": a, "confidence": c}, ...}``    classification
checklist      ``{"name": q, "answer": [{"name": a, "confidence": c}, ...]}``  multilabel
bounding box   ``{"name": cls, "bbox": {top, left, height, width},             detection
               "confidence": c, ...}``
=============  ==============================================================  ================

(``schemaId`` stands in for ``name`` when a line has no name; a checklist's answers may also be
under ``answers``, the older spelling.)

* **classification** (radio): a top-1 run, ``predicted_label`` = the answer and ``confidence``
  = its confidence, so least confidence (``1 - confidence``) orders rows exactly as Labelbox's
  confidence sort. Its rows are the data rows that have a radio answer.
* **multilabel** (checklist): one probability per class = the answer's confidence, 0 for a class
  not listed. Rows are every data row in the file.
* **detection** (bounding boxes): class = the tool's name, score = the confidence; boxes are
  ``x = left, y = top, w = width, h = height`` in pixels. Rows are every data row in the file;
  a row with no box has no boxes.

The task is the one the features present imply; when a file holds several kinds, run.json
``"task"`` picks one (the other lines are then skipped), else the file is refused with a message
naming the kinds found. Several radio (or checklist) questions in one file need run.json
``"feature": "<question name>"``. Classes are run.json ``classes`` or the sorted names found.

``data_row_id`` is the data row id or the global key (the metadata column ``labelbox_key`` says
which). Rows named by global key get ``image`` = the global key when run.json gives an
``image_root`` (teams often use the image path as the global key); otherwise rows have no image.

Problems name the file, the 1-based line and the field (``dataRow.globalKey``, ``name``,
``answer.confidence``, ``answer[0].name``, ``bbox.width``, ``confidence``...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelnext.boxes import Boxes
from labelnext.errors import ProblemLog, refuse
from labelnext.readers.build import declared_classes, make_run, resolve_image_root
from labelnext.readers.columns import check_confidence, check_image_refs, is_number
from labelnext.readers.source import (
    ContentHash,
    RunSource,
    decode,
    iter_json_objects,
    read_bytes,
    run_json_label,
)
from labelnext.runs import TASKS, ModelRun

__all__ = ["KIND_OF_TASK", "looks_like_labelbox", "read_labelbox"]

KIND_OF_TASK = {"classification": "radio", "multilabel": "checklist", "detection": "bbox"}
TASK_OF_KIND = {kind: task for task, kind in KIND_OF_TASK.items()}
_OTHER_KINDS = ("polygon", "point", "line", "mask", "location", "textSelections", "frames")


def looks_like_labelbox(first_line: str) -> bool:
    """Whether the first JSON object of an NDJSON file is a Labelbox prediction line."""
    try:
        record = json.loads(first_line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and "dataRow" in record


@dataclass(frozen=True)
class _Line:
    number: int
    key: str
    key_kind: str  # "id" or "globalKey"
    kind: str  # radio, checklist, bbox, or an unsupported kind
    name: str
    record: dict[str, Any]


def read_labelbox(found: RunSource, *, roots: Sequence[Path], max_problems: int) -> ModelRun:
    """Read a Labelbox prediction NDJSON file into a ModelRun.

    Raises
    ------
    RunValidationError
        If the file is malformed, mixes kinds without run.json ``task``, or a value is out of
        range; each problem names file, line and field.
    """
    data = found.data if found.data is not None else None
    if data is None:
        assert found.path is not None
        data = read_bytes(found.path, found.label, max_problems, found.limits)
    problems = ProblemLog(found.label, max_problems)
    lines = _read_lines(data, problems)
    problems.raise_if_any()
    if not lines:
        raise problems.fail(None, None, "the file holds no prediction lines")

    task = _choose_task(found, lines, problems)
    chosen = [line for line in lines if line.kind == KIND_OF_TASK[task]]
    if task != "detection":
        chosen = _one_question(found, chosen, problems)
    declared = declared_classes(found, problems)
    problems.raise_if_any()

    rows_from = chosen if task == "classification" else lines
    row_of: dict[str, int] = {}
    key_kinds: list[str] = []
    for line in rows_from:
        if line.key not in row_of:
            row_of[line.key] = len(row_of)
            key_kinds.append(line.key_kind)
    ids = list(row_of)

    hasher = ContentHash()
    hasher.update(data)
    image_root = resolve_image_root(found, roots, problems)
    images = None
    if found.config.get("image_root") and "globalKey" in key_kinds:
        images = [
            k if kind == "globalKey" else None for k, kind in zip(ids, key_kinds, strict=True)
        ]
        check_image_refs(
            np.asarray([i or "" for i in images], dtype=object), image_root, roots, problems
        )

    common: dict[str, Any] = {
        "roots": roots,
        "ids": ids,
        "images": images,
        "metadata": {"labelbox_key": key_kinds},
        "image_root": image_root,
        "content_hash": hasher.hexdigest(found.config),
    }
    if task == "classification":
        labels, confidence, classes = _radio(chosen, row_of, declared, problems)
        problems.raise_if_any()
        return make_run(
            found,
            task=task,
            classes=classes,
            top1_labels=labels,
            top1_confidence=confidence,
            **common,
        )
    if task == "multilabel":
        probabilities, classes = _checklist(chosen, row_of, declared, problems)
        problems.raise_if_any()
        return make_run(found, task=task, classes=classes, probabilities=probabilities, **common)
    boxes, classes = _boxes(chosen, row_of, declared, problems)
    problems.raise_if_any()
    return make_run(found, task=task, classes=classes, boxes=boxes, **common)


def _read_lines(data: bytes, problems: ProblemLog) -> list[_Line]:
    text = decode(data, problems)
    lines: list[_Line] = []
    for number, record in iter_json_objects(text, problems):
        key = _data_row_key(record, number, problems)
        name = record.get("name") or record.get("schemaId")
        if not isinstance(name, str) or not name.strip():
            problems.add(number, "name", f"the feature needs a name (or schemaId), got {name!r}")
            continue
        if key is not None:
            lines.append(_Line(number, key[0], key[1], _kind(record), name, record))
    return lines


def _data_row_key(
    record: dict[str, Any], number: int, problems: ProblemLog
) -> tuple[str, str] | None:
    row = record.get("dataRow")
    if not isinstance(row, dict):
        problems.add(number, "dataRow", 'needs "dataRow": {"id": ...} or {"globalKey": ...}')
        return None
    given = [k for k in ("id", "globalKey") if k in row]
    if len(given) != 1:
        problems.add(
            number,
            "dataRow",
            'needs exactly one of "id" and "globalKey", got '
            + (" and ".join(given) if given else "neither"),
        )
        return None
    value = row[given[0]]
    if not isinstance(value, str) or not value.strip():
        problems.add(number, f"dataRow.{given[0]}", f"must be a non-empty string, got {value!r}")
        return None
    return value, given[0]


def _kind(record: dict[str, Any]) -> str:
    if "bbox" in record:
        return "bbox"
    answer = record.get("answer", record.get("answers"))
    if isinstance(answer, dict):
        return "radio"
    if isinstance(answer, list):
        return "checklist"
    if isinstance(answer, str):
        return "text"
    for key in _OTHER_KINDS:
        if key in record:
            return key
    return "unknown"


def _kinds_found(lines: list[_Line]) -> str:
    first: dict[str, int] = {}
    for line in lines:
        first.setdefault(line.kind, line.number)
    return ", ".join(f"{kind} (first on line {number})" for kind, number in first.items())


def _choose_task(found: RunSource, lines: list[_Line], problems: ProblemLog) -> str:
    kinds = {line.kind for line in lines}
    task = found.config.get("task")
    if task is not None:
        if task not in TASKS:
            raise refuse(
                run_json_label(found),
                "task",
                f"unknown task {task!r}; known tasks: {', '.join(TASKS)}",
            )
        if KIND_OF_TASK[task] not in kinds:
            raise problems.fail(
                None,
                None,
                f"run.json says task '{task}', which reads {KIND_OF_TASK[task]} features, but "
                f"the file holds none; it holds: {_kinds_found(lines)}",
            )
        return str(task)
    unsupported = kinds - set(TASK_OF_KIND)
    if unsupported:
        first = next(line for line in lines if line.kind in unsupported)
        raise problems.fail(
            first.number,
            None,
            f"labelnext reads radio, checklist and bbox predictions; this file holds "
            f"{_kinds_found(lines)}. Set run.json 'task' to read one kind and skip the rest",
        )
    if len(kinds) > 1:
        raise problems.fail(
            None,
            "task",
            f"the file mixes kinds of prediction: {_kinds_found(lines)}; choose one with run.json "
            '"task": "classification" (radio), "multilabel" (checklist) or "detection" (bbox)',
        )
    return TASK_OF_KIND[kinds.pop()]


def _one_question(found: RunSource, lines: list[_Line], problems: ProblemLog) -> list[_Line]:
    """Lines of one radio or checklist question: the only one, or run.json ``feature``."""
    questions = list(dict.fromkeys(line.name for line in lines))
    wanted = found.config.get("feature")
    if wanted is not None:
        if wanted not in questions:
            problems.add_about(
                run_json_label(found),
                None,
                "feature",
                f"no {lines[0].kind} question named {wanted!r}; found: {', '.join(questions)}",
            )
            return []
        return [line for line in lines if line.name == wanted]
    if len(questions) > 1:
        problems.add(
            None,
            "name",
            f"several {lines[0].kind} questions: {', '.join(questions)}; pick one with run.json "
            '"feature": "<question name>"',
        )
        return []
    return lines


def _first_answer_check(
    line: _Line, seen: dict[str, int], question: str, problems: ProblemLog
) -> bool:
    if line.key in seen:
        problems.add(
            line.number,
            "dataRow",
            f"a second answer to '{question}' for data row '{line.key}' (first on line "
            f"{seen[line.key]})",
        )
        return False
    seen[line.key] = line.number
    return True


def _answer(
    answer: Any, where: str, fallback_confidence: Any, number: int, problems: ProblemLog
) -> tuple[str, float] | None:
    if not isinstance(answer, dict):
        problems.add(number, where, "must be an object {name, confidence}")
        return None
    name = answer.get("name") or answer.get("schemaId")
    if not isinstance(name, str) or not name.strip():
        problems.add(number, f"{where}.name", f"the answer needs a name, got {name!r}")
        return None
    confidence = answer.get("confidence", fallback_confidence)
    why = check_confidence(confidence)
    if why is not None:
        problems.add(number, f"{where}.confidence", why)
        return None
    return name, float(confidence)


def _check_known(
    name: str, declared: list[str] | None, number: int, field: str, problems: ProblemLog
) -> bool:
    if declared is not None and name not in declared:
        problems.add(number, field, f"'{name}' is not among run.json classes")
        return False
    return True


def _radio(
    lines: list[_Line], row_of: dict[str, int], declared: list[str] | None, problems: ProblemLog
) -> tuple[list[str], np.ndarray, list[str]]:
    labels = [""] * len(row_of)
    confidence = np.zeros(len(row_of), dtype=np.float32)
    seen: dict[str, int] = {}
    for line in lines:
        if not _first_answer_check(line, seen, line.name, problems):
            continue
        parsed = _answer(
            line.record["answer"], "answer", line.record.get("confidence"), line.number, problems
        )
        if parsed is None or not _check_known(
            parsed[0], declared, line.number, "answer.name", problems
        ):
            continue
        labels[row_of[line.key]], confidence[row_of[line.key]] = parsed
    classes = declared if declared is not None else sorted(set(labels))
    return labels, confidence, classes


def _checklist(
    lines: list[_Line], row_of: dict[str, int], declared: list[str] | None, problems: ProblemLog
) -> tuple[np.ndarray, list[str]]:
    found: list[tuple[int, str, float]] = []
    seen: dict[str, int] = {}
    for line in lines:
        if not _first_answer_check(line, seen, line.name, problems):
            continue
        answers: list[Any] = line.record.get("answer", line.record.get("answers")) or []
        named: set[str] = set()
        for k, answer in enumerate(answers):
            parsed = _answer(answer, f"answer[{k}]", None, line.number, problems)
            if parsed is None or not _check_known(
                parsed[0], declared, line.number, f"answer[{k}].name", problems
            ):
                continue
            if parsed[0] in named:
                problems.add(line.number, f"answer[{k}].name", f"'{parsed[0]}' listed twice")
                continue
            named.add(parsed[0])
            found.append((row_of[line.key], parsed[0], parsed[1]))
    classes = declared if declared is not None else sorted({name for _, name, _ in found})
    column = {name: j for j, name in enumerate(classes)}
    probabilities = np.zeros((len(row_of), len(classes)), dtype=np.float32)
    for row, name, value in found:
        probabilities[row, column[name]] = value
    if not classes:
        problems.add(None, "answer", "no checklist answers anywhere in the file: no classes")
    return probabilities, classes


def _boxes(
    lines: list[_Line], row_of: dict[str, int], declared: list[str] | None, problems: ProblemLog
) -> tuple[Boxes, list[str]]:
    rows: list[int] = []
    xywh: list[list[float]] = []
    names: list[str] = []
    scores: list[float] = []
    for line in lines:
        bbox = line.record["bbox"]
        if not isinstance(bbox, dict):
            problems.add(line.number, "bbox", "must be an object {top, left, height, width}")
            continue
        ok = True
        for key in ("top", "left", "height", "width"):
            value = bbox.get(key)
            if not is_number(value):
                problems.add(line.number, f"bbox.{key}", f"must be a finite number, got {value!r}")
                ok = False
            elif key in ("height", "width") and value <= 0:
                problems.add(line.number, f"bbox.{key}", f"must be > 0, got {value!r}")
                ok = False
        why = check_confidence(line.record.get("confidence"))
        if why is not None:
            problems.add(line.number, "confidence", why)
            ok = False
        if not _check_known(line.name, declared, line.number, "name", problems) or not ok:
            continue
        rows.append(row_of[line.key])
        xywh.append([float(bbox[k]) for k in ("left", "top", "width", "height")])
        names.append(line.name)
        scores.append(float(line.record["confidence"]))
    classes = declared if declared is not None else sorted(set(names))
    lookup = {name: k for k, name in enumerate(classes)}
    boxes = Boxes.from_arrays(rows, xywh, [lookup[n] for n in names], scores, n_rows=len(row_of))
    return boxes, classes
