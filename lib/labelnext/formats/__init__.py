"""Prediction files that other tools write: Labelbox NDJSON, COCO results, YOLO txt folders.

:func:`detect_format` recognises them; :func:`read_foreign` turns them into a
:class:`~labelnext.runs.ModelRun` with the same validation rules as the core loader (messages name
file, line and field; nothing half-loads). :func:`labelnext.runs.load_run` calls both, so every
entry point (library, CLI, dashboard) reads these files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labelnext.runs import ModelRun, RunSource

__all__ = ["detect_format", "read_foreign"]


def detect_format(found: RunSource) -> str | None:
    """The foreign format of ``found`` (``"coco"``, ``"yolo"``, ``"labelbox"``) or None."""
    return None


def read_foreign(
    kind: str, found: RunSource, *, roots: Sequence[Path], max_problems: int
) -> ModelRun:
    """Read a foreign prediction file of format ``kind`` into a ModelRun."""
    raise NotImplementedError(kind)
