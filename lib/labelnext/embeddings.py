"""Embeddings: the vector per row that the map and the diversity batch methods work in.

A run's own ``embedding`` column comes first (source name :data:`RUN_SOURCE`). Where a run has
none, :func:`embedding_for` computes a clearly named fallback from the images,
:data:`FALLBACK_SOURCE` = ``"pixels-16x16-pca32"``: each image converted to grayscale, downsampled
to 16 x 16 pixels (Pillow, box filter), scaled to [0, 1], then projected on the 32 leading
principal components of the run's pixel vectors (an eigendecomposition of their 256 x 256
covariance, accumulated in blocks; deterministic, no random step; each component's sign is fixed
so that its largest coefficient is positive). Fewer than 33 rows give fewer components, and the
name says so (``pixels-16x16-pca<d>``).

The fallback is cached on disk per run content hash, under ``$LABELNEXT_HOME/embeddings``
(``<content_hash>-<source>.npy``, written to a temporary file and moved into place, so a reader
never sees half a file). A run whose images change without its predictions file changing keeps
its cached fallback: delete the file to recompute.

:func:`check_embeddings` is the one validation of an embedding matrix (finite values, one length
per row, an expected dimension); :mod:`labelnext.batch` calls it on every input.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from labelnext.config import settings
from labelnext.errors import LabelnextError

if TYPE_CHECKING:
    from labelnext.runs import ModelRun

__all__ = [
    "FALLBACK_SOURCE",
    "RUN_SOURCE",
    "EmbeddingError",
    "check_embeddings",
    "embedding_cache_dir",
    "embedding_for",
    "pixel_embedding",
]

RUN_SOURCE = "run"
"""Source name of an embedding that came with the run (its ``embedding`` column)."""
PIXEL_SIDE = 16
PCA_DIM = 32
FALLBACK_SOURCE = f"pixels-{PIXEL_SIDE}x{PIXEL_SIDE}-pca{PCA_DIM}"
"""Source name of the image fallback (with fewer components the number in it is smaller)."""
_CACHE_VERSION = 1  # bump when the fallback's recipe changes, so old cache files are not reused
_BLOCK = 4096
_MAX_LISTED = 5


class EmbeddingError(LabelnextError, ValueError):
    """An embedding matrix is malformed, or a run has neither an embedding nor images."""


def _where(i: int, ids: Sequence[Any] | NDArray[Any] | None) -> str:
    """``row 7`` or ``row 7 (data_row_id 'img-7')``: 0-based positions, as numpy counts."""
    return f"row {i}" if ids is None else f"row {i} (data_row_id {str(ids[i])!r})"


def check_embeddings(
    embeddings: ArrayLike,
    *,
    field: str = "embeddings",
    n_rows: int | None = None,
    expected_dim: int | None = None,
    ids: Sequence[Any] | NDArray[Any] | None = None,
) -> NDArray[np.floating[Any]]:
    """Validate an embedding matrix once and return it as a float array.

    Parameters
    ----------
    embeddings : array-like of shape (n_rows, dim)
        One vector per row. float32 stays float32 (no copy); anything else becomes float64.
    field : str, default="embeddings"
        The name used in messages (``"labeled_embeddings"``...).
    n_rows : int, optional
        The number of rows the matrix must have (the pool's).
    expected_dim : int, optional
        The dimension the matrix must have (a run's declared one, or the pool's).
    ids : sequence of str, optional
        Each row's ``data_row_id``, quoted in messages next to the 0-based row position.

    Returns
    -------
    ndarray of shape (n_rows, dim)

    Raises
    ------
    EmbeddingError
        Naming the row and column of the first NaN or infinite value (and how many rows hold
        one), the first row whose length differs, or the dimensions and row counts that differ.

    Examples
    --------
    >>> check_embeddings([[0.0, 1.0], [2.0, 3.0]]).shape
    (2, 2)
    >>> check_embeddings([[0.0, 1.0], [2.0, float("nan")]])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labelnext.embeddings.EmbeddingError: embeddings row 1, column 1 is NaN (1 row(s) hold NaN...
    """
    matrix = _as_matrix(embeddings, field, ids)
    if matrix.ndim != 2:
        raise EmbeddingError(
            f"{field} must have shape (n_rows, dim), got an array of shape {matrix.shape}."
        )
    if matrix.shape[1] == 0:
        raise EmbeddingError(f"{field} has dimension 0; each row needs at least one value.")
    if n_rows is not None and matrix.shape[0] != n_rows:
        raise EmbeddingError(f"{field} has {matrix.shape[0]} row(s), expected {n_rows}.")
    if expected_dim is not None and matrix.shape[1] != expected_dim:
        raise EmbeddingError(f"{field} has dimension {matrix.shape[1]}, expected {expected_dim}.")
    finite = _finite_rows(matrix)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        row = int(bad[0])
        column = int(np.flatnonzero(~np.isfinite(matrix[row]))[0])
        value = matrix[row, column]
        what = "NaN" if np.isnan(value) else "infinite"
        raise EmbeddingError(
            f"{field} {_where(row, ids)}, column {column} is {what} ({len(bad)} row(s) hold NaN "
            "or infinite values); every value must be a finite number."
        )
    return matrix


def _as_matrix(
    embeddings: ArrayLike, field: str, ids: Sequence[Any] | NDArray[Any] | None
) -> NDArray[np.floating[Any]]:
    if isinstance(embeddings, np.ndarray) and embeddings.dtype == np.float32:
        return embeddings
    if isinstance(embeddings, np.ndarray) and embeddings.dtype != object:
        try:
            return embeddings.astype(np.float64, copy=False)
        except (TypeError, ValueError) as exc:
            raise EmbeddingError(f"{field} holds values that are not numbers: {exc}") from None
    rows = list(embeddings) if isinstance(embeddings, Sequence | np.ndarray) else None
    if rows is not None and rows and all(isinstance(r, Sequence | np.ndarray) for r in rows):
        lengths = [len(r) for r in rows]
        width = max(set(lengths), key=lengths.count)
        for i, length in enumerate(lengths):
            if length != width:
                raise EmbeddingError(
                    f"{field} {_where(i, ids)} holds {length} value(s), expected {width} "
                    "like most rows; every row must have the same length."
                )
    try:
        return np.asarray(embeddings, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise EmbeddingError(f"{field} holds values that are not numbers: {exc}") from None


def _finite_rows(matrix: NDArray[np.floating[Any]]) -> NDArray[np.bool_]:
    """Row-wise finiteness in blocks (no full-size boolean temporary)."""
    out = np.empty(matrix.shape[0], dtype=bool)
    for start in range(0, matrix.shape[0], _BLOCK):
        block = matrix[start : start + _BLOCK]
        # a row sum is finite iff every value is (a finite overflow to inf is checked below)
        with np.errstate(over="ignore", invalid="ignore"):
            sums = block.sum(axis=1)
        ok = np.isfinite(sums)
        if not ok.all():
            ok[~ok] = np.isfinite(block[~ok]).all(axis=1)
        out[start : start + len(block)] = ok
    return out


def embedding_cache_dir(home: Path | str | None = None) -> Path:
    """``<home>/embeddings``, home defaulting to ``$LABELNEXT_HOME`` (else ``.labelnext``)."""
    base = Path(home) if home is not None else settings().home
    return base / "embeddings"


def embedding_for(
    run: ModelRun,
    *,
    allow_fallback: bool = True,
    expected_dim: int | None = None,
    home: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[NDArray[np.float32], str]:
    """The embedding to pick batches in for ``run``, and where it came from.

    Parameters
    ----------
    run : ModelRun
    allow_fallback : bool, default=True
        Compute :data:`FALLBACK_SOURCE` from the images when the run has no ``embedding``.
    expected_dim : int, optional
        Refuse a run embedding of another dimension (for example the one its run.json declares).
    home : path, optional
        The data folder holding the ``embeddings`` cache; default ``$LABELNEXT_HOME``.
    progress : callable(done, total), optional
        Called while the fallback reads images (every 1,000 rows and at the end).

    Returns
    -------
    matrix : ndarray of shape (run.n_rows, dim), float32
    source : str
        :data:`RUN_SOURCE` (``"run"``) or the fallback's name, e.g. ``"pixels-16x16-pca32"``:
        what the UI shows and the ledger records with a batch.

    Raises
    ------
    EmbeddingError
        If the run has no embedding and no images (or ``allow_fallback`` is False), if an image
        cannot be read (the rows are named), or if the run's embedding is malformed.
    """
    if run.embedding is not None:
        matrix = check_embeddings(
            run.embedding,
            field=f"run '{run.name}' embedding",
            n_rows=run.n_rows,
            expected_dim=expected_dim,
            ids=run.ids,
        )
        return np.asarray(matrix, dtype=np.float32), RUN_SOURCE
    if not allow_fallback:
        raise EmbeddingError(
            f"Run '{run.name}' has no 'embedding' column and the image fallback is off "
            "(allow_fallback=False); add an embedding column to the predictions file."
        )
    if run.images is None:
        raise EmbeddingError(
            f"Run '{run.name}' has no 'embedding' column and no 'image' column, so there is no "
            "embedding to pick diverse batches in; add either to the predictions file (or use "
            "method='top')."
        )
    dim = min(PCA_DIM, PIXEL_SIDE * PIXEL_SIDE, max(run.n_rows - 1, 1))
    source = f"pixels-{PIXEL_SIDE}x{PIXEL_SIDE}-pca{dim}"
    path = embedding_cache_dir(home) / f"{run.content_hash}-{source}-v{_CACHE_VERSION}.npy"
    cached = _read_cached(path, run.n_rows, dim)
    if cached is not None:
        return cached, source
    pixels = _pixel_matrix(run, progress)
    matrix = pixel_embedding(pixels, dim=dim)
    _write_atomically(path, matrix)
    return matrix, source


def pixel_embedding(pixels: NDArray[Any], *, dim: int = PCA_DIM) -> NDArray[np.float32]:
    """Project pixel vectors on their ``dim`` leading principal components.

    Parameters
    ----------
    pixels : ndarray of shape (n_rows, n_pixels)
        Grayscale pixel values (any scale).
    dim : int, default=32
        Components kept, at most ``n_pixels``.

    Returns
    -------
    ndarray of shape (n_rows, dim), float32
        Deterministic: the covariance is accumulated in blocks of rows in float64 and
        eigendecomposed; each component's sign makes its largest-magnitude coefficient positive.

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    >>> [round(float(v), 3) for v in pixel_embedding(x, dim=1).ravel()]
    [-1.414, 0.0, 1.414]
    """
    x = np.asarray(pixels)
    if x.ndim != 2 or not 1 <= dim <= x.shape[1]:
        raise ValueError(f"need pixels of shape (n, p) and 1 <= dim <= p, got {x.shape}, {dim}")
    mean = x.mean(axis=0, dtype=np.float64)
    cov = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, len(x), _BLOCK):
        block = x[start : start + _BLOCK] - mean
        cov += block.T @ block
    _, vectors = np.linalg.eigh(cov)
    components = vectors[:, ::-1][:, :dim]
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(dim)])
    components *= np.where(signs == 0, 1.0, signs)
    out = np.empty((len(x), dim), dtype=np.float32)
    for start in range(0, len(x), _BLOCK):
        out[start : start + _BLOCK] = (x[start : start + _BLOCK] - mean) @ components
    return out


def _pixel_matrix(
    run: ModelRun, progress: Callable[[int, int], None] | None
) -> NDArray[np.float32]:
    """Every row's image as 256 grayscale values in [0, 1]; refuses unreadable images by row."""
    out = np.empty((run.n_rows, PIXEL_SIDE * PIXEL_SIDE), dtype=np.float32)
    failed: list[str] = []
    n_failed = 0
    for i in range(run.n_rows):
        reason = _read_pixels(run, i, out[i])
        if reason is not None:
            n_failed += 1
            if len(failed) < _MAX_LISTED:
                failed.append(f"{_where(i, run.ids)}: {reason}")
        if progress is not None and ((i + 1) % 1000 == 0 or i + 1 == run.n_rows):
            progress(i + 1, run.n_rows)
    if n_failed:
        more = f" and {n_failed - len(failed)} more" if n_failed > len(failed) else ""
        raise EmbeddingError(
            f"Run '{run.name}' has no 'embedding' column, and the image fallback "
            f"({FALLBACK_SOURCE}) cannot read {n_failed} of its {run.n_rows} image(s): "
            f"{'; '.join(failed)}{more}. Add an embedding column or fix the images."
        )
    return out


def _read_pixels(run: ModelRun, i: int, out: NDArray[np.float32]) -> str | None:
    """Fill ``out`` with row ``i``'s downsampled grayscale image; or say why it cannot."""
    try:
        location = run.image_location(i)
    except LabelnextError as exc:
        return str(exc)
    if location is None:
        return "no image reference"
    if isinstance(location, str):
        return f"remote image, not fetched: {location}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(location) as img:
                img.draft("L", (4 * PIXEL_SIDE, 4 * PIXEL_SIDE))  # JPEG: decode small, cheaply
                small = img.convert("L").resize((PIXEL_SIDE, PIXEL_SIDE), Image.Resampling.BOX)
    except FileNotFoundError:
        return f"missing image {Path(location).name}"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"unreadable image {Path(location).name} ({type(exc).__name__})"
    except Image.DecompressionBombWarning:
        return f"image too large to decode safely: {Path(location).name}"
    np.divide(np.asarray(small, dtype=np.float32).ravel(), 255.0, out=out)
    return None


def _read_cached(path: Path, n_rows: int, dim: int) -> NDArray[np.float32] | None:
    try:
        matrix = np.load(path, allow_pickle=False)
    except (FileNotFoundError, ValueError, OSError):  # missing, or a damaged file: recompute
        return None
    if matrix.shape != (n_rows, dim) or matrix.dtype != np.float32:
        return None
    return np.asarray(matrix, dtype=np.float32)


def _write_atomically(path: Path, matrix: NDArray[np.float32]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, matrix, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
