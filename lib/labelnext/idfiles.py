"""Lists of data_row_ids given by people: ``--exclude``, ``--rows``, the app's "only these rows".

One parser serves every place an id list arrives, so an id reads the same wherever it is typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from labelnext.errors import LabelnextError

__all__ = ["parse_id_lines", "read_id_file"]


def parse_id_lines(lines: Iterable[str]) -> list[str]:
    """Ids from text lines, in first-seen order without repeats.

    One id per line; blank lines and ``#`` comments are ignored, and so is a ``data_row_id``
    header; of a CSV line the first field is taken.

    Examples
    --------
    >>> parse_id_lines(["data_row_id", "a", "", "# note", "b,0.5", "a"])
    ['a', 'b']
    """
    ids: list[str] = []
    seen: set[str] = set()
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        first = text.split(",")[0].strip().strip('"')
        if first == "data_row_id" or first in seen:
            continue
        seen.add(first)
        ids.append(first)
    return ids


def read_id_file(path: str | Path, *, option: str, allow_empty: bool = False) -> list[str]:
    """The ids of a file (see :func:`parse_id_lines`); ``option`` names it in messages.

    Raises
    ------
    LabelnextError
        If the file cannot be read, or holds no id and ``allow_empty`` is False.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabelnextError(f"{option} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise LabelnextError(f"{option} {path}: not UTF-8 text") from None
    ids = parse_id_lines(lines)
    if not ids and not allow_empty:
        raise LabelnextError(f"{option} {path}: no data_row_ids in the file")
    return ids
