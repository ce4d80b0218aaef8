"""Model runs in: read a model's predictions on unlabeled data rows into one canonical form.

A *model run* is one model version's predictions on a set of data rows. It arrives as a CSV,
Parquet or JSON Lines file (a path, or the bytes of an upload), alone or in a *run folder* beside a
``run.json`` that names the model, the task, the classes and where the images are; or as the
files other tools write (COCO results, YOLO txt folders, Labelbox prediction NDJSON).

Classification predictions are accepted as

* wide per-class probability columns ``prob_<class>``;
* one list column ``probabilities`` whose class names come from ``run.json`` or from the Parquet
  schema metadata key ``labelnext.classes`` (a JSON list);
* logits ``logit_<class>``, turned into probabilities with a numerically safe softmax;
* top-1 only: ``predicted_label`` and ``confidence`` (then only least confidence is defined).

``data_row_id`` is required. ``image`` (a reference to the row's image), ``embedding`` (a list of
floats; a JSON list in CSV) and ``ground_truth`` (for evaluation only) are optional. Every other
column is kept as metadata.

Validation reports every problem it finds, up to a limit, each naming the file, the 1-based row
(or line) and the field. A bad file never half-loads: :func:`load_run` returns a complete
:class:`~labelnext.runs.ModelRun` or raises :class:`~labelnext.errors.RunValidationError`.

The package, from the top down: this dispatcher; the readers (:mod:`.native` for labelnext's own
files, :mod:`.coco`, :mod:`.yolo`, :mod:`.labelbox`); and below them what they share
(:mod:`.source` files and run.json, :mod:`.tables` parsing, :mod:`.columns` and :mod:`.tasks`
validators, :mod:`.build` the one run builder).

How a source is recognised, first match wins:

1. a run folder whose ``run.json`` has ``"format"``: ``"coco"``, ``"yolo"`` or ``"labelbox"``
   (``"labelnext"`` or no ``format``: labelnext's own files);
2. a folder without ``run.json`` holding ``labels/`` and ``images/``: YOLO;
3. a folder without ``run.json`` holding one COCO file and one results file: COCO;
4. a ``.ndjson``/``.jsonl`` file whose first object has ``dataRow``: Labelbox;
5. a ``.json`` file holding COCO results or a COCO file: COCO, refused with a message naming the
   missing piece (results need the COCO file that names images and categories).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from labelnext import paths
from labelnext.errors import refuse
from labelnext.readers.coco import find_coco_pair, looks_like_coco_json, read_coco
from labelnext.readers.labelbox import looks_like_labelbox, read_labelbox
from labelnext.readers.limits import Limits
from labelnext.readers.native import read_native
from labelnext.readers.source import (
    SUPPORTED_SUFFIXES,
    RunSource,
    check_upload_name,
    first_line,
    locate_run,
    run_json_label,
)
from labelnext.readers.yolo import is_yolo_folder, read_yolo
from labelnext.runs import ModelRun

__all__ = [
    "FOREIGN_FORMATS",
    "SUPPORTED_SUFFIXES",
    "Limits",
    "check_upload_name",
    "detect_format",
    "load_run",
    "locate_run",
]

FOREIGN_FORMATS = ("coco", "yolo", "labelbox")
_NATIVE = ("labelnext", "")
_FOREIGN_READERS: dict[str, Callable[..., ModelRun]] = {
    "coco": read_coco,
    "yolo": read_yolo,
    "labelbox": read_labelbox,
}


def load_run(
    source: str | os.PathLike[str] | bytes,
    *,
    filename: str | None = None,
    allowed_roots: Sequence[Path] | None = None,
    renormalize: bool = False,
    max_problems: int = 50,
    require_inside: Sequence[Path] | None = None,
    limits: Limits | None = None,
) -> ModelRun:
    """Load a model run from a predictions file, a run folder, or the bytes of an upload.

    Parameters
    ----------
    source : str, path-like or bytes
        A ``.csv``, ``.parquet`` or ``.jsonl``/``.ndjson`` file; a folder holding ``run.json``;
        a ``run.json`` file; a COCO or YOLO folder; or the bytes of a predictions file (then
        ``filename`` is required).
    filename : str, optional
        Name of the uploaded file: picks the format and names the file in messages. An upload
        named ``run.json`` is refused (run.json belongs in a run folder on the server).
    allowed_roots : sequence of Path, optional
        Folders that every path the run's files name (run.json ``predictions``,
        ``image_root``, ``coco``, ``labels``; image references) must lie in, besides the run
        folder. Defaults to :func:`labelnext.paths.allowed_roots`.
    renormalize : bool, default=False
        Divide each probability row by its sum when it does not sum to 1. Off by default: rows
        that do not sum to 1 are reported, never silently changed.
    max_problems : int, default=50
        Stop collecting problems after this many.
    require_inside : sequence of Path, optional
        When given, ``source`` itself (a file or a folder) must lie in one of these folders,
        checked before it is opened or stat'ed (a server passes its allowed roots; the CLI
        passes None, so a person may point it at any file). The files run.json names are
        contained either way.
    limits : Limits, optional
        The most rows, columns and decoded bytes the run may have (default
        :meth:`Limits.from_settings`: ``LABELNEXT_MAX_RUN_ROWS``, ``_COLUMNS``, ``_MB``); a
        server passes :meth:`Limits.for_upload` for uploads. Checked before the memory is spent.

    Returns
    -------
    ModelRun

    Raises
    ------
    RunValidationError
        If anything is wrong; ``.problems`` lists file, 1-based row and field of each problem.
    PathNotAllowedError
        If ``require_inside`` is given and ``source`` lies outside it.

    Examples
    --------
    >>> from labelnext.paths import SAMPLE_DATA_DIR
    >>> run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    >>> run.n_rows, run.classes[:3], run.task
    (4875, ('0', '1', '2'), 'classification')
    """
    if max_problems < 1:
        raise ValueError(f"max_problems must be >= 1, got {max_problems}")
    if limits is not None and not isinstance(limits, Limits):
        raise TypeError(f"limits must be a labelnext.readers.Limits, got {type(limits).__name__}")
    if filename is not None:
        check_upload_name(filename)
    if require_inside is not None and not isinstance(source, bytes | bytearray | memoryview):
        shown = os.fspath(source)
        paths.contain(shown, [Path(r).resolve() for r in require_inside], what="run", shown=shown)
    roots = tuple(
        Path(r).resolve()
        for r in (allowed_roots if allowed_roots is not None else paths.allowed_roots())
    )
    found = locate_run(
        source, filename=filename, max_problems=max_problems, roots=roots, limits=limits
    )
    kind = detect_format(found)
    if kind is None:
        return read_native(found, roots, renormalize=renormalize, max_problems=max_problems)
    reader = _FOREIGN_READERS.get(kind)
    if reader is None:
        raise refuse(
            run_json_label(found),
            "format",
            f"unknown format {kind!r}; known formats: {', '.join(FOREIGN_FORMATS)} "
            "(or leave 'format' out for labelnext's own CSV, Parquet and JSON Lines files)",
        )
    return reader(found, roots=roots, max_problems=max_problems)


def detect_format(found: RunSource) -> str | None:
    """The foreign format of ``found`` (``"coco"``, ``"yolo"``, ``"labelbox"``) or None.

    An unknown run.json ``format`` is returned as given, so that :func:`load_run` can refuse it
    with a message naming run.json.
    """
    declared = found.config.get("format")
    if declared is not None and str(declared).lower() not in _NATIVE:
        return str(declared).lower()
    if declared is not None:
        return None
    if found.path is None and found.data is None:
        if found.folder is None:
            return None
        if is_yolo_folder(found.folder):
            return "yolo"
        if find_coco_pair(found.folder, found.inside) is not None:
            return "coco"
        return None
    if found.suffix in (".ndjson", ".jsonl"):
        return "labelbox" if looks_like_labelbox(first_line(found)) else None
    if found.suffix == ".json":
        if found.data is not None or (found.path is not None and looks_like_coco_json(found.path)):
            return "coco"
    return None
