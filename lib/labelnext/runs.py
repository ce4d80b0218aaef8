"""The model run: one model version's predictions on a set of data rows, in canonical form.

Readers (:mod:`labelnext.readers`) make these; scoring (:mod:`labelnext.scoring`), selection
(:mod:`labelnext.select`) and the dashboard read them. A run is immutable: nothing after loading
changes its arrays.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from labelnext.boxes import Boxes
from labelnext.errors import LabelnextError
from labelnext.paths import is_url, resolve_image_path

__all__ = ["TASKS", "ModelRun"]

TASKS = ("classification", "multilabel", "detection")


class _StringColumn:
    """A run's column of strings (ids, image references), held as one Arrow string array.

    A million ids as Python strings cost about 70 MB and 0.3 s to make; as Arrow, 20 MB and
    nothing. The column is set from an Arrow array (what the readers pass) or from any
    sequence (tests, the foreign readers); reading the attribute gives the object array that
    code written for numpy expects, made on first use and kept. Code on the paths a page flip
    or a first page takes reads ``<name>_arrow`` instead and turns only the rows it shows into
    Python strings.
    """

    def __init__(self, *, optional: bool) -> None:
        self.optional = optional

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.arrow_key = f"_{name}_arrow"
        self.objects_key = f"_{name}_objects"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:  # the dataclass asks for the default
            if self.optional:
                return None
            raise AttributeError(self.name)
        held = obj.__dict__
        objects = held.get(self.objects_key)
        if objects is None:
            arrow = held.get(self.arrow_key)
            if arrow is None:
                return None
            objects = np.asarray(arrow.to_numpy(zero_copy_only=False), dtype=object)
            objects.flags.writeable = False
            held[self.objects_key] = objects
        return objects

    def __set__(self, obj: Any, value: Any) -> None:
        held = obj.__dict__
        held.pop(self.objects_key, None)
        held[self.arrow_key] = None
        if value is None:
            return
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks() if value.num_chunks != 1 else value.chunk(0)
        if isinstance(value, pa.Array):
            if not pa.types.is_string(value.type):
                value = pc.cast(value, pa.string())
            held[self.arrow_key] = value
            return
        objects = value if isinstance(value, np.ndarray) and value.dtype == object else None
        held[self.objects_key] = (
            objects if objects is not None else np.asarray(list(value), dtype=object)
        )

    def arrow(self, obj: Any) -> pa.Array | None:
        """The column as Arrow (made from the object array when it was set from one)."""
        held = obj.__dict__
        arrow = held.get(self.arrow_key)
        if arrow is None and held.get(self.objects_key) is not None:
            arrow = pa.array(held[self.objects_key], type=pa.string())
            held[self.arrow_key] = arrow
        return arrow


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
    #: Every row's ``data_row_id``: an object array of str when read (set from Arrow or any
    #: sequence; :attr:`ids_arrow` is the same column without Python strings).
    if TYPE_CHECKING:  # the type checker sees a plain required field
        ids: NDArray[np.object_]
    else:
        ids: NDArray[np.object_] = _StringColumn(optional=False)
    probabilities: NDArray[np.float32] | None
    metadata: pd.DataFrame
    source: str
    content_hash: str
    model: str | None = None
    version: str | None = None
    created: str | None = None
    if TYPE_CHECKING:
        images: NDArray[np.object_] | None = None
    else:
        images: NDArray[np.object_] | None = _StringColumn(optional=True)
    top1_labels: NDArray[np.object_] | None = None
    top1_confidence: NDArray[np.float32] | None = None
    embedding: NDArray[np.float32] | None = None
    ground_truth: NDArray[np.object_] | None = None
    image_root: Path | None = None
    allowed_roots: tuple[Path, ...] = field(default=(), repr=False)
    samples: NDArray[np.float32] | None = field(default=None, repr=False)
    boxes: Boxes | None = field(default=None, repr=False)
    threshold: float = 0.5
    #: The ids' ranks in sorted order when the reader has sorted them already (the duplicate
    #: check does); :attr:`id_rank` computes them on first use otherwise.
    presorted_id_rank: NDArray[np.int64] | None = field(default=None, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        objects = self.__dict__.get("_ids_objects")
        return len(objects) if objects is not None else len(self.ids_arrow)

    @property
    def ids_arrow(self) -> pa.Array:
        """The ids as one Arrow string array (no Python string per row)."""
        arrow = ModelRun.__dict__["ids"].arrow(self)
        assert arrow is not None  # ids are required
        return arrow

    @property
    def images_arrow(self) -> pa.Array | None:
        """The image references as one Arrow string array, or None without an image column."""
        return ModelRun.__dict__["images"].arrow(self)

    def ids_of(self, rows: Sequence[int] | NDArray[np.integer[Any]]) -> list[str]:
        """The ``data_row_id`` of each of ``rows`` (row positions), as Python strings.

        Touches only those rows: what a page of 48 thumbnails needs from a million-row run.
        """
        positions = np.asarray(rows, dtype=np.int64)
        if self.__dict__.get("_ids_objects") is not None:
            return [str(x) for x in self.ids[positions]]
        return [str(x) for x in self.ids_arrow.take(pa.array(positions)).to_pylist()]

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
        if self.top1_labels is None:  # pragma: no cover - a run has one or the other
            raise ValueError(f"run '{self.name}' has neither probabilities nor top-1 labels")
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
        if self.presorted_id_rank is not None:
            return self.presorted_id_rank
        order = pc.sort_indices(self.ids_arrow).to_numpy()
        rank = np.empty(self.n_rows, dtype=np.int64)
        rank[order] = np.arange(self.n_rows, dtype=np.int64)
        return rank

    @cached_property
    def by_id(self) -> NDArray[np.int64]:
        """Row positions in sorted ``data_row_id`` order (the inverse of :attr:`id_rank`)."""
        rank = self.id_rank
        if _is_identity(rank):
            return rank
        rows = np.empty(len(rank), dtype=np.int64)
        rows[rank] = np.arange(len(rank), dtype=np.int64)
        rows.flags.writeable = False
        return rows

    def find_row(self, data_row_id: str) -> int | None:
        """Row position of ``data_row_id``, or None; a binary search over the sorted ids.

        About 20 Arrow look-ups at a million rows, so a deep link or a detail view's
        previous/next never builds the hash index (:attr:`id_index`, 0.2 s and 100 MB).
        Arrow orders strings by their UTF-8 bytes, which is Python's code-point order.
        """
        if self.__dict__.get("id_index") is not None:  # already built: one hash look-up
            position = self.id_index.get_indexer(pd.Index([data_row_id]))[0]
            return None if position < 0 else int(position)
        ids, rows = self.ids_arrow, self.by_id
        sorted_ids = _SortedIds(ids, rows)
        at = bisect.bisect_left(sorted_ids, data_row_id)
        if at < len(rows) and sorted_ids[at] == data_row_id:
            return int(rows[at])
        return None

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
        position = self.find_row(data_row_id)
        if position is None:
            raise LabelnextError(f"Run '{self.name}' has no data row '{data_row_id}'.")
        return position

    def mask_of(self, data_row_ids: Iterable[str]) -> NDArray[np.bool_]:
        """(n_rows,) bool: which rows' ids are in ``data_row_ids`` (unknown ids are ignored).

        A large set (a project's 100,000 queued rows) is hashed once and every row probed in
        Arrow, several times faster than looking each id up in the id index; a few ids are
        looked up. The masks of the last few frozensets asked about are kept (by identity: a
        frozenset cannot change), so a dashboard rerun with the same cached exclusions pays
        nothing.
        """
        if isinstance(data_row_ids, frozenset):
            for held, mask in self._recent_masks:
                if held is data_row_ids:
                    return mask
            mask = self._mask_of(list(data_row_ids))
            mask.flags.writeable = False
            self._recent_masks.insert(0, (data_row_ids, mask))
            del self._recent_masks[4:]
            return mask
        return self._mask_of(data_row_ids)

    @cached_property
    def _recent_masks(self) -> list[tuple[frozenset[str], NDArray[np.bool_]]]:
        return []

    def _mask_of(self, data_row_ids: Iterable[str]) -> NDArray[np.bool_]:
        wanted = data_row_ids if isinstance(data_row_ids, list | tuple) else list(data_row_ids)
        mask = np.zeros(self.n_rows, dtype=bool)
        if not wanted:
            return mask
        if len(wanted) * 50 < self.n_rows:
            mask[self.positions(wanted)] = True
            return mask
        values = pa.array(wanted, type=pa.string())
        hits = pc.is_in(self.ids_arrow, value_set=values)
        return np.asarray(hits.to_numpy(zero_copy_only=False), dtype=bool)

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
        images = self.images_arrow
        if images is None:
            return None
        reference = images[int(i)].as_py()
        if reference is None or reference == "":
            return None
        reference = str(reference)
        if is_url(reference):
            return reference
        return resolve_image_path(reference, self.image_root, self.allowed_roots)


class _SortedIds:
    """The ids in sorted order, read one at a time (for :func:`bisect.bisect_left`)."""

    def __init__(self, ids: pa.Array, rows: NDArray[np.int64]) -> None:
        self.ids, self.rows = ids, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, at: int) -> str:
        return str(self.ids[int(self.rows[at])].as_py())


def _is_identity(rank: NDArray[np.int64]) -> bool:
    """Whether ``rank`` is 0, 1, 2, ...: the file was in id order already."""
    n = len(rank)
    return n == 0 or (
        int(rank[0]) == 0 and int(rank[-1]) == n - 1 and bool(np.all(np.diff(rank) == 1))
    )


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
