"""YOLO txt predictions: one ``labels/<image stem>.txt`` per image, beside ``images/``.

Each line of a label file is one box, ``class cx cy w h conf``: the class index, the box centre
and size normalised by the image's width and height (all in [0, 1]) and the detector's
confidence in [0, 1] (what ``yolo predict save_txt=True save_conf=True`` writes). Labels without
the confidence (five fields) are ground truth, not predictions, and are refused.

Layout (a folder; ``run.json`` is optional)::

    run/
      images/      the images, possibly in subfolders (jpg, jpeg, png, bmp, tif, tiff, webp, gif)
      labels/      <same subfolders>/<image stem>.txt
      classes.txt  one class name per line (line k names class k), or
      data.yaml    ``names:`` as a list or a {index: name} mapping (read only if PyYAML is
                   installed; classes.txt is preferred when both exist)
      run.json     optional: {"format": "yolo", "name", "model", "classes", "image_root", ...};
                   ``"predictions": "labels"`` names the label folder

A folder with ``labels/`` and ``images/`` and no run.json is recognised as YOLO. Rows are the
images (sorted by path); an image with no label file, or an empty one, has no boxes.
``data_row_id`` and ``image`` are the image's path relative to ``images/``. Boxes are converted to
pixels (``x, y`` top-left corner) with each image's size, read from its header with Pillow.

Problems name the label file, the 1-based line and the field (``class``, ``cx``, ``cy``, ``w``,
``h``, ``conf``; none when the line has the wrong number of fields).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from labelnext.boxes import Boxes
from labelnext.errors import ProblemLog, refuse
from labelnext.readers.build import declared_classes, make_run, resolve_image_root
from labelnext.readers.source import ContentHash, RunSource, contained, run_json_label
from labelnext.runs import ModelRun

__all__ = ["IMAGE_SUFFIXES", "is_yolo_folder", "read_yolo"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
FIELDS = ("class", "cx", "cy", "w", "h", "conf")


def is_yolo_folder(folder: Path) -> bool:
    """Whether ``folder`` has the YOLO layout: ``labels/`` and ``images/`` subfolders."""
    return (folder / "labels").is_dir() and (folder / "images").is_dir()


def read_yolo(found: RunSource, *, roots: Sequence[Path], max_problems: int) -> ModelRun:
    """Read a YOLO prediction folder into a detection ModelRun.

    Raises
    ------
    RunValidationError
        If a file is missing or malformed; each problem names file, line and field.
    """
    if found.folder is None:
        raise refuse(
            found.label,
            None,
            "YOLO predictions are a folder (images/, labels/*.txt, classes.txt), not one file: "
            "load the folder",
        )
    folder, config = found.folder, found.config
    problems = ProblemLog(found.label, max_problems)
    hasher = ContentHash()

    labels_name = config.get("labels", "labels")
    if not isinstance(labels_name, str) or not labels_name.strip():
        raise refuse(run_json_label(found), "labels", f"must name a folder, got {labels_name!r}")
    labels_dir = folder / labels_name
    if found.path is not None and found.path != folder:  # run.json "predictions": "labels"
        labels_dir = found.path  # contained when run.json was read
    contained(
        labels_dir,
        found.inside,
        file=run_json_label(found) if config else str(labels_dir),
        field="labels",
        what="label folder",
        shown=labels_name if labels_dir != found.path else found.path.name,
    )
    image_root = resolve_image_root(found, roots, problems, default=folder / "images")
    problems.raise_if_any()
    assert image_root is not None
    for needed, what in ((labels_dir, "label"), (image_root, "image")):
        if not needed.is_dir():
            raise refuse(str(needed), None, f"the YOLO {what} folder does not exist")
    label_inside = (labels_dir.resolve(), *roots)
    image_inside = (image_root, *roots)

    classes = _read_class_names(found, labels_dir, hasher, problems)
    problems.raise_if_any()

    images = sorted(
        p.relative_to(image_root).as_posix()
        for p in image_root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and _inside(p, image_inside) and p.is_file()
    )
    if not images:
        raise refuse(str(image_root), None, "the YOLO image folder holds no images")
    row_of: dict[str, int] = {}
    for i, name in enumerate(images):
        stem = name.rsplit(".", 1)[0]
        if stem in row_of:
            problems.add_about(
                str(image_root / name),
                None,
                "image",
                f"two images share the stem '{stem}' ({images[row_of[stem]]} and {name}), so "
                "one label file cannot name just one of them",
            )
        row_of[stem] = i

    rows: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    labels: list[int] = []
    scores: list[float] = []
    for label_path in sorted(labels_dir.rglob("*.txt")):
        if label_path.name == "classes.txt" and label_path.parent == labels_dir:
            continue
        rel = label_path.relative_to(labels_dir).with_suffix("").as_posix()
        _inside(label_path, label_inside)
        if not label_path.is_file():
            continue
        data = label_path.read_bytes()
        hasher.update(rel.encode() + b"\0" + data)
        if rel not in row_of:
            problems.add_about(
                str(label_path),
                None,
                "image",
                f"no image for this label file: expected {rel}.<extension> under {image_root} "
                f"(extensions: {', '.join(sorted(e[1:] for e in IMAGE_SUFFIXES))})",
            )
            continue
        parsed = _parse_label_file(data, str(label_path), len(classes), problems)
        if not parsed:
            continue
        image_path = image_root / images[row_of[rel]]
        size = _image_size(image_path, problems)
        if size is None:
            continue
        width, height = size
        for label, cx, cy, w, h, conf in parsed:
            rows.append(row_of[rel])
            boxes.append(((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height))
            labels.append(label)
            scores.append(conf)
    problems.raise_if_any()

    return make_run(
        found,
        roots=roots,
        task="detection",
        classes=classes,
        ids=images,
        images=images,
        boxes=Boxes.from_arrays(rows, boxes, labels, scores, n_rows=len(images)),
        content_hash=hasher.hexdigest(config),
        image_root=image_root,
    )


def _read_class_names(
    found: RunSource, labels_dir: Path, hasher: ContentHash, problems: ProblemLog
) -> list[str]:
    """Class names from classes.txt (the folder's or labels/'s) or data.yaml, checked against
    run.json ``classes``; run.json alone is enough when neither file exists."""
    assert found.folder is not None
    declared = declared_classes(found, problems)
    names: list[str] | None = None
    source = ""
    inside = (*found.inside, labels_dir.resolve())
    for candidate in (found.folder / "classes.txt", labels_dir / "classes.txt"):
        if _inside(candidate, inside) and candidate.is_file():
            data = candidate.read_bytes()
            hasher.update(data)
            names, source = _classes_txt(data, str(candidate), problems), str(candidate)
            break
    else:
        for candidate in (found.folder / "data.yaml", found.folder / "dataset.yaml"):
            if _inside(candidate, inside) and candidate.is_file():
                data = candidate.read_bytes()
                hasher.update(data)
                names, source = _yaml_names(data, str(candidate), problems), str(candidate)
                break
    if names is None:
        if declared is not None:
            return declared
        raise refuse(
            found.label,
            "classes",
            "no class names: add classes.txt (one name per line, line k names class k), a "
            "data.yaml with 'names:', or run.json 'classes'",
        )
    if declared is not None and names and declared != names:
        problems.add_about(
            run_json_label(found),
            None,
            "classes",
            f"run.json classes {declared} do not match {Path(source).name} {names}",
        )
    if not names and not problems.items:
        problems.add_about(source, None, "classes", "names no classes")
    return names


def _inside(path: Path, inside: Sequence[Path]) -> bool:
    """True for a file that is no link, or a link into ``inside``; a link that leads out is
    refused (before its target is stat'ed). Folders are walked without following links, so a
    file found below a contained folder that is no link lies inside it."""
    if path.is_symlink():
        contained(path, inside, file=str(path), field=None, what="file", shown=path.name)
    return True


def _classes_txt(data: bytes, file: str, problems: ProblemLog) -> list[str]:
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        problems.add_about(file, None, None, "not UTF-8 text")
        return []
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    for number, name in enumerate(names, start=1):
        if not name:
            problems.add_about(
                file,
                number,
                "classes",
                f"empty class name (class index {number - 1} would have no name)",
            )
        elif name in names[: number - 1]:
            problems.add_about(file, number, "classes", f"duplicate class name '{name}'")
    return names


def _yaml_names(data: bytes, file: str, problems: ProblemLog) -> list[str]:
    try:
        import yaml
    except ImportError:
        problems.add_about(
            file,
            None,
            "names",
            "reading data.yaml needs PyYAML (pip install pyyaml); or write the names to "
            "classes.txt, one per line",
        )
        return []
    try:
        content: Any = yaml.safe_load(data.decode("utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.add_about(file, None, None, f"not valid YAML: {exc}")
        return []
    names = content.get("names") if isinstance(content, dict) else None
    if isinstance(names, dict):
        keys = sorted(names)
        if keys != list(range(len(keys))):
            problems.add_about(
                file, None, "names", f"indices must be 0..{len(keys) - 1}, got {keys}"
            )
            return []
        return [str(names[k]) for k in keys]
    if isinstance(names, list):
        return [str(n) for n in names]
    problems.add_about(file, None, "names", "needs 'names:' as a list or {index: name}")
    return []


def _parse_label_file(
    data: bytes, file: str, n_classes: int, problems: ProblemLog
) -> list[tuple[int, float, float, float, float, float]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1
        problems.add_about(file, bad_line, None, "not UTF-8 text")
        return []
    parsed = []
    for number, content in enumerate(text.splitlines(), start=1):
        parts = content.split()
        if not parts:
            continue
        if len(parts) != len(FIELDS):
            hint = " (a label without confidence: predictions need conf)" if len(parts) == 5 else ""
            problems.add_about(
                file,
                number,
                None,
                f"expected 6 fields 'class cx cy w h conf', got {len(parts)}{hint}",
            )
            continue
        values: list[float] = []
        for name, part in zip(FIELDS, parts, strict=True):
            try:
                value = float(part)
            except ValueError:
                problems.add_about(file, number, name, f"not a number: {part!r}")
                break
            if not math.isfinite(value):
                problems.add_about(file, number, name, f"not a finite number: {part!r}")
                break
            values.append(value)
        else:
            box = _check_box(values, file, number, n_classes, problems)
            if box is not None:
                parsed.append(box)
    return parsed


def _check_box(
    values: list[float], file: str, number: int, n_classes: int, problems: ProblemLog
) -> tuple[int, float, float, float, float, float] | None:
    label, cx, cy, w, h, conf = values
    ok = True
    if not label.is_integer() or not 0 <= label < n_classes:
        problems.add_about(
            file,
            number,
            "class",
            f"class index {label:g} is not one of 0..{n_classes - 1} (the class-names file "
            f"names {n_classes})",
        )
        ok = False
    for name, value in (("cx", cx), ("cy", cy), ("w", w), ("h", h)):
        if not 0.0 <= value <= 1.0:
            problems.add_about(
                file, number, name, f"normalised coordinate {value:g} outside [0, 1]"
            )
            ok = False
        elif name in ("w", "h") and value == 0.0:
            problems.add_about(file, number, name, "box width and height must be > 0")
            ok = False
    if not 0.0 <= conf <= 1.0:
        problems.add_about(file, number, "conf", f"confidence {conf:g} outside [0, 1]")
        ok = False
    return (int(label), cx, cy, w, h, conf) if ok else None


def _image_size(path: Path, problems: ProblemLog) -> tuple[int, int] | None:
    """Width and height from the image header (Pillow reads no pixels for this)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError) as exc:
        problems.add_about(str(path), None, "image", f"cannot read the image size: {exc}")
        return None
    return int(width), int(height)
