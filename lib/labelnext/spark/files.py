"""The Parquet files of a run on disk: find them, read their footers, check they agree.

Only footers are read here (schemas, row-group sizes), on the driver, with pyarrow; the rows
are read by Spark. A run is a Parquet file, a directory of files (Spark's ``part-*.parquet``
output; names starting with ``_`` or ``.`` are skipped, as Spark skips them), a glob, or a run
folder whose ``run.json`` names any of these in ``predictions``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from labelnext.spark.layout import (
    SparkInputError,
    arrow_kind,
    classes_from_metadata,
    prediction_columns,
)

__all__ = ["ParquetFiles", "find_parquet_files"]

SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class ParquetFiles:
    """The files of one run and what their footers say.

    ``row_groups[i]`` holds the row counts of file ``i``'s row groups; ``schema`` is the first
    file's (the others were checked against it); ``config`` is run.json's content (or empty).
    """

    source: str
    paths: tuple[str, ...]
    schema: pa.Schema
    row_groups: tuple[tuple[int, ...], ...]
    config: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None

    @property
    def n_rows(self) -> int:
        return sum(sum(groups) for groups in self.row_groups)

    @property
    def declared_classes(self) -> list[str] | None:
        """run.json's classes, else the schema metadata key ``labelnext.classes``."""
        classes = self.config.get("classes")
        if isinstance(classes, list):
            return [str(c) for c in classes]
        return classes_from_metadata(self.schema.metadata)

    @property
    def kinds(self) -> dict[str, str]:
        return {f.name: arrow_kind(f.type) for f in self.schema}

    def content_hash(self) -> str:
        """A digest for the ledger: of the file's bytes (as load_run) for a single file, else
        of each file's name, size and footer (the bytes of 10^8 rows are not read twice)."""
        if len(self.paths) == 1:
            with open(self.paths[0], "rb") as handle:
                hasher = hashlib.file_digest(handle, "sha256")
        else:
            hasher = hashlib.sha256(b"labelnext-spark-files\n")
            for path in self.paths:
                size = os.path.getsize(path)
                with open(path, "rb") as handle:
                    handle.seek(max(size - 8, 0))
                    tail = handle.read(8)
                    footer_len = int.from_bytes(tail[:4], "little") if len(tail) == 8 else 0
                    handle.seek(max(size - 8 - footer_len, 0))
                    footer = handle.read(footer_len + 8)
                hasher.update(f"{os.path.basename(path)}\0{size}\0".encode())
                hasher.update(footer)
        if self.config:
            hasher.update(json.dumps(self.config, sort_keys=True).encode())
        return hasher.hexdigest()


def _is_data_file(path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith(("_", ".")) and path.lower().endswith(SUFFIXES)


def _listed(directory: Path) -> list[str]:
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        found.extend(os.path.join(root, f) for f in sorted(files))
    return [f for f in found if not os.path.basename(f).startswith(("_", "."))]


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SparkInputError(f"{path}: cannot read run.json ({exc})") from None
    if not isinstance(config, dict):
        raise SparkInputError(f"{path}: run.json must hold a JSON object")
    return config


def _expand(path: str) -> list[str]:
    if glob.has_magic(path):
        return sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
    target = Path(path).expanduser()
    if target.is_dir():
        return _listed(target)
    return [str(target)] if target.is_file() else []


def find_parquet_files(source: str | os.PathLike[str]) -> ParquetFiles:
    """Resolve ``source`` to its Parquet files and check that their schemas agree.

    Raises
    ------
    SparkInputError
        No Parquet file at the path; a file that is not readable Parquet; prediction (class)
        columns that differ between files; a column whose type differs between files.
    """
    text = os.fspath(source)
    config: dict[str, Any] = {}
    folder: Path | None = None
    where = Path(text).expanduser()
    if where.is_dir() and (where / "run.json").is_file():
        folder = where
        config = _read_config(where / "run.json")
        predictions = config.get("predictions")
        pattern = str(where / str(predictions)) if predictions else str(where)
        paths = _expand(pattern)
    elif where.name == "run.json" and where.is_file():
        folder = where.parent
        config = _read_config(where)
        predictions = config.get("predictions")
        paths = _expand(str(folder / str(predictions)) if predictions else str(folder))
    else:
        paths = _expand(text)
    others = [p for p in paths if not _is_data_file(p)]
    paths = [os.path.abspath(p) for p in paths if _is_data_file(p)]
    if not paths:
        seen = f" (found {len(others)} other file(s), e.g. {others[0]})" if others else ""
        raise SparkInputError(
            f"No Parquet files at {text}: expected a .parquet file, a directory of them, a glob "
            f"such as 'runs/*.parquet', or a run folder whose run.json names them{seen}"
        )

    first_schema: pa.Schema | None = None
    first_path = paths[0]
    groups: list[tuple[int, ...]] = []
    for path in paths:
        try:
            meta = pq.read_metadata(path)
            schema = meta.schema.to_arrow_schema()
        except (pa.ArrowException, OSError) as exc:
            raise SparkInputError(f"{path}: not a readable Parquet file ({exc})") from None
        groups.append(tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups)))
        if first_schema is None:
            first_schema = schema
            continue
        _check_same_run(first_path, first_schema, path, schema)
    assert first_schema is not None
    return ParquetFiles(
        source=text,
        paths=tuple(paths),
        schema=first_schema,
        row_groups=tuple(groups),
        config=config,
        folder=folder,
    )


def _check_same_run(first: str, a: pa.Schema, path: str, b: pa.Schema) -> None:
    cols_a, cols_b = prediction_columns(a.names), prediction_columns(b.names)
    if set(cols_a) != set(cols_b):
        only_a = sorted(set(cols_a) - set(cols_b))
        only_b = sorted(set(cols_b) - set(cols_a))
        parts = []
        if only_a:
            parts.append(f"missing {', '.join(only_a[:10])}")
        if only_b:
            parts.append(f"extra {', '.join(only_b[:10])}")
        raise SparkInputError(
            f"{path}: class columns differ from {first} ({'; '.join(parts)}); every file of a "
            "run must have the same prediction columns"
        )
    if classes_from_metadata(a.metadata) != classes_from_metadata(b.metadata):
        raise SparkInputError(
            f"{path}: schema metadata 'labelnext.classes' "
            f"{classes_from_metadata(b.metadata)} differs from {first}'s "
            f"{classes_from_metadata(a.metadata)}"
        )
    for f in b:
        if f.name in a.names:
            other = a.field(f.name).type
            if not _compatible(other, f.type):
                raise SparkInputError(
                    f"{path}, field '{f.name}': type {f.type} differs from {other} in {first}"
                )


def _compatible(a: pa.DataType, b: pa.DataType) -> bool:
    if a == b:
        return True
    # string / large_string and the like are read alike
    return arrow_kind(a) == arrow_kind(b) and arrow_kind(a) == "string"
