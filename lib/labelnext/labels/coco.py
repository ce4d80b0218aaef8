"""COCO annotations (detection ground truth): ``images``, ``annotations`` and ``categories``.

The data row of an image is its ``file_name``, as labelnext's COCO run reader names rows
(:mod:`labelnext.formats.coco`), so labels join the run they came from. Each annotation's
``bbox`` is ``[x, y, w, h]`` in pixels and its class the name of its ``category_id``. An image
with no annotation is labeled "no objects" (an empty box list) unless ``include_empty=False``.
COCO records no labeler or time: ``labeled_by`` and ``labeled_at`` are None. The category names
are the file's class list: with ``classes`` given, a category list that differs is a problem.
Problems name the file, the 1-based position in the ``images``, ``annotations`` or
``categories`` array (as ``row``) and the field.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeGuard

from labelnext.errors import ProblemLog
from labelnext.labels.table import (
    Entry,
    LabelSet,
    Reading,
    Source,
    box_problem,
    check_class_list,
    check_classes_argument,
    check_task,
    finish,
    label_problems,
    make_box,
    read_source,
    sort_boxes,
)
from labelnext.readers.coco import id_name_pairs
from labelnext.readers.source import parse_json

__all__ = ["looks_like_coco", "read_coco_labels"]


def looks_like_coco(document: object) -> bool:
    """Whether a parsed JSON document is a COCO file (an object with ``images``)."""
    return isinstance(document, dict) and ("images" in document or "annotations" in document)


def _is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def read_coco_labels(
    source: Source,
    *,
    filename: str | None = None,
    classes: Sequence[str] | None = None,
    task: str | None = None,
    known_ids: Collection[str] | None = None,
    include_empty: bool = True,
) -> LabelSet:
    """Read COCO annotations into a detection :class:`~labelnext.labels.LabelSet`.

    Parameters
    ----------
    source : path, bytes or binary file object
    filename : str, optional
        How messages name the file.
    classes : sequence of str, optional
        The run's classes; the file's category names must be the same set.
    task : {"detection"}, optional
        COCO annotations are detection labels; any other task is refused.
    known_ids : collection of str, optional
        The data rows (image file names) labels may be given for.
    include_empty : bool, default=True
        Label images without annotations "no objects"; False leaves them out.

    Raises
    ------
    LabelFileError
        Every problem found (up to 50), each naming file, array position and field.
    """
    check_task(task)
    if task not in (None, "detection"):
        raise ValueError(f"COCO annotations are detection labels; task {task!r} does not apply")
    wanted = check_classes_argument(classes)
    data, name = read_source(source, filename)
    problems = label_problems(name)
    document = parse_json(data, problems)
    if isinstance(document, list):
        raise problems.fail(
            None,
            None,
            "holds a JSON array: COCO detection results (a model's predictions) or Label Studio "
            "tasks, not COCO annotations {images, annotations, categories}",
        )
    if not isinstance(document, dict):
        raise problems.fail(None, None, "a COCO file must hold a JSON object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(document.get(key), list):
            problems.add(None, key, f"a COCO annotations file needs an '{key}' array")
    problems.raise_if_any()
    images = id_name_pairs(document["images"], "images", "file_name", problems)
    categories = dict(id_name_pairs(document["categories"], "categories", "name", problems))
    check_class_list(sorted(categories.values()), wanted, problems, "categories")
    problems.raise_if_any()
    boxes: dict[int, list[dict[str, Any]]] = {image_id: [] for image_id, _ in images}
    seen: dict[int, int] = {}
    for i, annotation in enumerate(document["annotations"]):
        _annotation(i + 1, annotation, boxes, categories, seen, problems)
    reading = Reading()
    row_of = {image_id: i + 1 for i, (image_id, _) in enumerate(images)}
    for image_id, file_name in images:
        if not boxes[image_id] and not include_empty:
            continue
        reading.entries.append(
            Entry(
                data_row_id=file_name,
                label=sort_boxes(boxes[image_id]),
                labeled_by=None,
                labeled_at=None,
                row=row_of[image_id],
                where=f"images[{row_of[image_id] - 1}]",
                field="annotations",
            )
        )
    return finish(
        reading, problems, task="detection", fmt="coco", classes=wanted, known_ids=known_ids
    )


def _annotation(
    row: int,
    annotation: Any,
    boxes: dict[int, list[dict[str, Any]]],
    categories: dict[int, str],
    seen: dict[int, int],
    problems: ProblemLog,
) -> None:
    if not isinstance(annotation, dict):
        problems.add(row, "annotations", "must be an object {id, image_id, category_id, bbox}")
        return
    annotation_id = annotation.get("id")
    if _is_id(annotation_id):
        if annotation_id in seen:
            problems.add(
                row,
                "annotations.id",
                f"duplicate annotation id {annotation_id} (first on row {seen[annotation_id]})",
            )
            return
        seen[annotation_id] = row
    image_id, category_id = annotation.get("image_id"), annotation.get("category_id")
    bbox = annotation.get("bbox")
    if not _is_id(image_id) or image_id not in boxes:
        problems.add(row, "annotations.image_id", f"unknown image_id {image_id!r}: no such image")
    elif not _is_id(category_id) or category_id not in categories:
        problems.add(
            row,
            "annotations.category_id",
            f"unknown category_id {category_id!r}: no such category",
        )
    elif not isinstance(bbox, list) or len(bbox) != 4:
        problems.add(row, "annotations.bbox", f"must be [x, y, w, h], got {bbox!r}")
    else:
        why = box_problem(bbox, ["x", "y", "w", "h"])
        if why is not None:
            problems.add(row, "annotations.bbox", why)
        else:
            x, y, w, h = (float(v) for v in bbox)
            boxes[image_id].append(make_box(x, y, w, h, categories[category_id]))
