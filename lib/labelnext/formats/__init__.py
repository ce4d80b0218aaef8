"""Prediction files that other tools write: Labelbox NDJSON, COCO results, YOLO txt folders.

:func:`detect_format` recognises them; :func:`read_foreign` turns them into a
:class:`~labelnext.runs.ModelRun` with the same validation rules as the core loader (messages name
file, line and field; nothing half-loads). :func:`labelnext.runs.load_run` calls both, so every
entry point (library, CLI, dashboard) reads these files.

How a source is recognised, first match wins:

1. a run folder whose ``run.json`` has ``"format"``: ``"coco"``, ``"yolo"`` or ``"labelbox"``
   (``"labelnext"`` or no ``format``: the core loader's own files);
2. a folder without ``run.json`` holding ``labels/`` and ``images/``: YOLO
   (:mod:`labelnext.formats.yolo`);
3. a folder without ``run.json`` holding one COCO file and one results file: COCO
   (:mod:`labelnext.formats.coco`);
4. a ``.ndjson``/``.jsonl`` file whose first object has ``dataRow``: Labelbox
   (:mod:`labelnext.formats.labelbox`);
5. a ``.json`` file holding COCO results or a COCO file: COCO, refused with a message naming the
   missing piece (results need the COCO file that names images and categories).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from labelnext.formats._assemble import refuse, run_json_label

if TYPE_CHECKING:
    from labelnext.runs import ModelRun, RunSource

__all__ = ["FORMATS", "detect_format", "read_foreign"]

FORMATS = ("coco", "yolo", "labelbox")
_NATIVE = ("labelnext", "")
_PEEK_BYTES = 65_536


def detect_format(found: RunSource) -> str | None:
    """The foreign format of ``found`` (``"coco"``, ``"yolo"``, ``"labelbox"``) or None.

    An unknown run.json ``format`` is returned as given, so that :func:`read_foreign` can
    refuse it with a message naming run.json.
    """
    from labelnext.formats.coco import find_coco_pair, looks_like_coco_json
    from labelnext.formats.labelbox import looks_like_labelbox
    from labelnext.formats.yolo import is_yolo_folder

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
        if find_coco_pair(found.folder) is not None:
            return "coco"
        return None
    if found.suffix in (".ndjson", ".jsonl"):
        return "labelbox" if looks_like_labelbox(_first_line(found)) else None
    if found.suffix == ".json":
        if found.data is not None or (found.path is not None and looks_like_coco_json(found.path)):
            return "coco"
    return None


def read_foreign(
    kind: str, found: RunSource, *, roots: Sequence[Path], max_problems: int
) -> ModelRun:
    """Read a foreign prediction file of format ``kind`` into a ModelRun.

    Raises
    ------
    RunValidationError
        If the format is unknown or the files are malformed; problems name file, row (or line)
        and field.
    """
    from labelnext.formats.coco import read_coco
    from labelnext.formats.labelbox import read_labelbox
    from labelnext.formats.yolo import read_yolo

    readers: dict[str, Callable[..., ModelRun]] = {
        "coco": read_coco,
        "yolo": read_yolo,
        "labelbox": read_labelbox,
    }
    reader = readers.get(kind)
    if reader is None:
        raise refuse(
            run_json_label(found),
            "format",
            f"unknown format {kind!r}; known formats: {', '.join(FORMATS)} "
            "(or leave 'format' out for labelnext's own CSV, Parquet and JSON Lines files)",
        )
    return reader(found, roots=roots, max_problems=max_problems)


def _first_line(found: RunSource) -> str:
    """The first non-blank line of an NDJSON source (read from at most its first 64 KiB)."""
    if found.data is not None:
        head = found.data[:_PEEK_BYTES]
    elif found.path is not None:
        try:
            with found.path.open("rb") as handle:
                head = handle.read(_PEEK_BYTES)
        except OSError:
            return ""
    else:
        return ""
    text = head.decode("utf-8-sig", errors="replace")
    for line in text.splitlines():
        if line.strip():
            return line
    return ""
