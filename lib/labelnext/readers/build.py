"""One builder for every run, and the run.json settings every reader shares.

The native reader and each foreign reader validate their own files, then hand the parts to
:func:`make_run`, so every :class:`~labelnext.runs.ModelRun` gets its name, source, model,
version, threshold and allowed roots by the same rules, whatever format it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from numpy.typing import NDArray

from labelnext.boxes import Boxes
from labelnext.errors import PathNotAllowedError, ProblemLog
from labelnext.paths import contain
from labelnext.readers.columns import check_id_text
from labelnext.readers.source import RunSource, run_json_label
from labelnext.runs import ModelRun

__all__ = ["declared_classes", "make_run", "resolve_image_root"]


def declared_classes(
    found: RunSource, problems: ProblemLog, *, fallback: list[str] | None = None
) -> list[str] | None:
    """run.json ``classes`` as a list of names, else ``fallback`` (e.g. the Parquet schema's).

    Raises
    ------
    RunValidationError
        If run.json ``classes`` is not a list of names, or names a class twice (named in
        run.json).
    """
    value = found.config.get("classes")
    if value is None:
        return fallback
    where = run_json_label(found)
    if not isinstance(value, list) or not all(
        isinstance(c, str | int) and not isinstance(c, bool) for c in value
    ):
        problems.add_about(where, None, "classes", "run.json 'classes' must be a list of names")
        problems.raise_if_any()
    names = [str(c) for c in value]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        problems.add_about(where, None, "classes", f"duplicate class names: {', '.join(dup)}")
        problems.raise_if_any()
    return names


def resolve_image_root(
    found: RunSource, roots: Sequence[Path], problems: ProblemLog, default: Path | None = None
) -> Path | None:
    """The folder relative image references start from.

    run.json ``image_root`` (relative to the run folder, and inside it or the allowed roots);
    else ``default`` (inside the same); else the run folder; else the folder of a bare file;
    else None (an upload). The folder is checked before anything in it is stat'ed.

    Raises
    ------
    RunValidationError
        If ``image_root`` (or ``default``) lies outside the run folder and ``roots``; naming
        run.json and the field, in the same words whether the folder exists or not.
    """
    config, folder = found.config, found.folder
    inside = [*([folder.resolve()] if folder is not None else []), *roots]
    named = config.get("image_root")
    if named is not None and named != "":
        if folder is None:  # pragma: no cover - config only comes from a run folder's run.json
            raise ValueError("run.json settings without a run folder")
        if not isinstance(named, str):
            problems.add_about(
                run_json_label(found), None, "image_root", f"must name a folder, got {named!r}"
            )
            problems.raise_if_any()
        try:
            return contain(folder / str(named), inside, what="image_root", shown=str(named))
        except PathNotAllowedError as exc:
            problems.add_about(run_json_label(found), None, "image_root", str(exc))
            problems.raise_if_any()
    if default is not None:
        if folder is None:
            return default.resolve()
        try:
            return contain(default, inside, what="image folder", shown=default.name)
        except PathNotAllowedError as exc:
            problems.add_about(str(default), None, "image_root", str(exc))
            problems.raise_if_any()
    if folder is not None:
        return folder.resolve()
    if found.path is not None:  # a bare file: its images sit beside it
        return found.path.parent.resolve()
    return None


def make_run(
    found: RunSource,
    *,
    roots: Sequence[Path],
    task: str,
    classes: Sequence[str],
    ids: Sequence[str] | NDArray[np.object_] | pa.Array,
    content_hash: str,
    image_root: Path | None,
    metadata: pd.DataFrame | dict[str, Any] | None = None,
    images: Sequence[str | None] | NDArray[np.object_] | pa.Array | None = None,
    probabilities: NDArray[np.float32] | None = None,
    top1_labels: Sequence[str] | NDArray[np.object_] | None = None,
    top1_confidence: NDArray[np.float32] | None = None,
    boxes: Boxes | None = None,
    samples: NDArray[np.float32] | None = None,
    embedding: NDArray[np.float32] | None = None,
    ground_truth: NDArray[np.object_] | None = None,
    id_rank: NDArray[np.int64] | None = None,
    ids_checked: bool = False,
) -> ModelRun:
    """A complete ModelRun from validated parts; run.json gives name, model, version...

    ``id_rank`` passes on the ids' sorted ranks when the reader already sorted them;
    ``ids_checked`` says the reader has already refused NUL characters and over-long ids (else
    they are checked here, rows numbered in the run's order).

    Raises
    ------
    RunValidationError
        If the run has more rows than ``found.limits`` allow, or an id the ledger cannot store.
    """
    config, folder = found.config, found.folder
    n = len(ids)
    problems = ProblemLog(found.label, 50)
    why = found.limits.rows_message(n)
    if why is not None:
        raise problems.fail(None, None, why)
    if not ids_checked and n:
        check_id_text(
            ids if isinstance(ids, pa.Array) else pa.array(list(ids), type=pa.string()), problems
        )
        problems.raise_if_any()
    if isinstance(metadata, pd.DataFrame):
        frame = metadata
        frame.index = pd.RangeIndex(n)
    else:
        frame = pd.DataFrame(metadata or {}, index=pd.RangeIndex(n))
    name = str(config.get("name") or (folder.name if folder else Path(found.label).stem))
    return ModelRun(
        name=name,
        task=task,
        classes=tuple(classes),
        ids=ids if isinstance(ids, pa.Array) else _objects(ids),
        probabilities=probabilities,
        metadata=frame,
        source=str(folder) if folder is not None else found.label,
        content_hash=content_hash,
        model=_opt_str(config.get("model")),
        version=_opt_str(config.get("version")),
        created=_opt_str(config.get("created")),
        images=images if images is None or isinstance(images, pa.Array) else _objects(images),
        top1_labels=None if top1_labels is None else _objects(top1_labels),
        top1_confidence=top1_confidence,
        embedding=embedding,
        ground_truth=ground_truth,
        image_root=image_root,
        allowed_roots=tuple(roots),
        samples=samples,
        boxes=boxes,
        threshold=float(config.get("threshold", 0.5)),
        presorted_id_rank=id_rank,
    )


def _objects(values: Sequence[Any] | NDArray[Any]) -> NDArray[np.object_]:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    return np.asarray(list(values), dtype=object)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
