"""Detection boxes of a model run, held flat so that a million boxes cost a few arrays.

Box ``j`` belongs to image (data row) ``row[j]``; boxes are sorted by row, and
``offsets[i]:offsets[i + 1]`` are the boxes of row ``i`` (empty for an image with no boxes).
Coordinates are ``x, y, w, h`` in pixels, ``x, y`` the top-left corner (COCO's convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Boxes"]


@dataclass(frozen=True, eq=False)
class Boxes:
    """All boxes of a detection run.

    Attributes
    ----------
    row : ndarray of shape (n_boxes,)
        The data row (image) position each box belongs to; non-decreasing.
    xywh : ndarray of shape (n_boxes, 4)
        Box corner and size in pixels.
    label : ndarray of shape (n_boxes,)
        Index into the run's classes.
    score : ndarray of shape (n_boxes,)
        The detector's confidence in the box, in [0, 1].
    probabilities : ndarray of shape (n_boxes, n_classes) or None
        Class probabilities per box, when the detector gives them.
    offsets : ndarray of shape (n_rows + 1,)
        Row ``i``'s boxes are ``offsets[i]:offsets[i + 1]``.
    """

    row: NDArray[np.int64]
    xywh: NDArray[np.float32]
    label: NDArray[np.intp]
    score: NDArray[np.float32]
    probabilities: NDArray[np.float32] | None
    offsets: NDArray[np.int64]

    @classmethod
    def from_arrays(
        cls,
        row: ArrayLike,
        xywh: ArrayLike,
        label: ArrayLike,
        score: ArrayLike,
        *,
        n_rows: int,
        probabilities: ArrayLike | None = None,
    ) -> Boxes:
        """Build from unsorted per-box arrays; sorts by row, keeping each row's box order."""
        row_a = np.asarray(row, dtype=np.int64).reshape(-1)
        order = np.argsort(row_a, kind="stable")
        row_a = row_a[order]
        if len(row_a) and (row_a[0] < 0 or row_a[-1] >= n_rows):
            raise ValueError(f"box rows must lie in [0, {n_rows}), got {row_a[0]}..{row_a[-1]}")
        xywh_a = np.asarray(xywh, dtype=np.float32).reshape(-1, 4)[order]
        probs = None
        if probabilities is not None:
            probs = np.asarray(probabilities, dtype=np.float32)[order]
        offsets = np.searchsorted(row_a, np.arange(n_rows + 1)).astype(np.int64)
        return cls(
            row=row_a,
            xywh=xywh_a,
            label=np.asarray(label, dtype=np.intp).reshape(-1)[order],
            score=np.asarray(score, dtype=np.float32).reshape(-1)[order],
            probabilities=probs,
            offsets=offsets,
        )

    @property
    def n_boxes(self) -> int:
        """Number of boxes in the run."""
        return len(self.row)

    @property
    def counts(self) -> NDArray[np.int64]:
        """Boxes per row."""
        return np.diff(self.offsets)

    def of(self, i: int) -> slice:
        """The slice of row ``i``'s boxes."""
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def top_label(self) -> NDArray[np.intp]:
        """Per row, the label of its highest-scoring box; -1 for a row with no boxes."""
        n_rows = len(self.offsets) - 1
        best = np.full(n_rows, -1, dtype=np.intp)
        if self.n_boxes:
            # boxes ordered by (row, score); the last box of each row is its best
            order = np.lexsort((self.score, self.row))
            last = np.flatnonzero(np.r_[self.row[order][1:] != self.row[order][:-1], True])
            best[self.row[order][last]] = self.label[order][last]
        return best
