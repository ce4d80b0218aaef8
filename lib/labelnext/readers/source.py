"""Where a run's files are, and reading them: run.json, bytes, text, JSON, and the content hash.

Every reader (labelnext's own files and the foreign formats) finds its files through
:func:`locate_run` and reads them with the functions here, so a missing file, an undecodable byte
or broken JSON is reported the same way whatever the format: with the file, the line when there is
one, and nothing half-loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelnext.errors import ProblemLog

__all__ = [
    "PARQUET_SUFFIXES",
    "SUPPORTED_SUFFIXES",
    "ContentHash",
    "RunSource",
    "decode",
    "first_line",
    "head_text",
    "iter_json_objects",
    "locate_run",
    "parse_json",
    "read_bytes",
    "run_json_label",
]

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
_PEEK_BYTES = 65_536


@dataclass(frozen=True)
class RunSource:
    """Where a run's predictions are: a file (``path``) or an upload's bytes (``data``).

    ``folder`` is the run folder when there is one (its ``run.json`` is ``config``); a folder
    without run.json (a YOLO or COCO folder) has ``path`` and ``data`` both None.
    """

    label: str
    suffix: str
    config: dict[str, Any]
    folder: Path | None
    path: Path | None
    data: bytes | None


def run_json_label(found: RunSource) -> str:
    """How messages name the run.json of ``found``."""
    return str(found.folder / "run.json") if found.folder is not None else found.label


def locate_run(
    source: str | os.PathLike[str] | bytes, *, filename: str | None = None, max_problems: int = 50
) -> RunSource:
    """Find the predictions file of ``source`` and read its ``run.json``, if any.

    Raises
    ------
    RunValidationError
        If run.json is unreadable, or does not name its predictions and the folder holds other
        than exactly one candidate file.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        if not filename:
            raise ValueError("filename is required when source is bytes (it picks the format)")
        return RunSource(filename, Path(filename).suffix.lower(), {}, None, None, bytes(source))
    path = Path(source).expanduser()
    if path.is_dir() and not (path / "run.json").exists():
        # not a run folder; maybe a foreign layout (a YOLO or COCO folder): the dispatcher decides
        return RunSource(str(path), "", {}, path, None, None)
    config: dict[str, Any] = {}
    folder: Path | None = None
    if path.is_dir() or path.name == "run.json":
        folder = path if path.is_dir() else path.parent
        config = read_config(folder / "run.json", max_problems)
        path = folder / str(config.get("predictions") or "")
        if not config.get("predictions"):
            found = [p for p in sorted(folder.iterdir()) if p.suffix in SUPPORTED_SUFFIXES]
            if len(found) == 1:
                path = found[0]
            elif config.get("format"):
                path = folder  # a foreign layout (a YOLO folder): its reader finds the files
            else:
                raise ProblemLog(str(folder / "run.json"), max_problems).fail(
                    None,
                    "predictions",
                    "run.json does not name its predictions file and the folder holds "
                    f"{len(found)} candidate files (expected exactly one of "
                    f"{', '.join(SUPPORTED_SUFFIXES)})",
                )
    return RunSource(str(path), path.suffix.lower(), config, folder, path, None)


def read_config(path: Path, limit: int) -> dict[str, Any]:
    """A run folder's run.json as a dict; every fault names run.json."""
    problems = ProblemLog(str(path), limit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise problems.fail(None, None, "the run folder has no run.json") from None
    except UnicodeDecodeError as exc:
        raise problems.fail(None, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise problems.fail(None, None, f"cannot read: {exc.strerror}") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise problems.fail(exc.lineno, None, f"not valid JSON: {exc.msg}") from None
    if not isinstance(config, dict):
        raise problems.fail(None, None, "must hold a JSON object")
    return config


def read_bytes(path: Path, label: str, max_problems: int) -> bytes:
    """A file's bytes, or a RunValidationError naming it."""
    problems = ProblemLog(label, max_problems)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise problems.fail(None, None, "file not found") from None
    except IsADirectoryError:
        raise problems.fail(None, None, "is a folder, expected a file") from None
    except OSError as exc:
        raise problems.fail(None, None, f"cannot read: {exc.strerror}") from None


def decode(data: bytes, problems: ProblemLog) -> str:
    """UTF-8 text (a BOM is dropped); an undecodable byte is reported with its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise problems.fail(
            None,
            None,
            f"unreadable encoding: byte 0x{data[exc.start]:02x} on line {line} is not UTF-8 "
            "(save the file as UTF-8)",
        ) from None


def parse_json(data: bytes, problems: ProblemLog) -> Any:
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


def iter_json_objects(text: str, problems: ProblemLog) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each JSON Lines line; bad lines are reported and skipped."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.add(number, None, f"line is not valid JSON: {exc.msg}")
            continue
        if not isinstance(record, dict):
            problems.add(number, None, "line must hold a JSON object")
            continue
        yield number, record


def head_text(found: RunSource, n_bytes: int = _PEEK_BYTES) -> str:
    """The first ``n_bytes`` of the predictions as text (undecodable bytes replaced), or ''."""
    if found.data is not None:
        head = found.data[:n_bytes]
    elif found.path is not None:
        try:
            with found.path.open("rb") as handle:
                head = handle.read(n_bytes)
        except OSError:
            return ""
    else:
        return ""
    return head.decode("utf-8-sig", errors="replace")


def first_line(found: RunSource) -> str:
    """The first non-blank line of a text source (read from at most its first 64 KiB)."""
    for line in head_text(found).splitlines():
        if line.strip():
            return line
    return ""


class ContentHash:
    """sha256 over every byte a reader used, then run.json's settings: a changed file changes it.

    Examples
    --------
    >>> h = ContentHash()
    >>> h.update(b"data_row_id\\n")
    >>> h.hexdigest({}) == ContentHash.of(b"data_row_id\\n", {})
    True
    """

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()

    def update(self, data: bytes) -> None:
        """Add bytes the reader used."""
        self._hasher.update(data)

    def hexdigest(self, config: dict[str, Any]) -> str:
        """The digest of the bytes so far and of ``config`` (run.json), as hex."""
        hasher = self._hasher.copy()
        if config:
            hasher.update(json.dumps(config, sort_keys=True).encode())
        return hasher.hexdigest()

    @classmethod
    def of(cls, data: bytes, config: dict[str, Any]) -> str:
        """The digest of one buffer and run.json (sha256 releases the GIL on large buffers)."""
        hasher = cls()
        hasher.update(data)
        return hasher.hexdigest(config)

    @classmethod
    def of_file(cls, path: Path, config: dict[str, Any]) -> str:
        """:meth:`of` a file, read in chunks instead of held in memory."""
        hasher = cls()
        with path.open("rb") as handle:
            hasher._hasher = hashlib.file_digest(handle, "sha256")
        return hasher.hexdigest(config)
