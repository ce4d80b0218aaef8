"""What the foreign readers share: reading files with located errors, and building the ModelRun.

Every reader collects problems through :class:`labelnext.runs._Problems` (file, 1-based row or
line, field) and only builds a :class:`~labelnext.runs.ModelRun` once none were found, so a bad
file never half-loads.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelnext.boxes import Boxes
from labelnext.errors import Problem, RunValidationError
from labelnext.runs import ModelRun, RunSource, _check_image_refs, _inside, _Problems


class ContentHash:
    """sha256 over every byte a reader used (and run.json), so a changed file changes the hash."""

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def hexdigest(self, config: dict[str, Any]) -> str:
        hasher = self._hasher.copy()
        if config:
            hasher.update(json.dumps(config, sort_keys=True).encode())
        return hasher.hexdigest()


def read_bytes(path: Path, label: str, max_problems: int) -> bytes:
    """A file's bytes, or a RunValidationError naming it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise _Problems(label, max_problems).fail(None, None, "file not found") from None
    except IsADirectoryError:
        raise _Problems(label, max_problems).fail(
            None, None, "is a folder, expected a file"
        ) from None
    except OSError as exc:
        raise _Problems(label, max_problems).fail(
            None, None, f"cannot read: {exc.strerror}"
        ) from None


def decode(data: bytes, problems: _Problems) -> str:
    """UTF-8 text (a BOM is dropped); an undecodable byte is reported with its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise problems.fail(
            line, None, f"unreadable encoding: byte 0x{data[exc.start]:02x} is not UTF-8"
        ) from None


def parse_json(data: bytes, problems: _Problems) -> Any:
    """A whole JSON document; a syntax error names its line and column."""
    text = decode(data, problems)
    if not text.strip():
        raise problems.fail(None, None, "the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise problems.fail(
            None, None, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (``true``/``false`` are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_confidence(value: object) -> str | None:
    """Why ``value`` is not a confidence in [0, 1], or None if it is one."""
    if value is None:
        return "missing: a prediction needs a confidence in [0, 1]"
    if not is_number(value):
        return f"must be a finite number in [0, 1], got {value!r}"
    if not 0.0 <= float(value) <= 1.0:
        return f"must lie in [0, 1], got {value!r}"
    return None


def add_problem(
    problems: _Problems, file: str, row: int | None, field: str | None, message: str
) -> None:
    """Add a problem about another file than ``problems.file`` (run.json, a class file...)."""
    if len(problems.items) >= problems.limit:
        problems.truncated = True
        return
    problems.items.append(Problem(file, row, field, message))


def declared_classes(
    config: dict[str, Any], run_json: str, problems: _Problems
) -> list[str] | None:
    """run.json ``classes``, if given, as a list of names."""
    value = config.get("classes")
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(c, str | int) and not isinstance(c, bool) for c in value
    ):
        add_problem(
            problems, run_json, None, "classes", "run.json 'classes' must be a list of class names"
        )
        return None
    names = [str(c) for c in value]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        add_problem(problems, run_json, None, "classes", f"duplicate class names: {', '.join(dup)}")
    return names


def run_json_label(found: RunSource) -> str:
    """How messages name the run.json of ``found``."""
    return str(found.folder / "run.json") if found.folder is not None else found.label


def resolve_image_root(
    found: RunSource, roots: Sequence[Path], problems: _Problems, default: Path | None = None
) -> Path | None:
    """The folder relative image references start from, as :func:`labelnext.runs.build_run` does.

    run.json ``image_root`` (relative to the run folder, and inside it or the allowed roots);
    else ``default``; else the run folder; else the folder of a bare file; else None (an upload).
    """
    config, folder = found.config, found.folder
    if config.get("image_root"):
        assert folder is not None  # config comes from a run folder's run.json
        image_root = (folder / str(config["image_root"])).resolve()
        if not _inside(image_root, [folder.resolve(), *roots]):
            add_problem(
                problems,
                run_json_label(found),
                None,
                "image_root",
                f"image_root '{config['image_root']}' resolves to {image_root}, outside the "
                "run folder and the allowed roots",
            )
        return image_root
    if default is not None:
        return default.resolve()
    if folder is not None:
        return folder.resolve()
    if found.path is not None:
        return found.path.parent.resolve()
    return None


def check_images(
    images: NDArray[np.object_], image_root: Path | None, roots: Sequence[Path], problems: _Problems
) -> None:
    """Refuse image references that leave the image root and the allowed roots."""
    _check_image_refs(images, image_root, roots, problems)


def build_foreign_run(
    found: RunSource,
    *,
    roots: Sequence[Path],
    task: str,
    classes: Sequence[str],
    ids: Sequence[str],
    content_hash: str,
    image_root: Path | None,
    metadata: dict[str, Any] | None = None,
    images: Sequence[str | None] | None = None,
    probabilities: NDArray[np.float32] | None = None,
    top1_labels: Sequence[str] | None = None,
    top1_confidence: NDArray[np.float32] | None = None,
    boxes: Boxes | None = None,
) -> ModelRun:
    """A complete ModelRun from already validated parts (the readers call this last)."""
    config, folder = found.config, found.folder
    n = len(ids)
    frame = pd.DataFrame(metadata or {}, index=pd.RangeIndex(n))
    name = str(config.get("name") or (folder.name if folder else Path(found.label).stem))
    return ModelRun(
        name=name,
        task=task,
        classes=tuple(classes),
        ids=np.asarray(list(ids), dtype=object),
        probabilities=probabilities,
        metadata=frame,
        source=str(folder) if folder is not None else found.label,
        content_hash=content_hash,
        model=_opt_str(config.get("model")),
        version=_opt_str(config.get("version")),
        created=_opt_str(config.get("created")),
        images=None if images is None else np.asarray(list(images), dtype=object),
        top1_labels=None if top1_labels is None else np.asarray(list(top1_labels), dtype=object),
        top1_confidence=top1_confidence,
        image_root=image_root,
        allowed_roots=tuple(roots),
        boxes=boxes,
        threshold=float(config.get("threshold", 0.5)),
    )


def refuse(file: str, field: str | None, message: str) -> RunValidationError:
    """A one-problem error about a whole file."""
    return RunValidationError([Problem(file, None, field, message)])


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
