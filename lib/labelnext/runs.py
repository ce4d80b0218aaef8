"""Model runs in: read a model's predictions on unlabeled data rows into one canonical form.

A *model run* is one model version's predictions on a set of data rows. It arrives as a CSV,
Parquet or JSON Lines file (a path, or the bytes of an upload), alone or in a *run folder* beside a
``run.json`` that names the model, the task, the classes and where the images are.

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
:class:`ModelRun` or raises :class:`~labelnext.errors.RunValidationError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from labelnext.boxes import Boxes
from labelnext.errors import LabelnextError, PathNotAllowedError, Problem, RunValidationError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "TASKS",
    "ModelRun",
    "allowed_roots_from_env",
    "is_url",
    "load_run",
]

TASKS = ("classification", "multilabel", "detection")
SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".jsonl", ".ndjson")
SUM_TOLERANCE = 1e-3
SAMPLE_DATA_DIR = Path(__file__).resolve().parents[2] / "sample_data"

_RESERVED = {"data_row_id", "image", "embedding", "ground_truth", "probabilities", "boxes"}
_MEMBER_COLUMN = re.compile(r"^m(\d+)_prob_(.+)$")  # ensemble member t's probability of a class
_TOP1 = ("predicted_label", "confidence")


def is_url(reference: str) -> bool:
    """Whether an image reference is an http(s) URL rather than a file path."""
    return reference.startswith(("http://", "https://"))


def allowed_roots_from_env() -> list[Path]:
    """The folders whose files labelnext may read: ``$LABELNEXT_ALLOWED_ROOTS`` and the samples.

    ``LABELNEXT_ALLOWED_ROOTS`` holds folders separated by ``os.pathsep``. The shipped
    ``sample_data/`` folder is always allowed.
    """
    roots = [SAMPLE_DATA_DIR.resolve()]
    for part in os.environ.get("LABELNEXT_ALLOWED_ROOTS", "").split(os.pathsep):
        if part.strip():
            roots.append(Path(part.strip()).expanduser().resolve())
    return roots


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


@dataclass(frozen=True, eq=False)
class ModelRun:
    """One model version's predictions on a set of data rows, in canonical form.

    Row ``i`` of every array is the same data row; the order is the file's order. Scores and
    rankings are not stored here: :mod:`labelnext.uncertainty` and :mod:`labelnext.select`
    compute them from ``probabilities`` (higher score = more uncertain = label first).
    """

    name: str
    task: str
    classes: tuple[str, ...]
    ids: NDArray[np.object_]
    probabilities: NDArray[np.float32] | None
    metadata: pd.DataFrame
    source: str
    content_hash: str
    model: str | None = None
    version: str | None = None
    created: str | None = None
    images: NDArray[np.object_] | None = None
    top1_labels: NDArray[np.object_] | None = None
    top1_confidence: NDArray[np.float32] | None = None
    embedding: NDArray[np.float32] | None = None
    ground_truth: NDArray[np.object_] | None = None
    image_root: Path | None = None
    allowed_roots: tuple[Path, ...] = field(default=(), repr=False)
    samples: NDArray[np.float32] | None = field(default=None, repr=False)
    boxes: Boxes | None = field(default=None, repr=False)
    threshold: float = 0.5

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return len(self.ids)

    @property
    def top1_only(self) -> bool:
        """True when the run carries only the predicted label and its confidence."""
        return self.probabilities is None

    @cached_property
    def predicted_index(self) -> NDArray[np.intp]:
        """Index into ``classes`` of each row's predicted (top-1) class.

        Multi-label: the most probable class. Detection: the label of the highest-scoring box,
        or -1 for an image with no boxes.
        """
        if self.boxes is not None:
            return self.boxes.top_label()
        if self.probabilities is not None:
            return np.asarray(self.probabilities.argmax(axis=1), dtype=np.intp)
        lookup = {name: i for i, name in enumerate(self.classes)}
        assert self.top1_labels is not None  # a run has probabilities or top-1 labels
        return np.fromiter((lookup[x] for x in self.top1_labels), np.intp, self.n_rows)

    @cached_property
    def predicted_labels(self) -> NDArray[np.object_]:
        """Each row's prediction as text.

        Classification: the top-1 class. Multi-label: the classes at or above ``threshold``
        joined by ``+`` (``(none)`` if none is). Detection: the distinct labels of the boxes
        scoring at least ``threshold``, joined by ``+`` (``(no boxes)`` if none does).
        """
        names = np.asarray(self.classes, dtype=object)
        if self.task == "multilabel":
            assert self.probabilities is not None
            return _joined(self.probabilities >= self.threshold, names, "(none)")
        if self.boxes is not None:
            present = np.zeros((self.n_rows, len(self.classes)), dtype=bool)
            sure = self.boxes.score >= self.threshold
            present[self.boxes.row[sure], self.boxes.label[sure]] = True
            return _joined(present, names, "(no boxes)")
        return names[self.predicted_index]

    def class_presence(self) -> NDArray[np.bool_]:
        """(n_rows, n_classes): whether each class is predicted for each row.

        The class filter keeps rows where any chosen class is present: the top-1 class for
        classification, classes at or above ``threshold`` for multi-label, and classes of any box
        for detection.
        """
        present = np.zeros((self.n_rows, len(self.classes)), dtype=bool)
        if self.task == "multilabel":
            assert self.probabilities is not None
            return np.asarray(self.probabilities >= self.threshold)
        if self.boxes is not None:
            present[self.boxes.row, self.boxes.label] = True
            return present
        present[np.arange(self.n_rows), self.predicted_index] = True
        return present

    @cached_property
    def id_rank(self) -> NDArray[np.int64]:
        """Position of each ``data_row_id`` in sorted id order; the tie-breaker of rankings."""
        order = pc.sort_indices(pa.array(self.ids, type=pa.string())).to_numpy()
        rank = np.empty(self.n_rows, dtype=np.int64)
        rank[order] = np.arange(self.n_rows, dtype=np.int64)
        return rank

    @cached_property
    def id_index(self) -> pd.Index:
        """A hash index from ``data_row_id`` to row position."""
        return pd.Index(self.ids)

    def class_indices(
        self, names: Iterable[str], *, error: type[LabelnextError] = LabelnextError
    ) -> list[int]:
        """Positions of class ``names`` in ``classes``.

        Raises
        ------
        LabelnextError (or ``error``)
            Naming the unknown classes and listing the run's.
        """
        wanted = list(names)
        unknown = sorted(set(wanted) - set(self.classes))
        if unknown:
            raise error(
                f"Unknown class(es) {', '.join(unknown)}; the run's classes are "
                f"{', '.join(self.classes)}."
            )
        return [self.classes.index(c) for c in wanted]

    def row_index(self, data_row_id: str) -> int:
        """Row position of ``data_row_id``.

        Raises
        ------
        LabelnextError
            If the run has no such data row.
        """
        position = self.id_index.get_indexer(pd.Index([data_row_id]))[0]
        if position < 0:
            raise LabelnextError(f"Run '{self.name}' has no data row '{data_row_id}'.")
        return int(position)

    def positions(self, data_row_ids: Iterable[str]) -> NDArray[np.intp]:
        """Row positions of the given ids that exist in this run (unknown ids are dropped)."""
        wanted = list(data_row_ids)
        if not wanted:
            return np.empty(0, dtype=np.intp)
        found = self.id_index.get_indexer(pd.Index(wanted))
        return np.asarray(found[found >= 0], dtype=np.intp)

    def image_location(self, i: int) -> Path | str | None:
        """Where row ``i``'s image is: a local ``Path`` inside the allowed roots, or a URL.

        Returns ``None`` when the run has no image column or the row's reference is empty.

        Raises
        ------
        PathNotAllowedError
            If the reference resolves outside the run's image root and the allowed roots.
        """
        if self.images is None:
            return None
        reference = self.images[i]
        if reference is None or reference == "":
            return None
        reference = str(reference)
        if is_url(reference):
            return reference
        return resolve_image_path(reference, self.image_root, self.allowed_roots)


def _joined(
    present: NDArray[np.bool_], names: NDArray[np.object_], empty: str
) -> NDArray[np.object_]:
    """Per row, the names of the present classes joined by '+' (rows share few distinct sets)."""
    keys = np.packbits(present, axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    texts = []
    for key in unique:
        flags = np.unpackbits(key)[: len(names)].astype(bool)
        texts.append("+".join(names[flags]) if flags.any() else empty)
    return np.asarray(texts, dtype=object)[inverse.reshape(-1)]


def resolve_image_path(
    reference: str, image_root: Path | None, allowed_roots: Sequence[Path]
) -> Path:
    """Resolve an image reference to a path inside ``image_root`` or the allowed roots.

    Relative references are taken relative to ``image_root`` (or the current folder when the run
    has none). Symbolic links are followed before the check, so a link cannot escape.
    """
    path = Path(reference).expanduser()
    if not path.is_absolute():
        path = (image_root or Path.cwd()) / path
    resolved = path.resolve()
    roots = [*allowed_roots, *([image_root.resolve()] if image_root is not None else [])]
    if not _inside(resolved, roots):
        shown = ", ".join(str(r) for r in roots) or "(none configured)"
        raise PathNotAllowedError(
            f"Image '{reference}' resolves to {resolved}, outside the allowed roots: {shown}. "
            "Add its folder to LABELNEXT_ALLOWED_ROOTS to allow it."
        )
    return resolved


# --------------------------------------------------------------------------------------------
# Loading


class _Problems:
    """Collects problems up to a limit; raises them all at once."""

    def __init__(self, file: str, limit: int, offset: int = 0) -> None:
        self.file = file
        self.limit = limit
        self.offset = offset  # rows before this batch, when a file is read in batches
        self.items: list[Problem] = []
        self.truncated = False

    def add(self, row: int | None, field: str | None, message: str) -> None:
        if len(self.items) >= self.limit:
            self.truncated = True
            return
        if row is not None:
            row += self.offset
        self.items.append(Problem(self.file, row, field, message))

    def add_rows(self, rows: NDArray[np.intp], field: str, message: str) -> None:
        """One problem per offending 0-based row position (reported 1-based)."""
        for r in rows[: max(self.limit - len(self.items), 0) + 1]:
            self.add(int(r) + 1, field, message)

    def raise_if_any(self) -> None:
        if self.items:
            raise RunValidationError(self.items, truncated=self.truncated)

    def fail(self, row: int | None, field: str | None, message: str) -> RunValidationError:
        self.add(row, field, message)
        return RunValidationError(self.items, truncated=self.truncated)


def load_run(
    source: str | os.PathLike[str] | bytes,
    *,
    filename: str | None = None,
    allowed_roots: Sequence[Path] | None = None,
    renormalize: bool = False,
    max_problems: int = 50,
) -> ModelRun:
    """Load a model run from a predictions file, a run folder, or the bytes of an upload.

    Parameters
    ----------
    source : str, path-like or bytes
        A ``.csv``, ``.parquet`` or ``.jsonl``/``.ndjson`` file; a folder holding ``run.json``;
        a ``run.json`` file; or the bytes of a predictions file (then ``filename`` is required).
    filename : str, optional
        Name of the uploaded file: picks the format and names the file in messages.
    allowed_roots : sequence of Path, optional
        Folders that absolute image paths must lie in. Defaults to
        :func:`allowed_roots_from_env`.
    renormalize : bool, default=False
        Divide each probability row by its sum when it does not sum to 1. Off by default: rows
        that do not sum to 1 are reported, never silently changed.
    max_problems : int, default=50
        Stop collecting problems after this many.

    Returns
    -------
    ModelRun

    Raises
    ------
    RunValidationError
        If anything is wrong; ``.problems`` lists file, 1-based row and field of each problem.

    Examples
    --------
    >>> run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
    >>> run.n_rows, run.classes[:3], run.task
    (4875, ('0', '1', '2'), 'classification')
    """
    if max_problems < 1:
        raise ValueError(f"max_problems must be >= 1, got {max_problems}")
    roots = tuple(allowed_roots) if allowed_roots is not None else tuple(allowed_roots_from_env())
    roots = tuple(Path(r).resolve() for r in roots)

    found = locate_run(source, filename=filename, max_problems=max_problems)
    label, suffix, config = found.label, found.suffix, found.config
    from labelnext import formats  # imported here: formats builds on this module

    kind = formats.detect_format(found)
    if kind is not None:
        return formats.read_foreign(kind, found, roots=roots, max_problems=max_problems)
    if found.path is None and found.data is None:
        raise _Problems(label, max_problems).fail(
            None,
            None,
            "a folder without run.json (nor a YOLO folder with labels/*.txt): point at a run "
            "folder or a predictions file",
        )
    problems = _Problems(label, max_problems)
    if suffix not in SUPPORTED_SUFFIXES:  # before reading: a wrong file may be large
        raise problems.fail(
            None, None, f"unsupported file type '{suffix}'; use {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if found.data is None and suffix in (".parquet", ".pq") and found.path is not None:
        # memory-mapped: the file's bytes are never copied into the process, which keeps the
        # peak RSS of a million-row load down; the hash reads the file on a second core
        try:
            if found.path.stat().st_size == 0:
                raise problems.fail(None, None, "the file is empty")
            source_map = pa.memory_map(str(found.path))
        except FileNotFoundError:
            raise problems.fail(None, None, "file not found") from None
        except OSError as exc:
            raise problems.fail(None, None, f"cannot read: {exc.strerror}") from None
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(_file_hash, found.path, config)
            table = _read_parquet(source_map, problems)
        return _finish(table, found, roots, problems, renormalize, digest.result())
    if found.data is not None:
        data = found.data
    else:
        assert found.path is not None
        try:
            data = found.path.read_bytes()
        except FileNotFoundError:
            raise _Problems(label, max_problems).fail(None, None, "file not found") from None
        except IsADirectoryError:
            raise _Problems(label, max_problems).fail(
                None, None, "is a folder without run.json"
            ) from None
        except OSError as exc:
            raise _Problems(label, max_problems).fail(
                None, None, f"cannot read: {exc.strerror}"
            ) from None

    if not data.strip():
        raise problems.fail(None, None, "the file is empty")

    # sha256 releases the GIL on large buffers: hash on a second core while the table parses
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(_content_hash, data, config)
        table = _read_table(data, suffix, problems)
    del data
    return _finish(table, found, roots, problems, renormalize, digest.result())


def _finish(
    table: pa.Table,
    found: RunSource,
    roots: Sequence[Path],
    problems: _Problems,
    renormalize: bool,
    content_hash: str,
) -> ModelRun:
    if table.num_rows == 0:
        raise problems.fail(None, None, "the file has a header but no data rows")
    run = build_run(table, found, roots, problems, renormalize, content_hash)
    del table
    # Arrow's allocator keeps freed buffers for reuse; a loaded run no longer needs them
    pa.default_memory_pool().release_unused()
    return run


def build_run(
    table: pa.Table,
    found: RunSource,
    roots: Sequence[Path],
    problems: _Problems,
    renormalize: bool,
    content_hash: str,
) -> ModelRun:
    """Validate a table read from ``found`` and turn it into a :class:`ModelRun`.

    Problems are reported through ``problems`` (whose ``offset`` numbers rows of a streamed
    batch); raises :class:`RunValidationError` if there are any.
    """
    label, config, folder = found.label, found.config, found.folder
    task = str(config.get("task", "classification"))
    if task not in TASKS:
        problems.add(None, "task", f"unknown task '{task}'; known tasks: {', '.join(TASKS)}")
        problems.raise_if_any()

    image_root: Path | None = None
    if config.get("image_root"):
        assert folder is not None
        image_root = (folder / str(config["image_root"])).resolve()
        if not _inside(image_root, [folder.resolve(), *roots]):
            problems.add(
                None,
                "image_root",
                f"image_root '{config['image_root']}' resolves to {image_root}, outside the run "
                "folder and the allowed roots",
            )
    elif folder is not None:
        image_root = folder.resolve()
    elif found.path is not None:  # a bare file: its images sit beside it
        image_root = found.path.parent.resolve()

    columns = table.column_names
    if "data_row_id" not in columns:
        problems.add(None, "data_row_id", f"missing required column; found: {_names(columns)}")
        problems.raise_if_any()

    ids, id_rank = _check_ids(table.column("data_row_id"), problems)
    n = table.num_rows
    config_classes = config.get("classes")
    schema_classes = _schema_classes(table.schema)
    declared: list[str] | None = None
    if config_classes is not None:
        if not isinstance(config_classes, list) or not all(
            isinstance(c, str | int) for c in config_classes
        ):
            problems.add(None, "classes", "run.json 'classes' must be a list of class names")
        else:
            declared = [str(c) for c in config_classes]
    elif schema_classes is not None:
        declared = schema_classes

    samples: NDArray[np.float32] | None = None
    boxes: Boxes | None = None
    probabilities: NDArray[np.float32] | None = None
    top1_labels: NDArray[np.object_] | None = None
    top1_conf: NDArray[np.float32] | None = None
    if task == "detection":
        boxes, classes = _read_boxes(table, declared, problems)
    elif task == "multilabel":
        probabilities, classes = _read_multilabel(table, declared, problems)
    elif _is_ensemble(table):
        samples, classes = _read_ensemble(table, declared, renormalize, problems)
        probabilities = samples.mean(axis=1, dtype=np.float64).astype(np.float32)
    else:
        probabilities, top1_labels, top1_conf, classes = _read_predictions(
            table, declared, renormalize, problems
        )

    images = None
    if "image" in columns:
        images = _strings(table.column("image"))
        _check_image_refs(images, image_root, roots, problems)
    embedding = _read_embedding(table, problems) if "embedding" in columns else None
    ground_truth = _strings(table.column("ground_truth")) if "ground_truth" in columns else None
    problems.raise_if_any()

    used = set(_RESERVED) | {c for c in columns if c.startswith(("prob_", "logit_"))}
    used |= {c for c in columns if _MEMBER_COLUMN.match(c)}
    if top1_labels is not None:
        used |= set(_TOP1)
    meta_columns = [c for c in columns if c not in used]
    metadata = (
        table.select(meta_columns).to_pandas() if meta_columns else pd.DataFrame(index=range(n))
    )
    metadata.index = pd.RangeIndex(n)

    name = str(config.get("name") or (folder.name if folder else Path(label).stem))
    run = ModelRun(
        name=name,
        task=task,
        classes=tuple(classes),
        ids=ids,
        probabilities=probabilities,
        metadata=metadata,
        source=str(folder) if folder is not None else label,
        content_hash=content_hash,
        model=_opt_str(config.get("model")),
        version=_opt_str(config.get("version")),
        created=_opt_str(config.get("created")),
        images=images,
        top1_labels=top1_labels,
        top1_confidence=top1_conf,
        embedding=embedding,
        ground_truth=ground_truth,
        image_root=image_root,
        allowed_roots=tuple(roots),
        samples=samples,
        boxes=boxes,
        threshold=float(config.get("threshold", 0.5)),
    )
    if id_rank is not None:
        run.__dict__["id_rank"] = id_rank  # fill the cached_property: the id check sorted already
    return run


@dataclass(frozen=True)
class RunSource:
    """Where a run's predictions are: a file (``path``) or an upload's bytes (``data``)."""

    label: str
    suffix: str
    config: dict[str, Any]
    folder: Path | None
    path: Path | None
    data: bytes | None


def locate_run(
    source: str | os.PathLike[str] | bytes, *, filename: str | None = None, max_problems: int = 50
) -> RunSource:
    """Find the predictions file of ``source`` and read its ``run.json``, if any."""
    data: bytes | None = None
    path: Path | None = None
    config: dict[str, Any] = {}
    folder: Path | None = None
    if isinstance(source, bytes | bytearray | memoryview):
        if not filename:
            raise ValueError("filename is required when source is bytes (it picks the format)")
        data = bytes(source)
        label = filename
        suffix = Path(filename).suffix.lower()
    else:
        path = Path(source).expanduser()
        if path.is_dir() and not (path / "run.json").exists():
            # not a run folder; maybe a foreign layout (a YOLO folder): formats decides
            return RunSource(str(path), "", {}, path, None, None)
        if path.is_dir() or path.name == "run.json":
            folder = path if path.is_dir() else path.parent
            config = _read_config(folder / "run.json", max_problems)
            path = folder / str(config.get("predictions") or "")
            if not config.get("predictions"):
                found = [p for p in sorted(folder.iterdir()) if p.suffix in SUPPORTED_SUFFIXES]
                if len(found) == 1:
                    path = found[0]
                elif config.get("format"):
                    path = folder  # a foreign layout (a YOLO folder): its reader finds the files
                else:
                    raise _Problems(str(folder / "run.json"), max_problems).fail(
                        None,
                        "predictions",
                        "run.json does not name its predictions file and the folder holds "
                        f"{len(found)} candidate files (expected exactly one of "
                        f"{', '.join(SUPPORTED_SUFFIXES)})",
                    )
        label = str(path)
        suffix = path.suffix.lower()

    return RunSource(label, suffix, config, folder, path, data)


def _content_hash(data: bytes, config: dict[str, Any]) -> str:
    """sha256 of the predictions file, and of run.json's settings when there is one."""
    hasher = hashlib.sha256(data)
    if config:
        hasher.update(json.dumps(config, sort_keys=True).encode())
    return hasher.hexdigest()


def _file_hash(path: Path, config: dict[str, Any]) -> str:
    """Like _content_hash, reading the file in chunks instead of holding its bytes."""
    with path.open("rb") as handle:
        hasher = hashlib.file_digest(handle, "sha256")
    if config:
        hasher.update(json.dumps(config, sort_keys=True).encode())
    return hasher.hexdigest()


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _names(columns: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" (+{len(columns) - limit} more)" if len(columns) > limit else "")


def _read_config(path: Path, limit: int) -> dict[str, Any]:
    problems = _Problems(str(path), limit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise problems.fail(None, None, "the run folder has no run.json") from None
    except UnicodeDecodeError as exc:
        raise problems.fail(None, None, f"not UTF-8 text (byte {exc.start})") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise problems.fail(exc.lineno, None, f"not valid JSON: {exc.msg}") from None
    if not isinstance(config, dict):
        raise problems.fail(None, None, "must hold a JSON object")
    return config


def _read_parquet(source: pa.NativeFile, problems: _Problems) -> pa.Table:
    try:
        return pq.read_table(source)
    except (pa.ArrowException, OSError) as exc:
        raise problems.fail(None, None, f"not a readable Parquet file ({exc})") from None


def _read_table(data: bytes, suffix: str, problems: _Problems) -> pa.Table:
    if suffix in (".parquet", ".pq"):
        return _read_parquet(pa.BufferReader(data), problems)
    text = _decode(data, problems)
    if suffix == ".csv":
        return _read_csv(text, problems)
    return _read_jsonl(text, problems)


def _decode(data: bytes, problems: _Problems) -> str:
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


def _read_csv(text: str, problems: _Problems) -> pa.Table:
    header = text.splitlines()[0] if text else ""
    names = [h.strip().strip('"') for h in header.split(",")]
    # ids, labels and paths stay strings even when they look like numbers
    as_string = {c: pa.string() for c in names if c in _RESERVED | {"predicted_label"}}
    try:
        return pa_csv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            convert_options=pa_csv.ConvertOptions(
                column_types=as_string, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        row = None
        if "Expected" in message and "columns" in message:
            for number, line in enumerate(text.splitlines()[1:], start=1):
                if line and _csv_field_count(line) != len(names):
                    row = number
                    break
        raise problems.fail(row, None, f"malformed CSV: {message.splitlines()[0]}") from None


def _csv_field_count(line: str) -> int:
    import csv

    return len(next(csv.reader([line])))


def iter_json_objects(text: str, problems: _Problems) -> Iterator[tuple[int, dict[str, Any]]]:
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


def _read_jsonl(text: str, problems: _Problems) -> pa.Table:
    records = [record for _, record in iter_json_objects(text, problems)]
    problems.raise_if_any()
    if not records:
        raise problems.fail(None, None, "the file holds no JSON objects")
    frame = pd.DataFrame.from_records(records)
    for column in ("data_row_id", "image", "ground_truth", "predicted_label"):
        if column in frame.columns:
            frame[column] = frame[column].map(lambda v: None if v is None else str(v))
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        # mixed types in one field: keep every field as text, the checks below name the rows
        return pa.Table.from_pandas(frame.astype(object).map(_as_text), preserve_index=False)


def _as_text(value: object) -> object:
    if value is None or isinstance(value, list | float | int | bool):
        return value if isinstance(value, list) or value is None else str(value)
    return str(value)


def _schema_classes(schema: pa.Schema) -> list[str] | None:
    meta = schema.metadata or {}
    raw = meta.get(b"labelnext.classes") or meta.get(b"classes")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return [str(c) for c in value] if isinstance(value, list) else None


def _strings(column: pa.ChunkedArray) -> NDArray[np.object_]:
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _text_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return pc.cast(column, pa.string())


def _check_ids(
    column: pa.ChunkedArray, problems: _Problems
) -> tuple[NDArray[np.object_], NDArray[np.int64] | None]:
    """The ids as text, and each id's rank in sorted order (None when there are duplicates)."""
    # Arrow compute, not pandas string methods: this runs on every row of a million-row run
    try:
        text = _text_column(column)
    except pa.ArrowException as exc:
        raise problems.fail(None, "data_row_id", f"cannot be read as text ({exc})") from None
    blank = pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text))
    empty = pc.fill_null(pc.or_kleene(pc.is_null(text), blank), True)
    empty_np = np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)
    problems.add_rows(np.flatnonzero(empty_np), "data_row_id", "empty data_row_id")
    ids = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    # one sort finds duplicates (equal neighbours) and gives the rank every ranking breaks ties
    # by; hashing for count_distinct cost three times as much at a million rows
    by_id = pc.sort_indices(text)
    ordered = text.take(by_id)
    n = len(text)
    if n < 2 or not pc.any(pc.equal(ordered.slice(1), ordered.slice(0, n - 1))).as_py():
        rank = np.empty(n, dtype=np.int64)
        rank[by_id.to_numpy()] = np.arange(n, dtype=np.int64)
        return ids, rank
    series = pd.Series(ids, dtype=object)
    dup = series.duplicated(keep="first").to_numpy() & ~empty_np
    if dup.any():
        first: dict[str, int] = {}
        for i in np.flatnonzero(series.duplicated(keep=False).to_numpy() & ~empty_np):
            first.setdefault(ids[i], int(i) + 1 + problems.offset)
        for i in np.flatnonzero(dup)[: problems.limit + 1]:
            problems.add(
                int(i) + 1,
                "data_row_id",
                f"duplicate data_row_id '{ids[i]}' (first seen on row {first[ids[i]]})",
            )
    return ids, None


def _numeric(table: pa.Table, name: str, problems: _Problems) -> NDArray[np.float64]:
    """A column as float64. Empty and non-numeric cells are reported here and read as 0, so
    that later checks (NaN, sums) do not report the same cell twice."""
    column = table.column(name)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = np.array(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        if column.null_count:
            missing = np.flatnonzero(pc.is_null(column).to_numpy(zero_copy_only=False))
            problems.add_rows(missing, name, "missing or NaN value")
            values[missing] = 0.0
        return values
    raw = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    empty = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    problems.add_rows(np.flatnonzero(empty), name, "missing or NaN value")
    bad = np.flatnonzero(np.isnan(values) & ~empty)
    for i in bad[: problems.limit + 1]:
        problems.add(int(i) + 1, name, f"not a number: {raw.iloc[i]!r}")
    values[empty | np.isnan(values)] = 0.0
    return values


def _read_predictions(
    table: pa.Table, declared: list[str] | None, renormalize: bool, problems: _Problems
) -> tuple[
    NDArray[np.float32] | None, NDArray[np.object_] | None, NDArray[np.float32] | None, list[str]
]:
    columns = table.column_names
    prob_cols = [c for c in columns if c.startswith("prob_")]
    logit_cols = [c for c in columns if c.startswith("logit_")]

    if prob_cols or logit_cols:
        cols = prob_cols or logit_cols
        prefix = "prob_" if prob_cols else "logit_"
        classes = [c[len(prefix) :] for c in cols]
        if declared is not None:
            if len(declared) != len(classes):
                problems.add(
                    None,
                    "classes",
                    f"class-count mismatch: run.json names {len(declared)} classes but the file "
                    f"has {len(classes)} {prefix}<class> columns",
                )
                problems.raise_if_any()
            if set(declared) != set(classes):
                missing = sorted(set(declared) - set(classes))
                problems.add(
                    None,
                    "classes",
                    f"columns do not match run.json classes; no column for: {', '.join(missing)}",
                )
                problems.raise_if_any()
            cols = [prefix + c for c in declared]
            classes = list(declared)
        # probabilities are held as float32 from the start: one (n, C) array, no float64 copy
        matrix = np.empty((table.num_rows, len(cols)), dtype=np.float32 if prob_cols else float)
        for j, name in enumerate(cols):
            matrix[:, j] = _numeric(table, name, problems)
        if prob_cols:
            probs = _check_probabilities(matrix, cols, renormalize, problems)
        else:
            probs = _softmax_checked(matrix, cols, problems)
        _check_class_count(classes, problems)
        return probs, None, None, classes

    if "probabilities" in columns:
        matrix = _list_column(table.column("probabilities"), "probabilities", problems)
        width = matrix.shape[1] if matrix.ndim == 2 else 0
        if declared is None:
            declared = [str(i) for i in range(width)]
        elif width and len(declared) != width:
            problems.add(
                None,
                "probabilities",
                f"class-count mismatch: {len(declared)} classes declared but rows hold "
                f"{width} probabilities",
            )
            problems.raise_if_any()
        names = [f"probabilities[{c}]" for c in declared]
        probs = _check_probabilities(matrix, names, renormalize, problems)
        _check_class_count(declared, problems)
        return probs, None, None, declared

    if all(c in columns for c in _TOP1):
        labels = _strings(table.column("predicted_label"))
        blank = np.flatnonzero(pd.isna(labels) | (pd.Series(labels).astype(str) == ""))
        problems.add_rows(blank, "predicted_label", "empty predicted_label")
        confidence = _numeric(table, "confidence", problems)
        _report_bad_values(confidence[:, None], ["confidence"], problems)
        high = np.flatnonzero(confidence > 1.0 + SUM_TOLERANCE)
        problems.add_rows(high, "confidence", "confidence above 1")
        problems.raise_if_any()
        found = sorted({str(x) for x in labels})
        if declared is not None:
            unknown = sorted(set(found) - set(declared))
            if unknown:
                problems.add(
                    None,
                    "predicted_label",
                    f"labels not among run.json classes: {', '.join(unknown[:10])}",
                )
                problems.raise_if_any()
            found = declared
        return None, labels, np.clip(confidence, 0, 1).astype(np.float32), found

    problems.add(
        None,
        None,
        "no predictions found: expected prob_<class> columns, a 'probabilities' list column, "
        "logit_<class> columns, or 'predicted_label' + 'confidence'; found columns: "
        + _names(columns),
    )
    problems.raise_if_any()
    raise AssertionError("unreachable")


def _check_class_count(classes: list[str], problems: _Problems) -> None:
    if len(classes) < 2:
        problems.add(
            None, "classes", f"a classification run needs >= 2 classes, got {len(classes)}"
        )
    dup = sorted({c for c in classes if classes.count(c) > 1})
    if dup:
        problems.add(None, "classes", f"duplicate class names: {', '.join(dup)}")
    problems.raise_if_any()


def _list_column(column: pa.ChunkedArray, name: str, problems: _Problems) -> NDArray[np.float64]:
    values = column.to_pylist()
    if values and isinstance(values[0], str):  # CSV: a JSON list in a text cell
        parsed: list[Any] = []
        for i, v in enumerate(values):
            try:
                parsed.append(json.loads(v) if v else None)
            except json.JSONDecodeError:
                problems.add(i + 1, name, "not a JSON list of numbers")
                parsed.append(None)
        values = parsed
    lengths = [len(v) if isinstance(v, list) else -1 for v in values]
    width = max(set(lengths), key=lengths.count) if lengths else 0
    for i, length in enumerate(lengths):
        if length != width:
            problems.add(
                i + 1,
                name,
                f"holds {max(length, 0)} values, expected {width} (the width of most rows)",
            )
    problems.raise_if_any()
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        for i, v in enumerate(values):
            try:
                np.asarray(v, dtype=np.float64)
            except (TypeError, ValueError):
                problems.add(i + 1, name, "holds a value that is not a number")
        problems.raise_if_any()
        raise


def _report_bad_values(
    matrix: NDArray[np.floating[Any]],
    names: Sequence[str],
    problems: _Problems,
    *,
    negative: bool = True,
) -> None:
    if np.isfinite(matrix).all() and (not negative or matrix.min(initial=0.0) >= 0):
        return  # the common case, in one pass
    for j, name in enumerate(names):
        col = matrix[:, j]
        checks = [("NaN", np.isnan(col)), ("infinite", np.isinf(col))]
        if negative:
            checks.append(("negative", col < 0))
        for kind, bad in checks:
            rows = np.flatnonzero(bad)
            if len(rows):
                problems.add_rows(rows, name, f"{kind} value")


def _check_probabilities(
    matrix: NDArray[np.floating[Any]],
    names: Sequence[str],
    renormalize: bool,
    problems: _Problems,
) -> NDArray[np.float32]:
    _report_bad_values(matrix, names, problems)
    problems.raise_if_any()
    sums = matrix.sum(axis=1, dtype=np.float64)
    off = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if len(off):
        if renormalize:
            zero = off[sums[off] <= 0]
            problems.add_rows(zero, names[0], "all probabilities are 0; cannot renormalise")
            problems.raise_if_any()
            matrix = matrix / sums[:, None]
        else:
            for i in off[: problems.limit + 1]:
                problems.add(
                    int(i) + 1,
                    ",".join(names) if len(names) <= 4 else f"{names[0]}..{names[-1]}",
                    f"probabilities sum to {sums[i]:.6g}, not 1 (tolerance {SUM_TOLERANCE}); "
                    "pass renormalize=True (CLI: --renormalize) to divide by the sum",
                )
            problems.raise_if_any()
    return np.ascontiguousarray(matrix, dtype=np.float32)


def _softmax_checked(
    logits: NDArray[np.float64], names: Sequence[str], problems: _Problems
) -> NDArray[np.float32]:
    for j, name in enumerate(names):
        col = logits[:, j]
        problems.add_rows(np.flatnonzero(np.isnan(col)), name, "NaN logit")
        problems.add_rows(np.flatnonzero(np.isinf(col)), name, "infinite logit")
    problems.raise_if_any()
    return softmax(logits).astype(np.float32)


def softmax(logits: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """Row-wise softmax, shifted by the row maximum so large logits cannot overflow."""
    shifted = np.asarray(logits, dtype=np.float64) - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _read_embedding(table: pa.Table, problems: _Problems) -> NDArray[np.float32] | None:
    column = table.column("embedding")
    fast = _numeric_lists(column)
    if fast is not None:
        bad = np.flatnonzero(~np.isfinite(fast).all(axis=1))
        problems.add_rows(bad, "embedding", "NaN or infinite value")
        return fast
    values = column.to_pylist()
    if values and isinstance(values[0], str):
        parsed = []
        for i, v in enumerate(values):
            try:
                parsed.append(json.loads(v))
            except (json.JSONDecodeError, TypeError):
                problems.add(i + 1, "embedding", "not a JSON list of numbers")
                parsed.append(None)
        values = parsed
    lengths = [len(v) if isinstance(v, list) else -1 for v in values]
    width = max(set(lengths), key=lengths.count)
    for i, length in enumerate(lengths):
        if length != width:
            problems.add(i + 1, "embedding", f"holds {max(length, 0)} values, expected {width}")
    if problems.items:
        return None
    try:
        matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        problems.add(None, "embedding", "holds values that are not numbers")
        return None
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    problems.add_rows(bad, "embedding", "NaN or infinite value")
    return matrix


def _numeric_lists(column: pa.ChunkedArray) -> NDArray[np.float32] | None:
    """A Parquet list column of numbers, every row the same length, as (n, d) without Python.

    ``None`` when the column is anything else (JSON text, ragged rows, nulls): the row-by-row
    reader then names each bad row. A million 16-float rows take milliseconds here and tens of
    seconds through ``to_pylist``.
    """
    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and not (
        pa.types.is_fixed_size_list(kind)
    ):
        return None
    if not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        return None
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if array.null_count or len(array) == 0:
        return None
    lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
    if lengths.min() != lengths.max() or lengths[0] == 0:
        return None
    values = array.flatten()
    if values.null_count:
        return None
    flat = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return np.ascontiguousarray(flat.reshape(len(array), int(lengths[0])))


def _check_image_refs(
    images: NDArray[np.object_],
    image_root: Path | None,
    roots: Sequence[Path],
    problems: _Problems,
) -> None:
    """Refuse references that leave the allowed roots.

    Only absolute paths and paths with ``..`` can leave the image root, so only those are resolved
    here (cheap at a million rows); :meth:`ModelRun.image_location` checks again when reading.
    """
    text = pa.array(images, type=pa.string()).fill_null("")
    suspicious = pc.or_(
        pc.or_(pc.starts_with(text, "/"), pc.starts_with(text, "~")),
        pc.match_substring(text, ".."),
    )
    url = pc.or_(pc.starts_with(text, "http://"), pc.starts_with(text, "https://"))
    flagged = pc.and_(suspicious, pc.invert(url)).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(flagged):
        try:
            resolve_image_path(str(images[i]), image_root, roots)
        except PathNotAllowedError as exc:
            problems.add(int(i) + 1, "image", str(exc))


# --------------------------------------------------------------------------------------------
# Other tasks: ensembles (n, T, C), multi-label sigmoids, detection boxes


def _is_ensemble(table: pa.Table) -> bool:
    if any(_MEMBER_COLUMN.match(c) for c in table.column_names):
        return True
    if "probabilities" in table.column_names:
        kind = table.column("probabilities").type
        return pa.types.is_list(kind) and pa.types.is_list(kind.value_type)
    return False


def _read_ensemble(
    table: pa.Table, declared: list[str] | None, renormalize: bool, problems: _Problems
) -> tuple[NDArray[np.float32], list[str]]:
    """Probabilities of shape (n, T, C): a nested ``probabilities`` list or ``m<t>_prob_<c>``."""
    members: dict[int, dict[str, str]] = {}
    for column in table.column_names:
        match = _MEMBER_COLUMN.match(column)
        if match:
            members.setdefault(int(match.group(1)), {})[match.group(2)] = column
    if members:
        classes = declared or list(next(iter(members.values())))
        planes = []
        for t in sorted(members):
            missing = [c for c in classes if c not in members[t]]
            if missing:
                problems.add(
                    None, f"m{t}_prob_{missing[0]}", f"member {t} has no column for {missing}"
                )
                continue
            names = [members[t][c] for c in classes]
            matrix = np.column_stack([_numeric(table, c, problems) for c in names])
            planes.append(_check_probabilities(matrix, names, renormalize, problems))
        problems.raise_if_any()
        samples = np.stack(planes, axis=1)
    else:
        values = table.column("probabilities").to_pylist()
        shapes = [np.shape(v) if v is not None else () for v in values]
        common = max(set(shapes), key=shapes.count)
        for i, shape in enumerate(shapes):
            if shape != common or len(shape) != 2:
                problems.add(
                    i + 1,
                    "probabilities",
                    f"holds an array of shape {shape}, expected (members, classes) = {common}",
                )
        problems.raise_if_any()
        nested = np.asarray(values, dtype=np.float64)
        classes = declared or [str(i) for i in range(nested.shape[2])]
        if len(classes) != nested.shape[2]:
            problems.add(
                None,
                "probabilities",
                f"class-count mismatch: {len(classes)} classes declared but members hold "
                f"{nested.shape[2]} probabilities",
            )
            problems.raise_if_any()
        flat = nested.reshape(-1, nested.shape[2])
        names = [f"probabilities[{c}]" for c in classes]
        # rows of the flattened array are (row, member) pairs: report the data row
        checker = _Problems(problems.file, problems.limit)
        checked = _check_probabilities_quiet(flat, names, renormalize, checker)
        for p in checker.items:
            row = None if p.row is None else (p.row - 1) // nested.shape[1] + 1
            member = None if p.row is None else (p.row - 1) % nested.shape[1]
            problems.add(row, p.field, f"member {member}: {p.message}")
        problems.raise_if_any()
        samples = checked.reshape(nested.shape)
    _check_class_count(classes, problems)
    return np.ascontiguousarray(samples, dtype=np.float32), classes


def _check_probabilities_quiet(
    matrix: NDArray[np.float64], names: Sequence[str], renormalize: bool, problems: _Problems
) -> NDArray[np.float32]:
    """Like _check_probabilities, but collects problems instead of raising them."""
    try:
        return _check_probabilities(matrix, names, renormalize, problems)
    except RunValidationError:
        return np.zeros(matrix.shape, dtype=np.float32)


def _read_multilabel(
    table: pa.Table, declared: list[str] | None, problems: _Problems
) -> tuple[NDArray[np.float32], list[str]]:
    """Independent per-class probabilities: ``prob_<c>``, ``logit_<c>`` (sigmoid) or a list."""
    columns = table.column_names
    prob_cols = [c for c in columns if c.startswith("prob_")]
    logit_cols = [c for c in columns if c.startswith("logit_")]
    if prob_cols or logit_cols:
        prefix = "prob_" if prob_cols else "logit_"
        classes = declared or [c[len(prefix) :] for c in (prob_cols or logit_cols)]
        names = [prefix + c for c in classes]
        missing = [n for n in names if n not in columns]
        if missing:
            problems.add(None, missing[0], f"missing column for class(es): {', '.join(missing)}")
            problems.raise_if_any()
        matrix = np.column_stack([_numeric(table, c, problems) for c in names])
        if logit_cols and not prob_cols:
            _report_bad_values(matrix, names, problems, negative=False)
            problems.raise_if_any()
            matrix = 1.0 / (1.0 + np.exp(-np.clip(matrix, -500, 500)))
    elif "probabilities" in columns:
        matrix = _list_column(table.column("probabilities"), "probabilities", problems)
        classes = declared or [str(i) for i in range(matrix.shape[1])]
        names = [f"probabilities[{c}]" for c in classes]
        if len(classes) != matrix.shape[1]:
            problems.add(
                None,
                "probabilities",
                f"class-count mismatch: {len(classes)} classes declared but rows hold "
                f"{matrix.shape[1]} probabilities",
            )
            problems.raise_if_any()
    else:
        problems.add(
            None,
            None,
            "no multi-label predictions found: expected prob_<class> columns (one sigmoid per "
            "class), logit_<class> columns or a 'probabilities' list column; found columns: "
            + _names(columns),
        )
        problems.raise_if_any()
        raise AssertionError("unreachable")
    _report_bad_values(matrix, names, problems)
    for j, name in enumerate(names):
        problems.add_rows(np.flatnonzero(matrix[:, j] > 1.0), name, "probability above 1")
    problems.raise_if_any()
    _check_class_count(classes, problems)
    return np.ascontiguousarray(matrix, dtype=np.float32), classes


def _read_boxes(
    table: pa.Table, declared: list[str] | None, problems: _Problems
) -> tuple[Boxes, list[str]]:
    """A ``boxes`` column: per row a list of {x, y, w, h, label, score[, probabilities]}."""
    if "boxes" not in table.column_names:
        problems.add(
            None,
            "boxes",
            "a detection run needs a 'boxes' column (per row a list of {x, y, w, h, label, "
            "score}), or run.json 'format': coco / yolo / labelbox; found columns: "
            + _names(table.column_names),
        )
        problems.raise_if_any()
    values = table.column("boxes").to_pylist()
    rows: list[int] = []
    coords: list[list[float]] = []
    labels: list[str] = []
    scores: list[float] = []
    box_probs: list[Any] = []
    for i, cell in enumerate(values):
        if isinstance(cell, str):
            try:
                cell = json.loads(cell) if cell.strip() else []
            except json.JSONDecodeError:
                problems.add(i + 1, "boxes", "not a JSON list of boxes")
                continue
        if cell is None:
            cell = []
        if not isinstance(cell, list):
            problems.add(i + 1, "boxes", "must be a list of boxes")
            continue
        for j, box in enumerate(cell):
            where = f"boxes[{j}]"
            if not isinstance(box, dict):
                problems.add(i + 1, where, "must be an object with x, y, w, h, label, score")
                continue
            parsed = _parse_box(box, where, i, problems)
            if parsed is None:
                continue
            xywh, label_text, score, probs = parsed
            rows.append(i)
            coords.append(xywh)
            labels.append(label_text)
            scores.append(score)
            box_probs.append(probs)
    problems.raise_if_any()
    classes = declared or sorted(set(labels))
    lookup = {c: k for k, c in enumerate(classes)}
    unknown = sorted(set(labels) - set(lookup))
    if unknown:
        problems.add(None, "boxes", f"box labels not among the classes: {', '.join(unknown[:10])}")
        problems.raise_if_any()
    with_probs = [p for p in box_probs if p is not None]
    probabilities = None
    if with_probs and len(with_probs) == len(box_probs):
        matrix = np.asarray(with_probs, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(classes):
            problems.add(
                None, "boxes", f"box probabilities must hold one value per class ({len(classes)})"
            )
            problems.raise_if_any()
        probabilities = matrix
    boxes = Boxes.from_arrays(
        np.asarray(rows, dtype=np.int64),
        np.asarray(coords, dtype=np.float32).reshape(-1, 4),
        np.asarray([lookup[x] for x in labels], dtype=np.intp),
        np.asarray(scores, dtype=np.float32),
        n_rows=table.num_rows,
        probabilities=probabilities,
    )
    return boxes, list(classes)


def _parse_box(
    box: dict[str, Any], where: str, i: int, problems: _Problems
) -> tuple[list[float], str, float, list[float] | None] | None:
    if box.get("bbox") is not None:
        bbox = box["bbox"]
        if not isinstance(bbox, list) or len(bbox) != 4:
            problems.add(i + 1, f"{where}.bbox", "must be [x, y, w, h]")
            return None
        raw = dict(zip("xywh", bbox, strict=True))
    else:
        raw = {k: box.get(k) for k in "xywh"}
    coords = []
    for key in "xywh":
        value = raw.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            problems.add(i + 1, f"{where}.{key}", f"must be a finite number, got {value!r}")
            return None
        coords.append(float(value))
    if coords[2] <= 0 or coords[3] <= 0:
        problems.add(i + 1, f"{where}.w", f"box width and height must be > 0, got {coords[2:]}")
        return None
    label = box.get("label")
    if label is None or str(label) == "":
        problems.add(i + 1, f"{where}.label", "missing label")
        return None
    score = box.get("score")
    if not isinstance(score, int | float) or not 0.0 <= float(score) <= 1.0:
        problems.add(i + 1, f"{where}.score", f"must be a number in [0, 1], got {score!r}")
        return None
    probs = box.get("probabilities")
    return coords, str(label), float(score), probs
