"""COCO detection results: ``[{image_id, category_id, bbox: [x, y, w, h], score}]``.

Results name images and categories by id only, so they are read together with the COCO file
(``{"images": [...], "categories": [...]}``, an instances file) that gives the ids their names.
The two arrive as

* a run folder whose ``run.json`` says ``"format": "coco"``, ``"coco": "<coco.json>"`` and
  ``"predictions": "<results.json>"`` (optionally ``image_root``, ``classes``, ``name``...);
* a folder without ``run.json`` holding exactly one COCO file (a JSON object) and one results
  file (a JSON array) among its ``.json`` files.

A bare results file is refused with a message naming the missing COCO file.

The run's rows are the COCO file's images in its order; an image with no results is a row with
no boxes. ``data_row_id`` and ``image`` are the image's ``file_name`` (unique in a COCO file and
readable in the dashboard, unlike a numeric id); the numeric id is kept as the metadata column
``coco_image_id``. ``classes`` are the category names in ascending category-id order; a
``classes`` list in run.json must equal them. Boxes keep COCO's convention: ``x, y`` the top-left
corner, ``w, h`` the size, in pixels.

Problems name the file, the ``row`` (the 1-based position in the JSON array: entry ``i`` of the
results array is row ``i + 1``; for the COCO file, the position in its ``images`` or
``categories`` array) and the field (``bbox``, ``score``, ``category_id``, ``image_id``,
``images.file_name``, ``categories.name``...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from labelnext.boxes import Boxes
from labelnext.errors import ProblemLog, refuse
from labelnext.paths import is_inside
from labelnext.readers.build import declared_classes, make_run, resolve_image_root
from labelnext.readers.columns import check_confidence, check_image_refs, is_number
from labelnext.readers.source import (
    ContentHash,
    RunSource,
    contained,
    head_text,
    parse_json,
    read_bytes,
    run_json_label,
)
from labelnext.runs import ModelRun

__all__ = ["find_coco_pair", "id_name_pairs", "looks_like_coco_json", "read_coco"]

_PEEK_BYTES = 4096

HOW_TO = (
    "put both in a run folder with run.json "
    '{"format": "coco", "coco": "<coco file>", "predictions": "<results file>"}, '
    "or in a folder holding just these two .json files"
)


def _first_char(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(_PEEK_BYTES)
    except OSError:
        return ""
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    return text[:1]


def looks_like_coco_json(path: Path) -> bool:
    """Whether a ``.json`` file looks like COCO results (an array of objects with
    ``image_id``) or a COCO file (an object with ``images``); judged from its first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_PEEK_BYTES).decode("utf-8-sig", errors="replace").lstrip()
    except OSError:
        return False
    if head.startswith("["):
        return '"image_id"' in head or head[1:].lstrip().startswith("]")
    return head.startswith("{") and ('"images"' in head or '"categories"' in head)


def find_coco_pair(folder: Path, inside: Sequence[Path] = ()) -> tuple[Path, Path] | None:
    """(COCO file, results file) when ``folder`` holds exactly one JSON object file and one JSON
    array file among its ``.json`` files (run.json aside), else None.

    Each ``.json`` file is checked to lie in ``folder`` or ``inside`` before it is opened: a
    link that leads out is refused.
    """
    objects: list[Path] = []
    arrays: list[Path] = []
    allowed = (folder.resolve(), *inside)
    for path in sorted(folder.glob("*.json")):
        if path.name == "run.json":
            continue
        contained(path, allowed, file=str(path), field=None, what="file", shown=path.name)
        if not path.is_file():
            continue
        first = _first_char(path)
        if first == "{":
            objects.append(path)
        elif first == "[":
            arrays.append(path)
    if len(objects) == 1 and len(arrays) == 1 and looks_like_coco_json(arrays[0]):
        return objects[0], arrays[0]
    return None


def read_coco(found: RunSource, *, roots: Sequence[Path], max_problems: int) -> ModelRun:
    """Read COCO detection results with their COCO file into a detection ModelRun.

    Raises
    ------
    RunValidationError
        If a file is missing or malformed; each problem names file, row and field.
    """
    coco_path, results_path, results_label = _locate(found, max_problems)
    hasher = ContentHash()
    coco_data = read_bytes(coco_path, str(coco_path), max_problems, found.limits)
    coco_problems = ProblemLog(str(coco_path), max_problems)
    coco = parse_json(coco_data, coco_problems)
    images, categories = _read_coco_file(coco, coco_problems)
    coco_problems.raise_if_any()
    hasher.update(coco_data)

    problems = ProblemLog(results_label, max_problems)
    classes = [name for _, name in categories]
    declared = declared_classes(found, problems)
    if declared is not None and declared != classes:
        problems.add_about(
            run_json_label(found),
            None,
            "classes",
            f"run.json classes {declared} do not match the COCO categories in id order "
            f"{classes} (from {coco_path.name})",
        )
    problems.raise_if_any()

    if found.data is not None:
        results_data = found.data
    else:
        results_data = read_bytes(results_path, results_label, max_problems, found.limits)
    results = parse_json(results_data, problems)
    hasher.update(results_data)
    row_of = {image_id: i for i, (image_id, _) in enumerate(images)}
    label_of = {category_id: k for k, (category_id, _) in enumerate(categories)}
    rows, xywh, labels, scores = _read_results(results, row_of, label_of, coco_path, problems)

    file_names = [name for _, name in images]
    image_root = resolve_image_root(
        found, roots, problems, default=_image_folder(found, file_names)
    )
    check_image_refs(np.asarray(file_names, dtype=object), image_root, roots, problems)
    problems.raise_if_any()

    boxes = Boxes.from_arrays(rows, xywh, labels, scores, n_rows=len(images))
    return make_run(
        found,
        roots=roots,
        task="detection",
        classes=classes,
        ids=file_names,
        images=file_names,
        boxes=boxes,
        metadata={"coco_image_id": [image_id for image_id, _ in images]},
        content_hash=hasher.hexdigest(found.config),
        image_root=image_root,
    )


def _locate(found: RunSource, max_problems: int) -> tuple[Path, Path, str]:
    """(COCO file, results file, how messages name the results file)."""
    if found.config:
        coco_name = found.config.get("coco")
        if not coco_name or not isinstance(coco_name, str):
            raise refuse(
                run_json_label(found),
                "coco",
                "run.json says 'format': 'coco' but does not name the COCO file that gives "
                'image and category names: add "coco": "<coco file>"',
            )
        assert found.folder is not None and found.path is not None
        coco_path = found.folder / coco_name
        contained(
            coco_path,
            found.inside,
            file=run_json_label(found),
            field="coco",
            what="COCO file",
            shown=coco_name,
        )
        return coco_path, found.path, found.label
    if found.path is None and found.data is None and found.folder is not None:
        pair = find_coco_pair(found.folder, found.roots)
        if pair is None:  # pragma: no cover - detect_format only sends folders with a pair
            raise refuse(found.label, None, f"no COCO file + results file pair found; {HOW_TO}")
        return pair[0], pair[1], str(pair[1])
    kind = _bare_kind(found)
    if kind == "dataset":
        raise refuse(
            found.label,
            None,
            "a COCO dataset file (images, categories, annotations), not detection results: "
            "labelnext reads a model's results [{image_id, category_id, bbox, score}] together "
            f"with this file; {HOW_TO}",
        )
    raise refuse(
        found.label,
        "coco",
        "COCO detection results name images and categories by id only, so they need the COCO "
        f"file that names them, and none was given: {HOW_TO}",
    )


def _bare_kind(found: RunSource) -> str:
    head = head_text(found, _PEEK_BYTES).lstrip()
    return "dataset" if head.startswith("{") else "results"


def _image_folder(found: RunSource, file_names: list[str]) -> Path | None:
    """Without run.json ``image_root``: the folder or its ``images/`` holding the first image."""
    folder = found.folder or (found.path.parent if found.path is not None else None)
    if folder is None or not file_names:
        return None
    for candidate in (folder, folder / "images"):
        # an absolute or climbing file_name would stat a file outside: only look inside
        first = (candidate / file_names[0]).resolve()
        if is_inside(first, [candidate.resolve()]) and first.is_file():
            return candidate
    return None


def _read_coco_file(
    coco: Any, problems: ProblemLog
) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(image id, file_name) in file order and (category id, name) in id order."""
    if not isinstance(coco, dict):
        problems.add(None, None, "a COCO file must hold a JSON object with images and categories")
        return [], []
    for key in ("images", "categories"):
        if not isinstance(coco.get(key), list):
            problems.add(None, key, f"a COCO file needs a '{key}' array")
    if problems.items:
        return [], []
    images = id_name_pairs(coco["images"], "images", "file_name", problems)
    categories = id_name_pairs(coco["categories"], "categories", "name", problems)
    if not categories and not problems.items:
        problems.add(None, "categories", "the COCO file names no categories")
    return images, sorted(categories)


def id_name_pairs(
    entries: list[Any], array: str, name_key: str, problems: ProblemLog
) -> list[tuple[int, str]]:
    """(id, name) of a COCO ``images`` or ``categories`` array, each fault named by row and field.

    Ids must be integers and names non-empty strings (a category's integer name is taken as
    text); neither may repeat.
    """
    pairs: list[tuple[int, str]] = []
    first_id: dict[int, int] = {}
    first_name: dict[str, int] = {}
    for i, entry in enumerate(entries):
        row = i + 1
        if not isinstance(entry, dict):
            problems.add(row, array, "must be an object with id and " + name_key)
            continue
        entry_id = entry.get("id")
        name = entry.get(name_key)
        if not _is_id(entry_id):
            problems.add(row, f"{array}.id", f"must be an integer, got {entry_id!r}")
            continue
        if isinstance(name, int) and not isinstance(name, bool) and array == "categories":
            name = str(name)
        if not isinstance(name, str) or not name.strip():
            problems.add(row, f"{array}.{name_key}", f"must be a non-empty string, got {name!r}")
            continue
        if entry_id in first_id:
            problems.add(
                row, f"{array}.id", f"duplicate id {entry_id} (first on row {first_id[entry_id]})"
            )
            continue
        if name in first_name:
            problems.add(
                row,
                f"{array}.{name_key}",
                f"duplicate {name_key} '{name}' (first on row {first_name[name]})",
            )
            continue
        first_id[entry_id] = row
        first_name[name] = row
        pairs.append((entry_id, name))
    return pairs


def _is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _read_results(
    results: Any,
    row_of: dict[int, int],
    label_of: dict[int, int],
    coco_path: Path,
    problems: ProblemLog,
) -> tuple[list[int], list[list[float]], list[int], list[float]]:
    rows: list[int] = []
    xywh: list[list[float]] = []
    labels: list[int] = []
    scores: list[float] = []
    if isinstance(results, dict):
        problems.add(
            None,
            None,
            "holds a JSON object; COCO detection results are an array of "
            "{image_id, category_id, bbox, score} (is this the COCO file?)",
        )
        return rows, xywh, labels, scores
    if not isinstance(results, list):
        problems.add(None, None, "COCO detection results must be a JSON array")
        return rows, xywh, labels, scores
    for i, entry in enumerate(results):
        row = i + 1
        if not isinstance(entry, dict):
            problems.add(row, None, "must be an object {image_id, category_id, bbox, score}")
            continue
        ok = True
        image_id = entry.get("image_id")
        if not _is_id(image_id) or image_id not in row_of:
            problems.add(
                row, "image_id", f"unknown image_id {image_id!r}: no such image in {coco_path.name}"
            )
            ok = False
        category_id = entry.get("category_id")
        if not _is_id(category_id) or category_id not in label_of:
            problems.add(
                row,
                "category_id",
                f"unknown category_id {category_id!r}: no such category in {coco_path.name}",
            )
            ok = False
        bbox = entry.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or not all(is_number(v) for v in bbox):
            problems.add(row, "bbox", f"must be [x, y, w, h], four finite numbers; got {bbox!r}")
            ok = False
        elif bbox[2] <= 0 or bbox[3] <= 0:
            problems.add(row, "bbox", f"width and height must be > 0, got {bbox!r}")
            ok = False
        why = check_confidence(entry.get("score"))
        if why is not None:
            problems.add(row, "score", why)
            ok = False
        if ok:
            rows.append(row_of[entry["image_id"]])
            xywh.append([float(v) for v in entry["bbox"]])
            labels.append(label_of[entry["category_id"]])
            scores.append(float(entry["score"]))
    return rows, xywh, labels, scores
