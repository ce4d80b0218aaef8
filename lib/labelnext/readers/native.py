"""labelnext's own predictions files (CSV, Parquet, JSON Lines) into a ModelRun.

:func:`read_native` reads the file (a Parquet file memory-mapped, hashed on a second core) and
:func:`build_run` turns its table into a run; the streaming reader calls :func:`build_run` on each
record batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from labelnext.boxes import Boxes
from labelnext.errors import ProblemLog
from labelnext.readers.build import declared_classes, make_run, resolve_image_root
from labelnext.readers.columns import (
    check_ids,
    check_image_refs,
    column_names,
    read_embedding,
    text_array,
)
from labelnext.readers.columns import strings as text_values
from labelnext.readers.source import (
    PARQUET_SUFFIXES,
    SUPPORTED_SUFFIXES,
    ContentHash,
    RunSource,
    read_bytes,
    run_json_label,
)
from labelnext.readers.tables import (
    RESERVED_COLUMNS,
    check_unique_columns,
    read_parquet,
    read_table,
    schema_classes,
)
from labelnext.readers.tasks import (
    MEMBER_COLUMN,
    TOP1_COLUMNS,
    is_ensemble,
    read_boxes,
    read_classification,
    read_ensemble,
    read_multilabel,
)
from labelnext.runs import TASKS, ModelRun

__all__ = ["build_run", "read_native"]


def read_native(
    found: RunSource, roots: Sequence[Path], *, renormalize: bool, max_problems: int
) -> ModelRun:
    """Read the predictions file of ``found`` (or its upload bytes) into a run."""
    label, suffix, config = found.label, found.suffix, found.config
    problems = ProblemLog(label, max_problems)
    if found.path is None and found.data is None:
        raise problems.fail(
            None,
            None,
            "a folder without run.json (nor a YOLO folder with labels/*.txt): point at a run "
            "folder or a predictions file",
        )
    if suffix not in SUPPORTED_SUFFIXES:  # before reading: a wrong file may be large
        raise problems.fail(
            None, None, f"unsupported file type '{suffix}'; use {', '.join(SUPPORTED_SUFFIXES)}"
        )
    limits = found.limits
    if found.data is None and suffix in PARQUET_SUFFIXES and found.path is not None:
        # memory-mapped: the file's bytes are never copied into the process, which keeps the
        # peak RSS of a million-row load down; the hash reads the file on a second core
        try:
            if found.path.stat().st_size == 0:
                raise problems.fail(None, None, "the file is empty")
            source_map = pa.memory_map(str(found.path))
        except FileNotFoundError:
            raise problems.fail(None, None, "file not found") from None
        except IsADirectoryError:
            raise problems.fail(None, None, "is a folder, expected a file") from None
        except OSError as exc:
            raise problems.fail(None, None, f"cannot read: {exc.strerror}") from None
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(ContentHash.of_file, found.path, config)
            table = read_parquet(source_map, problems, limits)
    else:
        data = found.data
        if data is None:
            assert found.path is not None  # checked above: a path or the bytes of an upload
            data = read_bytes(found.path, label, max_problems, limits)
        if not data.strip():
            raise problems.fail(None, None, "the file is empty")
        # sha256 releases the GIL on large buffers: hash on a second core while the table parses
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(ContentHash.of, data, config)
            table = read_table(data, suffix, problems, limits)
        del data
    if table.num_rows == 0:
        raise problems.fail(None, None, "the file has a header but no data rows")
    for why in (limits.rows_message(table.num_rows), limits.columns_message(table.num_columns)):
        if why is not None:
            raise problems.fail(None, None, why)
    run = build_run(table, found, roots, problems, renormalize, digest.result())
    del table
    # Arrow's allocator keeps freed buffers for reuse; a loaded run no longer needs them
    pa.default_memory_pool().release_unused()
    return run


def build_run(
    table: pa.Table,
    found: RunSource,
    roots: Sequence[Path],
    problems: ProblemLog,
    renormalize: bool,
    content_hash: str,
) -> ModelRun:
    """Validate a table read from ``found`` and turn it into a :class:`ModelRun`.

    Problems are reported through ``problems`` (whose ``offset`` numbers rows of a streamed
    batch); raises :class:`~labelnext.errors.RunValidationError` if there are any.
    """
    config = found.config
    task = str(config.get("task", "classification"))
    if task not in TASKS:
        problems.add_about(
            run_json_label(found),
            None,
            "task",
            f"unknown task '{task}'; known tasks: {', '.join(TASKS)}",
        )
        problems.raise_if_any()
    columns = table.column_names
    check_unique_columns(columns, problems)
    image_root = resolve_image_root(found, roots, problems)
    if "data_row_id" not in columns:
        problems.add(
            None, "data_row_id", f"missing required column; found: {column_names(columns)}"
        )
        problems.raise_if_any()
    ids, id_rank = check_ids(table.column("data_row_id"), problems)
    before = len(problems.items)
    from_schema = schema_classes(table.schema, problems)
    if len(problems.items) > before:  # the class names are unknown: nothing else can be read
        problems.raise_if_any()
    declared = declared_classes(found, problems, fallback=from_schema)

    samples: NDArray[np.float32] | None = None
    boxes: Boxes | None = None
    probabilities: NDArray[np.float32] | None = None
    top1_labels: NDArray[np.object_] | None = None
    top1_conf: NDArray[np.float32] | None = None
    if task == "detection":
        boxes, classes = read_boxes(table, declared, problems)
    elif task == "multilabel":
        probabilities, classes = read_multilabel(table, declared, problems)
    elif is_ensemble(table):
        samples, classes = read_ensemble(table, declared, renormalize, problems)
        probabilities = samples.mean(axis=1, dtype=np.float64).astype(np.float32)
    else:
        probabilities, top1_labels, top1_conf, classes = read_classification(
            table, declared, renormalize, problems
        )

    images: pa.Array | None = None
    if "image" in columns:
        images = text_array(table.column("image"))  # Arrow: no Python string per row
        check_image_refs(images, image_root, roots, problems)
    embedding = read_embedding(table, problems) if "embedding" in columns else None
    ground_truth = text_values(table.column("ground_truth")) if "ground_truth" in columns else None
    problems.raise_if_any()

    used = set(RESERVED_COLUMNS) | {c for c in columns if c.startswith(("prob_", "logit_"))}
    used |= {c for c in columns if MEMBER_COLUMN.match(c)}
    if top1_labels is not None:
        used |= set(TOP1_COLUMNS)
    meta_columns = [c for c in columns if c not in used]
    metadata = table.select(meta_columns).to_pandas() if meta_columns else None
    return make_run(
        found,
        roots=roots,
        task=task,
        classes=classes,
        ids=ids,
        content_hash=content_hash,
        image_root=image_root,
        metadata=metadata,
        images=images,
        probabilities=probabilities,
        top1_labels=top1_labels,
        top1_confidence=top1_conf,
        boxes=boxes,
        samples=samples,
        embedding=embedding,
        ground_truth=ground_truth,
        id_rank=id_rank,
        ids_checked=True,
    )
