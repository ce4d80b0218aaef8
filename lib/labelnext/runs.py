"""The model run: one model version's predictions on a set of data rows, in canonical form.

Readers (:mod:`labelnext.readers`) make these; scoring (:mod:`labelnext.scoring`), selection
(:mod:`labelnext.select`) and the dashboard read them. A run is immutable: nothing after loading
changes its arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

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
    #: The ids' ranks in sorted order when the reader has sorted them already (the duplicate
    #: check does); :attr:`id_rank` computes them on first use otherwise.
    presorted_id_rank: NDArray[np.int64] | None = field(default=None, repr=False, compare=False)

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

    @cached_property
    def ids_arrow(self) -> pa.Array:
        """The ids as an Arrow string array (for set membership over every row)."""
        return pa.array(self.ids, type=pa.string())

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
