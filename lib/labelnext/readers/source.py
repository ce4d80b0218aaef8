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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelnext import paths
from labelnext.errors import PathNotAllowedError, ProblemLog, refuse
from labelnext.readers.limits import Limits

__all__ = [
    "PARQUET_SUFFIXES",
    "RUN_JSON_UPLOAD",
    "SUPPORTED_SUFFIXES",
    "ContentHash",
    "RunSource",
    "check_upload_name",
    "contained",
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
RUN_JSON_UPLOAD = (
    "upload the predictions file; run.json belongs in a run folder on the server (the "
    "files it names are read from that folder)"
)


@dataclass(frozen=True)
class RunSource:
    """Where a run's predictions are: a file (``path``) or an upload's bytes (``data``).

    ``folder`` is the run folder when there is one (its ``run.json`` is ``config``); a folder
    without run.json (a YOLO or COCO folder) has ``path`` and ``data`` both None. ``roots`` are
    the allowed roots (resolved); every file the run names must lie in :attr:`inside`.
    ``limits`` bound what its load may expand to.
    """

    label: str
    suffix: str
    config: dict[str, Any]
    folder: Path | None
    path: Path | None
    data: bytes | None
    roots: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits.from_settings)

    @property
    def inside(self) -> tuple[Path, ...]:
        """Where the files a run names may be: its run folder and the allowed roots."""
        if self.folder is None:
            return self.roots
        return (self.folder.resolve(), *self.roots)


def contained(
    path: Path, inside: Sequence[Path], *, file: str, field: str | None, what: str, shown: str
) -> Path:
    """:func:`labelnext.paths.contain`, refused as a problem naming ``file`` and ``field``.

    Called before ``path`` is opened or stat'ed, so the message is the same whether an outside
    file exists or not.
    """
    try:
        return paths.contain(path, inside, what=what, shown=shown)
    except PathNotAllowedError as exc:
        raise refuse(file, field, str(exc)) from None


def check_upload_name(filename: str) -> None:
    """Refuse an upload named ``run.json``: it would name files on the server to read.

    Raises
    ------
    RunValidationError
        If the file's name is ``run.json`` (any case).
    """
    if Path(filename).name.lower() == "run.json":
        raise refuse(filename, None, RUN_JSON_UPLOAD)


def run_json_label(found: RunSource) -> str:
    """How messages name the run.json of ``found``."""
    return str(found.folder / "run.json") if found.folder is not None else found.label


def locate_run(
    source: str | os.PathLike[str] | bytes,
    *,
    filename: str | None = None,
    max_problems: int = 50,
    roots: Sequence[Path] | None = None,
    limits: Limits | None = None,
) -> RunSource:
    """Find the predictions file of ``source`` and read its ``run.json``, if any.

    Every path run.json names (``predictions``, and the run.json itself when it is a link) must
    lie in the run folder or ``roots`` (default :func:`labelnext.paths.allowed_roots`); it is
    checked before anything is opened, so the refusal does not say whether the file exists.

    Raises
    ------
    RunValidationError
        If ``source`` does not exist ("file not found", "folder not found"), run.json is
        unreadable or names a file outside the run folder and the allowed roots, or run.json
        does not name its predictions and the folder holds other than exactly one candidate
        file; if uploaded bytes are named run.json.
    """
    allowed = tuple(
        Path(r).resolve() for r in (roots if roots is not None else paths.allowed_roots())
    )
    bounds = limits if limits is not None else Limits.from_settings()
    if isinstance(source, bytes | bytearray | memoryview):
        if not filename:
            raise ValueError("filename is required when source is bytes (it picks the format)")
        check_upload_name(filename)
        suffix = Path(filename).suffix.lower()
        return RunSource(filename, suffix, {}, None, None, bytes(source), allowed, bounds)
    path = Path(source).expanduser()
    if not (path.exists() or path.is_symlink()):
        what = "folder" if _names_a_folder(source, path) else "file"
        raise ProblemLog(str(path), max_problems).fail(None, None, f"{what} not found")
    run_json = path / "run.json"
    if path.is_dir() and not (run_json.exists() or run_json.is_symlink()):
        # not a run folder; maybe a foreign layout (a YOLO or COCO folder): the dispatcher decides
        return RunSource(str(path), "", {}, path, None, None, allowed, bounds)
    config: dict[str, Any] = {}
    folder: Path | None = None
    if path.is_dir() or path.name == "run.json":
        folder = path if path.is_dir() else path.parent
        inside = (folder.resolve(), *allowed)
        label = str(folder / "run.json")
        contained(folder / "run.json", inside, file=label, field=None, what="run.json", shown=label)
        config = read_config(folder / "run.json", max_problems)
        named = config.get("predictions")
        if named is not None and (not isinstance(named, str) or not named.strip()):
            raise refuse(label, "predictions", f"must name a file, got {named!r}")
        if named:
            path = folder / named
            contained(
                path, inside, file=label, field="predictions", what="predictions", shown=named
            )
        else:
            found = [p for p in sorted(folder.iterdir()) if p.suffix in SUPPORTED_SUFFIXES]
            if len(found) == 1:
                path = found[0]
                contained(
                    path,
                    inside,
                    file=label,
                    field="predictions",
                    what="predictions",
                    shown=path.name,
                )
            elif config.get("format"):
                path = folder  # a foreign layout (a YOLO folder): its reader finds the files
            else:
                raise ProblemLog(label, max_problems).fail(
                    None,
                    "predictions",
                    "run.json does not name its predictions file and the folder holds "
                    f"{len(found)} candidate files (expected exactly one of "
                    f"{', '.join(SUPPORTED_SUFFIXES)})",
                )
    return RunSource(str(path), path.suffix.lower(), config, folder, path, None, allowed, bounds)


def _names_a_folder(source: str | os.PathLike[str], path: Path) -> bool:
    """Whether a path that does not exist was meant as a folder (ends in a separator, or has
    no file extension)."""
    text = os.fspath(source)
    return text.endswith(("/", os.sep)) or not path.suffix


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


def read_bytes(path: Path, label: str, max_problems: int, limits: Limits | None = None) -> bytes:
    """A file's bytes, or a RunValidationError naming it.

    With ``limits``, a file larger than ``limits.max_bytes`` is refused before it is read.
    """
    problems = ProblemLog(label, max_problems)
    try:
        if limits is not None:
            size = path.stat().st_size
            if size > limits.max_bytes:
                raise problems.fail(None, None, limits.bytes_message(size))
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


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return record


def iter_json_objects(text: str, problems: ProblemLog) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each JSON Lines line; bad lines are reported and skipped.

    An object naming a key twice is a bad line (JSON keeps the last silently), reported with
    the key as the field.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            problems.add(number, exc.key, f"the key '{exc.key}' appears twice in this object")
            continue
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
