"""Per-row prediction records: what a batch row predicted, in the form the exporters render.

A record is a JSON object stored with each batch row at submit time (the ledger's ``prediction``
column), so that a batch exports the same pre-annotations whatever happens to the run file
later. One per task:

classification
    ``{"task": "classification", "label": "7", "confidence": 0.61,
    "probabilities": {"7": 0.61, "1": 0.2, ...}, "image_path": ...}``: the top-1 class, its
    probability, and the :data:`TOP_CLASSES` most probable classes (most probable first; absent
    for a run that gives only the top-1 label). ``label`` is ``null`` when the run has no
    prediction for the row.
multilabel
    ``{"task": "multilabel", "labels": ["1", "5"], "scores": {"1": 0.8, "5": 0.7, ...},
    "threshold": 0.5, "image_path": ...}``: every class at or above the run's threshold, in
    the run's class order (possibly none), and the scores of those classes plus the most
    probable others, at least :data:`TOP_CLASSES` in all (highest first).
detection
    ``{"task": "detection", "boxes": [{"x", "y", "w", "h", "label", "score"}, ...],
    "image_width": W, "image_height": H, "image_path": ...}``: every box of the row in the
    run's order, in pixels (``x, y`` the top-left corner); the image size comes from the run's
    ``image_width``/``image_height`` (or ``width``/``height``) metadata columns, else from the
    image file's header (Pillow reads no pixels for it), and is ``null`` when neither is
    available (an image given by URL).

Every record also carries ``image_path``: the row's image resolved to an absolute local path
(``null`` for a URL or a row without an image). The batch row keeps the reference as written;
the exporters need the resolved path to rewrite references relative to a files root
(``{relpath}``, see :mod:`labelnext.export.images`).

Numbers are the run's float32 values written with the fewest digits that read back to the same
float32 (``0.61``, not ``0.6100000143``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from labelnext.errors import ExportError, PathNotAllowedError
from labelnext.runs import ModelRun

__all__ = ["TOP_CLASSES", "prediction_record", "prediction_records", "with_predictions"]

TOP_CLASSES = 5
_NOT_PLAIN = ("/", "~", "http://", "https://")
_SIZE_COLUMNS = (("image_width", "image_height"), ("width", "height"))


def prediction_record(run: ModelRun, row: int) -> dict[str, Any]:
    """The prediction of one row of a run, as a JSON-ready record (see the module docstring).

    Parameters
    ----------
    run : ModelRun
    row : int
        The row's position in the run, ``0 <= row < run.n_rows``.

    Returns
    -------
    dict
        The record for ``run.task``; JSON-serialisable as it is.

    Raises
    ------
    ExportError
        If ``row`` is out of range.

    Examples
    --------
    >>> from labelnext import load_run
    >>> from labelnext.paths import SAMPLE_DATA_DIR
    >>> run = load_run(SAMPLE_DATA_DIR / "mnist_multilabel")
    >>> record = prediction_record(run, 0)
    >>> record["task"], record["labels"], record["threshold"]
    ('multilabel', ['4', '6', '9'], 0.5)
    """
    if isinstance(row, bool) or not isinstance(row, int | np.integer):
        raise ExportError(f"row: expected a row position (int), got {row!r}")
    if not 0 <= int(row) < run.n_rows:
        raise ExportError(f"row: {row} is out of range for a run of {run.n_rows} rows")
    return _Recorder(run).record(int(row))


def prediction_records(run: ModelRun, data_row_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The records of the rows named by ``data_row_ids``, in that order (for a submit).

    Parameters
    ----------
    run : ModelRun
    data_row_ids : iterable of str
        Ids of rows of ``run``.

    Returns
    -------
    list of dict
        One record per id (see :func:`prediction_record`).

    Raises
    ------
    ExportError
        If an id is not a row of the run (the message names up to 5 of them).
    """
    wanted = [str(i) for i in data_row_ids]
    found = run.id_index.get_indexer(pd.Index(wanted, dtype=object))
    missing = [wanted[i] for i in np.flatnonzero(found < 0)]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise ExportError(
            f"data_row_ids: {len(missing)} id(s) are not rows of run {run.name!r}: {shown}"
        )
    recorder = _Recorder(run)
    rows = found.astype(np.intp)
    if run.task in ("classification", "multilabel") and run.probabilities is not None:
        return recorder.records_of_probabilities(rows)  # vectorised: 100,000 rows in a second
    return [recorder.record(int(i)) for i in rows]


def with_predictions(rows: pd.DataFrame, run: ModelRun) -> pd.DataFrame:
    """``rows`` (a selection of ``run``) with each row's ``prediction`` record, as a submit
    stores them so the batch exports to the labeling tools without the run file."""
    records = prediction_records(run, rows["data_row_id"].astype(str))
    return rows.assign(prediction=pd.Series(records, index=rows.index, dtype=object))


def number(value: Any) -> float:
    """A float32 value as the shortest Python float that reads back to the same float32."""
    return float(str(np.float32(value)))


class _Recorder:
    """Builds records for rows of one run (looks up per-run things once)."""

    def __init__(self, run: ModelRun) -> None:
        self.run = run
        self.names = run.classes
        self.size_columns = next(
            (pair for pair in _SIZE_COLUMNS if set(pair) <= set(run.metadata.columns)), None
        )

    def record(self, i: int) -> dict[str, Any]:
        task = self.run.task
        if task == "detection":
            record = self._detection(i)
        elif task == "multilabel":
            record = self._multilabel(i)
        else:
            record = self._classification(i)
        record["image_path"] = self._image_path(i)
        return record

    def _classification(self, i: int) -> dict[str, Any]:
        run = self.run
        if run.probabilities is None:
            assert run.top1_labels is not None and run.top1_confidence is not None
            label = run.top1_labels[i]
            if label is None:
                return {"task": "classification", "label": None, "confidence": None}
            return {
                "task": "classification",
                "label": str(label),
                "confidence": number(run.top1_confidence[i]),
            }
        p = run.probabilities[i]
        order = np.argsort(-p, kind="stable")[:TOP_CLASSES]
        return {
            "task": "classification",
            "label": self.names[int(order[0])],
            "confidence": number(p[order[0]]),
            "probabilities": {self.names[int(k)]: number(p[k]) for k in order},
        }

    def _multilabel(self, i: int) -> dict[str, Any]:
        run = self.run
        assert run.probabilities is not None
        p = run.probabilities[i]
        on = np.flatnonzero(p >= run.threshold)
        order = np.argsort(-p, kind="stable")[: max(TOP_CLASSES, len(on))]
        return {
            "task": "multilabel",
            "labels": [self.names[int(k)] for k in on],
            "scores": {self.names[int(k)]: number(p[k]) for k in order},
            "threshold": float(run.threshold),
        }

    def _detection(self, i: int) -> dict[str, Any]:
        boxes = self.run.boxes
        found: list[dict[str, Any]] = []
        if boxes is not None:
            part = boxes.of(i)
            for (x, y, w, h), label, score in zip(
                boxes.xywh[part], boxes.label[part], boxes.score[part], strict=True
            ):
                found.append(
                    {
                        "x": number(x),
                        "y": number(y),
                        "w": number(w),
                        "h": number(h),
                        "label": self.names[int(label)],
                        "score": number(score),
                    }
                )
        width, height = self._image_size(i)
        return {
            "task": "detection",
            "boxes": found,
            "image_width": width,
            "image_height": height,
        }

    def records_of_probabilities(self, rows: NDArray[np.intp]) -> list[dict[str, Any]]:
        """:meth:`record` of many classification or multi-label rows at once."""
        run = self.run
        assert run.probabilities is not None
        names = self.names
        block = run.probabilities[rows]
        top = min(TOP_CLASSES, block.shape[1])
        order = np.argsort(-block, axis=1, kind="stable")
        multilabel = run.task == "multilabel"
        present = block >= run.threshold if multilabel else None
        width = max(top, int(present.sum(axis=1).max(initial=0))) if present is not None else top
        order = order[:, :width]
        # float32 values as their shortest text, then floats: what number() gives, in bulk
        values = np.take_along_axis(block, order, axis=1).astype(np.float32).astype(str)
        paths = self._image_paths(rows)
        records: list[dict[str, Any]] = []
        for j in range(len(rows)):
            ranked = order[j]
            if present is None:
                scores = {
                    names[int(k)]: float(v)
                    for k, v in zip(ranked[:top], values[j][:top], strict=True)
                }
                record: dict[str, Any] = {
                    "task": "classification",
                    "label": names[int(ranked[0])],
                    "confidence": float(values[j][0]),
                    "probabilities": scores,
                }
            else:
                on = np.flatnonzero(present[j])
                keep = max(top, len(on))
                record = {
                    "task": "multilabel",
                    "labels": [names[int(k)] for k in on],
                    "scores": {
                        names[int(k)]: float(v)
                        for k, v in zip(ranked[:keep], values[j][:keep], strict=True)
                    },
                    "threshold": float(run.threshold),
                }
            record["image_path"] = paths[j]
            records.append(record)
        return records

    def _image_paths(self, rows: NDArray[np.intp]) -> list[str | None]:
        """Each row's resolved image path: a plain relative reference is joined to the
        (resolved) image root without touching the disk; anything else is resolved and checked
        one by one."""
        run = self.run
        if run.images is None:
            return [None] * len(rows)
        root = run.image_root.resolve() if run.image_root is not None else None
        out: list[str | None] = []
        for i in rows:
            ref = run.images[i]
            if not ref:
                out.append(None)
            elif (
                root is not None
                and not str(ref).startswith(("/", "~", "http://", "https://"))
                and ".." not in str(ref)
            ):
                out.append(str(root / str(ref)))
            else:
                out.append(self._image_path(int(i)))
        return out

    def _image_path(self, i: int) -> str | None:
        try:
            location = self.run.image_location(i)
        except PathNotAllowedError:
            return None
        return str(location) if isinstance(location, Path) else None

    def _image_size(self, i: int) -> tuple[int | None, int | None]:
        if self.size_columns is not None:
            w, h = (self.run.metadata[c].iloc[i] for c in self.size_columns)
            if pd.notna(w) and pd.notna(h) and w > 0 and h > 0:
                return int(w), int(h)
        path = self._image_path(i)
        if path is None:
            return None, None
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError):
            return None, None
        return int(width), int(height)
