"""A bundle: the zip archive a tool's export ships as (the same batch gives the same bytes), and
the batch provenance every bundle carries."""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from labelnext.ledger import BatchInfo

__all__ = ["model_version", "provenance", "write_atomically", "zip_files"]

# Fixed timestamps: the same batch exports to the same bytes.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
# Already-compressed images are stored, not deflated again.
_STORED_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def zip_files(files: Mapping[str, str | bytes]) -> bytes:
    """A zip archive of ``files`` (name -> text or bytes), in the mapping's order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            stored = name.lower().endswith(_STORED_SUFFIXES)
            entry.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            data = content.encode("utf-8") if isinstance(content, str) else content
            archive.writestr(entry, data)
    return buffer.getvalue()


def model_version(info: BatchInfo) -> str:
    """``model:version`` of the batch's run, else its model or run name, else ``labelnext``."""
    if info.run_model and info.run_version:
        return f"{info.run_model}:{info.run_version}"
    return info.run_model or info.run_name or "labelnext"


def provenance(info: BatchInfo) -> dict[str, Any]:
    """Where a batch came from, as JSON-ready values."""
    return {
        "batch_id": info.batch_id,
        "name": info.name,
        "project": info.project,
        "priority": info.priority,
        "note": info.note,
        "created_by": info.created_by,
        "created_at": info.created_at.isoformat(),
        "strategy": info.strategy,
        "strategy_params": info.strategy_params,
        "run": info.run_name,
        "model_version": model_version(info),
        "n_rows": info.n_rows,
    }


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path`` and move it into place: a failed write leaves no file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
