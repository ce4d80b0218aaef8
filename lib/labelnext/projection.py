"""2-D map coordinates for every row of a run: the run's own, or a projection of its embedding.

Why one module of this length: finding coordinates, the PCA and UMAP paths and their disk cache
share one cache key and one set of input checks.

Where the coordinates come from (``method="auto"``, the default, takes the first that exists):

1. **The run's own columns.** A metadata column pair from :data:`COORDINATE_COLUMNS`, looked for in
   that order: ``map_x``/``map_y`` (the documented name, for coordinates made by any tool),
   ``umap_x``/``umap_y`` and ``tsne_x``/``tsne_y`` (the names those tools' users tend to write).
   Plain ``x``/``y`` is deliberately not read: detection and image tables use it for pixels.
   Both columns must be numeric and finite in every row. ``method="columns"`` insists on them.
2. **The run's embedding** (the ``embedding`` column, shape (n_rows, d)) or an ``embedding`` array
   passed in (for instance the image fallback of :mod:`labelnext.embeddings`), projected to 2-D:

   * ``"pca"``: exact principal components from the (d, d) covariance, accumulated in float64
     over chunks of rows, so the memory beyond the input is one chunk. Deterministic (the seed
     is not used); each axis is signed so that its largest loading is positive, as
     scikit-learn's PCA does, so the result equals ``sklearn.decomposition.PCA(2)`` exactly up to
     float error. About a second per million rows at d = 16.
   * ``"umap"``: UMAP (the optional package ``umap-learn``: ``pip install umap-learn``), seeded.
     Above ``umap_fit_rows`` rows (default 50,000) it is fitted on a seeded sample of that many
     rows, and the other rows are placed by ``umap_place``: ``"neighbors"`` (default) puts each
     at the inverse-distance mean of its 10 nearest fitted rows (found with pynndescent, which
     umap-learn brings), ``"transform"`` runs ``UMAP.transform`` (UMAP's own placement, with
     its optimisation epochs: about ten times slower). Fitting UMAP on a million rows takes far
     longer than a page can wait; see ``benchmarks/bench_map.py`` for the measured times. The
     first UMAP in a process also compiles umap-learn's numba code (minutes on a busy laptop).

Computed coordinates are cached on disk, under ``$LABELNEXT_HOME/maps`` (``.labelnext/maps`` by
default), one ``.npy`` file per (run content hash, method, seed, embedding, parameters); a
changed run file has a new content hash and so a new entry. Files are written to a temporary
name and moved into place (:func:`os.replace`), so a reader never sees half a file, and reloaded
memory-mapped, read-only. A damaged or mismatched file is recomputed and replaced.

A run with neither columns nor an embedding gets :class:`~labelnext.errors.NoEmbeddingError`
saying how to add one. NaN or infinite values and rows of different lengths get the loader's
:class:`~labelnext.errors.RunValidationError`, naming the row and the field.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> embedding = rng.normal(size=(500, 8)).astype(np.float32) * np.arange(1, 9, dtype=np.float32)
>>> xy, explained = pca_2d(embedding)
>>> xy.shape, xy.dtype
((500, 2), dtype('float32'))
>>> bool(explained[0] >= explained[1])
True
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from labelnext.config import settings
from labelnext.errors import NoEmbeddingError, Problem, ProjectionError, RunValidationError
from labelnext.runs import ModelRun

__all__ = [
    "COORDINATE_COLUMNS",
    "METHODS",
    "MapCoordinates",
    "ProgressCallback",
    "check_embedding",
    "coordinate_columns",
    "map_cache_key",
    "map_coordinates",
    "maps_dir",
    "pca_2d",
    "project_embedding",
    "umap_2d",
]

#: Metadata column pairs read as a run's own 2-D coordinates, in the order they are looked for.
COORDINATE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("map_x", "map_y"),
    ("umap_x", "umap_y"),
    ("tsne_x", "tsne_y"),
)
#: The ``method`` values of :func:`map_coordinates`.
METHODS: tuple[str, ...] = ("auto", "columns", "pca", "umap")

#: ``progress(fraction, message)``: fraction in [0, 1]. ``st.progress(...).progress`` fits it.
ProgressCallback = Callable[[float, str], None]

#: Bumped when a computation changes, so that old cache entries are not reused.
_CACHE_VERSION = 1
#: Rows per chunk of the PCA passes: 65,536 x 128 float64 is 64 MB of scratch memory.
_CHUNK_ROWS = 65_536
_MAX_PROBLEMS = 20
_UMAP_TRANSFORM_CHUNK = 50_000
_UMAP_NEIGHBOURS = 10


@dataclass(frozen=True)
class MapCoordinates:
    """A run's rows placed on a 2-D map.

    Attributes
    ----------
    xy : ndarray of float32, shape (n_rows, 2)
        Row ``i`` of the run at ``xy[i]``. Read-only (memory-mapped when reloaded from cache).
    method : {"columns", "pca", "umap"}
        How the coordinates were made.
    source : str
        Where they came from, in words for the page (``"columns map_x/map_y"``,
        ``"PCA of embedding (4875 x 16)"``).
    seed : int or None
        The seed used (``None`` for columns and for PCA, which is exact).
    from_cache : bool
        True when read from the disk cache instead of computed.
    cache_path : Path or None
        The cache file (``None`` for columns or ``use_cache=False``).
    explained_variance : tuple of float or None
        PCA only: the share of the embedding's variance along each axis.
    """

    xy: NDArray[np.float32]
    method: str
    source: str
    seed: int | None
    from_cache: bool
    cache_path: Path | None
    explained_variance: tuple[float, float] | None = None

    @property
    def n_rows(self) -> int:
        """Number of rows placed."""
        return int(self.xy.shape[0])


def maps_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """The map cache folder: ``<home>/maps``, home defaulting to ``$LABELNEXT_HOME``."""
    return (Path(home) if home is not None else settings().home) / "maps"


def coordinate_columns(run: ModelRun) -> tuple[str, str] | None:
    """The first pair of :data:`COORDINATE_COLUMNS` present in the run's metadata, or ``None``."""
    present = set(map(str, run.metadata.columns))
    for pair in COORDINATE_COLUMNS:
        if pair[0] in present and pair[1] in present:
            return pair
    return None


def map_coordinates(
    run: ModelRun,
    *,
    method: Literal["auto", "columns", "pca", "umap"] = "auto",
    seed: int = 0,
    embedding: ArrayLike | None = None,
    embedding_name: str = "embedding",
    home: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: ProgressCallback | None = None,
    umap_fit_rows: int = 50_000,
    umap_place: Literal["neighbors", "transform"] = "neighbors",
) -> MapCoordinates:
    """Place every row of ``run`` on a 2-D map (cached on disk).

    Parameters
    ----------
    run : ModelRun
        The run; its ``content_hash`` keys the cache.
    method : {"auto", "columns", "pca", "umap"}, default "auto"
        ``"auto"``: the run's coordinate columns if present, else PCA of the embedding.
        ``"columns"``: the run's coordinate columns only. ``"pca"``, ``"umap"``: project the
        embedding even if the run has columns.
    seed : int, default 0
        Seed of UMAP and of its fitting sample. PCA is exact and ignores it.
    embedding : array-like of shape (n_rows, d), optional
        Use this instead of ``run.embedding`` (for instance the image fallback). Its bytes are
        hashed into the cache key (about 0.1 s per 100 MB).
    embedding_name : str, default "embedding"
        How the embedding is named in messages and in ``source`` (``"image fallback"``).
    home : path, optional
        Data directory; default ``$LABELNEXT_HOME`` or ``.labelnext``. The cache is ``home/maps``.
    use_cache : bool, default True
        Read and write the disk cache. ``False`` always computes and writes nothing.
    progress : callable ``(fraction, message) -> None``, optional
        Called as the work advances (fractions from 0 to 1); not called on a cache hit except
        once with 1.0.
    umap_fit_rows : int, default 50,000
        UMAP is fitted on at most this many rows (a seeded sample).
    umap_place : {"neighbors", "transform"}, default "neighbors"
        How UMAP places the rows outside its fitting sample (see the module docstring).

    Returns
    -------
    MapCoordinates
        ``xy`` of shape (n_rows, 2), float32, row ``i`` = row ``i`` of the run.

    Raises
    ------
    NoEmbeddingError
        If the run has no coordinate columns (``method="columns"``) or no embedding to project.
    RunValidationError
        If the coordinates or the embedding hold NaN or infinite values, rows of different
        lengths or a row count different from the run's (the rows are named).
    ProjectionError
        For an unknown ``method``, or ``"umap"`` without ``umap-learn`` installed.
    """
    if method not in METHODS:
        raise ProjectionError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    _check_int("seed", seed)
    _check_int("umap_fit_rows", umap_fit_rows, minimum=10)
    _check_place(umap_place)
    columns = coordinate_columns(run) if method in ("auto", "columns") else None
    if columns is not None:
        xy = _columns_xy(run, columns)
        if progress is not None:
            progress(1.0, f"Coordinates from columns {columns[0]}/{columns[1]}")
        return MapCoordinates(
            xy=xy,
            method="columns",
            source=f"columns {columns[0]}/{columns[1]}",
            seed=None,
            from_cache=False,
            cache_path=None,
        )
    if method == "columns":
        raise NoEmbeddingError(
            f"Run {run.name!r} has no coordinate columns: add a pair of numeric columns named "
            f"{_pairs_text()} to its predictions file, or choose method 'pca' or 'umap' to "
            "project its embedding."
        )
    projection = "pca" if method == "auto" else method
    if embedding is None or embedding is run.embedding:
        if run.embedding is None:
            raise NoEmbeddingError(_no_embedding_message(run))
        vectors = run.embedding
        digest = "run"  # the run's content hash covers its embedding column
    else:
        vectors = check_embedding(
            embedding, n_rows=run.n_rows, name=embedding_name, ids=run.ids, file=run.source
        )
        digest = "sha256:" + _array_digest(vectors)
    params: dict[str, Any] = {}
    if projection == "umap":
        params = {"umap_fit_rows": umap_fit_rows, "umap_place": umap_place}
    used_seed = seed if projection == "umap" else None
    source = f"{projection.upper()} of {embedding_name} ({vectors.shape[0]} x {vectors.shape[1]})"
    path = None
    if use_cache:
        key = map_cache_key(
            run.content_hash, projection, seed=used_seed, embedding=digest, params=params
        )
        path = maps_dir(home) / f"{projection}-{key}.npy"
        cached = _load_cached(path, run.n_rows)
        if cached is not None:
            if progress is not None:
                progress(1.0, f"{source}: read from the cache")
            return MapCoordinates(
                xy=cached,
                method=projection,
                source=source,
                seed=used_seed,
                from_cache=True,
                cache_path=path,
                explained_variance=_read_explained(path),
            )
    xy, explained = _project(
        vectors,
        projection,
        seed=seed,
        progress=progress,
        umap_fit_rows=umap_fit_rows,
        umap_place=umap_place,
    )
    if path is not None:
        _save_atomic(path, xy, explained)
        xy = np.load(path, mmap_mode="r")
    else:
        xy.setflags(write=False)
    return MapCoordinates(
        xy=xy,
        method=projection,
        source=source,
        seed=used_seed,
        from_cache=False,
        cache_path=path,
        explained_variance=explained,
    )


def project_embedding(
    embedding: ArrayLike,
    *,
    method: Literal["pca", "umap"] = "pca",
    seed: int = 0,
    progress: ProgressCallback | None = None,
    umap_fit_rows: int = 50_000,
    umap_place: Literal["neighbors", "transform"] = "neighbors",
) -> NDArray[np.float32]:
    """Project an embedding to 2-D, without any cache.

    Parameters
    ----------
    embedding : array-like of shape (n_rows, d)
        Finite numbers, every row the same length.
    method : {"pca", "umap"}, default "pca"
    seed : int, default 0
        UMAP's seed; PCA ignores it.
    progress : callable ``(fraction, message) -> None``, optional
    umap_fit_rows : int, default 50,000
    umap_place : {"neighbors", "transform"}, default "neighbors"

    Returns
    -------
    ndarray of float32, shape (n_rows, 2)

    Examples
    --------
    >>> import numpy as np
    >>> project_embedding(np.eye(3, dtype=np.float32)).shape
    (3, 2)
    """
    if method not in ("pca", "umap"):
        raise ProjectionError(f"method must be 'pca' or 'umap'; got {method!r}")
    _check_int("seed", seed)
    _check_int("umap_fit_rows", umap_fit_rows, minimum=10)
    _check_place(umap_place)
    vectors = check_embedding(embedding)
    xy, _ = _project(
        vectors,
        method,
        seed=seed,
        progress=progress,
        umap_fit_rows=umap_fit_rows,
        umap_place=umap_place,
    )
    return xy


def pca_2d(
    embedding: ArrayLike, *, progress: ProgressCallback | None = None
) -> tuple[NDArray[np.float32], tuple[float, float]]:
    """The first two principal components of every row, and the variance share of each.

    Exact: the (d, d) covariance is accumulated in float64 over chunks of rows and
    eigendecomposed. Each component is signed so that its largest absolute loading is positive
    (scikit-learn's convention). An embedding of one dimension gets a second axis of zeros.

    Parameters
    ----------
    embedding : array-like of shape (n_rows, d)
    progress : callable ``(fraction, message) -> None``, optional

    Returns
    -------
    xy : ndarray of float32, shape (n_rows, 2)
    explained : tuple of two floats
        Share of the total variance along each axis (0 when the embedding is constant).
    """
    vectors = check_embedding(embedding)
    return _pca_2d(vectors, progress)


def umap_2d(
    embedding: ArrayLike,
    *,
    seed: int = 0,
    fit_rows: int = 50_000,
    place: Literal["neighbors", "transform"] = "neighbors",
    progress: ProgressCallback | None = None,
) -> NDArray[np.float32]:
    """UMAP of every row to 2-D, fitted on at most ``fit_rows`` rows (a seeded sample).

    Needs the optional package ``umap-learn``. Deterministic for a given seed (UMAP then runs
    single-threaded). Rows outside the fitting sample are placed by ``place``: ``"neighbors"``,
    the inverse-distance mean of their 10 nearest fitted rows; ``"transform"``,
    ``UMAP.transform``.

    Parameters
    ----------
    embedding : array-like of shape (n_rows, d)
    seed : int, default 0
    fit_rows : int, default 50,000
    place : {"neighbors", "transform"}, default "neighbors"
    progress : callable ``(fraction, message) -> None``, optional

    Returns
    -------
    ndarray of float32, shape (n_rows, 2)
    """
    _check_int("seed", seed)
    _check_int("fit_rows", fit_rows, minimum=10)
    _check_place(place)
    vectors = check_embedding(embedding)
    return _umap_2d(vectors, seed=seed, fit_rows=fit_rows, place=place, progress=progress)


def check_embedding(
    embedding: ArrayLike,
    *,
    n_rows: int | None = None,
    name: str = "embedding",
    ids: Sequence[Any] | NDArray[Any] | None = None,
    file: str = "embedding",
) -> NDArray[np.float32]:
    """Check an embedding and return it as a C-contiguous float32 array of shape (n_rows, d).

    Raises
    ------
    RunValidationError
        Naming each bad row (1-based, with its ``data_row_id`` when ``ids`` is given) and the
        field ``name``: rows of different lengths, values that are not numbers, NaN or infinite
        values; or the whole field when the row count differs from ``n_rows``.
    """
    array = _as_matrix(embedding, name=name, ids=ids, file=file)
    if array.ndim != 2 or array.shape[1] < 1:
        raise RunValidationError(
            [Problem(file, None, name, f"must have shape (n_rows, d), got {array.shape}")]
        )
    if n_rows is not None and array.shape[0] != n_rows:
        raise RunValidationError(
            [Problem(file, None, name, f"has {array.shape[0]} rows, the run has {n_rows}")]
        )
    if array.shape[0] == 0:
        raise RunValidationError([Problem(file, None, name, "has no rows")])
    _check_finite(array, name=name, ids=ids, file=file)
    return np.ascontiguousarray(array, dtype=np.float32)


def map_cache_key(
    content_hash: str,
    method: str,
    *,
    seed: int | None,
    embedding: str = "run",
    params: dict[str, Any] | None = None,
) -> str:
    """The cache key of one map: a hex digest of every input that changes the coordinates.

    Examples
    --------
    >>> a = map_cache_key("abc", "pca", seed=None)
    >>> a == map_cache_key("abc", "pca", seed=None), a == map_cache_key("abd", "pca", seed=None)
    (True, False)
    """
    spec = {
        "version": _CACHE_VERSION,
        "run": content_hash,
        "method": method,
        "seed": seed,
        "embedding": embedding,
        "params": params or {},
    }
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- private: assumes checked input -------------------------------------------------------------


def _project(
    vectors: NDArray[np.float32],
    method: str,
    *,
    seed: int,
    progress: ProgressCallback | None,
    umap_fit_rows: int,
    umap_place: str,
) -> tuple[NDArray[np.float32], tuple[float, float] | None]:
    if method == "pca":
        return _pca_2d(vectors, progress)
    xy = _umap_2d(vectors, seed=seed, fit_rows=umap_fit_rows, place=umap_place, progress=progress)
    return xy, None


def _pca_2d(
    x: NDArray[np.float32], progress: ProgressCallback | None
) -> tuple[NDArray[np.float32], tuple[float, float]]:
    n, d = x.shape
    starts = range(0, n, _CHUNK_ROWS)
    steps = 2 * len(starts)
    mean = np.zeros(d, dtype=np.float64)
    for start in starts:
        mean += x[start : start + _CHUNK_ROWS].sum(axis=0, dtype=np.float64)
    mean /= n
    gram = np.zeros((d, d), dtype=np.float64)
    for step, start in enumerate(starts, 1):
        centred = x[start : start + _CHUNK_ROWS].astype(np.float64) - mean
        gram += centred.T @ centred
        _report(progress, 0.5 * step / len(starts), f"PCA: covariance, {start:,} of {n:,} rows")
    values, vectors = np.linalg.eigh(gram / max(n - 1, 1))
    order = np.argsort(values)[::-1][: min(2, d)]
    components = vectors[:, order].T  # (k, d)
    # sign convention of scikit-learn (svd_flip, u_based_decision=False)
    biggest = np.argmax(np.abs(components), axis=1)
    components *= np.sign(components[np.arange(len(order)), biggest])[:, None]
    xy = np.zeros((n, 2), dtype=np.float32)
    for step, start in enumerate(starts, len(starts) + 1):
        chunk = x[start : start + _CHUNK_ROWS].astype(np.float64) - mean
        xy[start : start + _CHUNK_ROWS, : len(order)] = chunk @ components.T
        _report(progress, step / steps, f"PCA: projecting, {start:,} of {n:,} rows")
    total = float(values.clip(min=0).sum())
    shares = [float(values[i]) / total if total > 0 else 0.0 for i in order] + [0.0]
    return xy, (shares[0], shares[1])


def _umap_2d(
    x: NDArray[np.float32],
    *,
    seed: int,
    fit_rows: int,
    place: str,
    progress: ProgressCallback | None,
) -> NDArray[np.float32]:
    n = x.shape[0]
    if n < 4:
        raise ProjectionError(f"UMAP needs at least 4 rows; the embedding has {n}")
    _report(progress, 0.0, "UMAP: loading umap-learn (the first use compiles it, minutes)")
    try:
        import umap  # optional extra, heavy import (numba)
    except ImportError as err:
        raise ProjectionError(
            "method 'umap' needs the optional package umap-learn (pip install umap-learn); "
            "method 'pca' needs nothing more."
        ) from err
    rng = np.random.default_rng(seed)
    fit = np.sort(rng.choice(n, size=fit_rows, replace=False)) if n > fit_rows else np.arange(n)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(15, len(fit) - 1),
        random_state=seed,
        transform_seed=seed,
        init="spectral" if len(fit) > 50 else "random",
    )
    _report(progress, 0.05, f"UMAP: fitting on {len(fit):,} of {n:,} rows")
    started = time.perf_counter()
    xy = np.zeros((n, 2), dtype=np.float32)
    fitted = np.asarray(reducer.fit_transform(x[fit]), dtype=np.float32)
    xy[fit] = fitted
    rest = np.setdiff1d(np.arange(n), fit, assume_unique=True)
    if len(rest) == 0:
        _report(progress, 1.0, "UMAP: done")
        return xy
    if place == "transform":

        def locate(rows: NDArray[np.intp]) -> NDArray[np.float32]:
            return np.asarray(reducer.transform(x[rows]), dtype=np.float32)
    else:
        import pynndescent  # comes with umap-learn

        _report(progress, 0.45, "UMAP: indexing the fitted rows")
        index = pynndescent.NNDescent(x[fit], n_neighbors=15, random_state=seed, n_jobs=1)
        index.prepare()

        def locate(rows: NDArray[np.intp]) -> NDArray[np.float32]:
            neighbours, distances = index.query(x[rows], k=_UMAP_NEIGHBOURS)
            weights = 1.0 / np.maximum(distances, 1e-12)
            weights /= weights.sum(axis=1, keepdims=True)
            return np.asarray(np.einsum("rk,rkc->rc", weights, fitted[neighbours]), np.float32)

    for start in range(0, len(rest), _UMAP_TRANSFORM_CHUNK):
        part = rest[start : start + _UMAP_TRANSFORM_CHUNK]
        elapsed = time.perf_counter() - started
        _report(
            progress,
            0.5 + 0.5 * start / len(rest),
            f"UMAP: placing rows, {len(fit) + start:,} of {n:,} ({elapsed:.0f} s so far)",
        )
        xy[part] = locate(part)
    _report(progress, 1.0, "UMAP: done")
    return xy


def _check_place(place: str) -> None:
    if place not in ("neighbors", "transform"):
        raise ProjectionError(f"umap_place must be 'neighbors' or 'transform'; got {place!r}")


def _report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)


def _columns_xy(run: ModelRun, columns: tuple[str, str]) -> NDArray[np.float32]:
    problems: list[Problem] = []
    out = np.empty((run.n_rows, 2), dtype=np.float32)
    for j, column in enumerate(columns):
        values = pd.to_numeric(run.metadata[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        for i in bad[:_MAX_PROBLEMS]:
            problems.append(
                Problem(
                    run.source,
                    int(i) + 1,
                    column,
                    f"map coordinate of data_row_id {run.ids[i]!r} is not a finite number",
                )
            )
        out[:, j] = values
    if problems:
        raise RunValidationError(problems, truncated=len(problems) >= _MAX_PROBLEMS)
    out.setflags(write=False)
    return out


def _as_matrix(
    embedding: ArrayLike, *, name: str, ids: Sequence[Any] | NDArray[Any] | None, file: str
) -> NDArray[np.float32]:
    if isinstance(embedding, np.ndarray) and embedding.dtype != object:
        if not np.issubdtype(embedding.dtype, np.number):
            raise RunValidationError(
                [Problem(file, None, name, f"must hold numbers, got dtype {embedding.dtype}")]
            )
        return np.asarray(embedding, dtype=np.float32)
    rows = list(embedding)  # type: ignore[arg-type]  # ragged input: one row at a time
    lengths = [_row_length(r) for r in rows]
    if rows:
        width = max(set(lengths), key=lengths.count)
        bad = [i for i, length in enumerate(lengths) if length != width]
        if bad:
            problems = [
                Problem(
                    file,
                    i + 1,
                    name,
                    f"{_who(ids, i)}holds {max(lengths[i], 0)} values, expected {width}",
                )
                for i in bad[:_MAX_PROBLEMS]
            ]
            raise RunValidationError(problems, truncated=len(bad) > _MAX_PROBLEMS)
    try:
        return np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise RunValidationError(
            [Problem(file, None, name, "holds values that are not numbers")]
        ) from None


def _row_length(row: Any) -> int:
    try:
        return len(row)
    except TypeError:
        return -1


def _check_finite(
    array: NDArray[np.float32], *, name: str, ids: Sequence[Any] | NDArray[Any] | None, file: str
) -> None:
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        problems = [
            Problem(file, int(i) + 1, name, f"{_who(ids, int(i))}NaN or infinite value")
            for i in bad[:_MAX_PROBLEMS]
        ]
        raise RunValidationError(problems, truncated=len(bad) > _MAX_PROBLEMS)


def _who(ids: Sequence[Any] | NDArray[Any] | None, i: int) -> str:
    return f"data_row_id {ids[i]!r}: " if ids is not None and i < len(ids) else ""


def _array_digest(array: NDArray[np.float32]) -> str:
    digest = hashlib.sha256(f"{array.shape}|{array.dtype}".encode())
    flat = array.reshape(-1).view(np.uint8)
    step = 1 << 24
    for start in range(0, len(flat), step):
        digest.update(flat[start : start + step].tobytes())
    return digest.hexdigest()


def _load_cached(path: Path, n_rows: int) -> NDArray[np.float32] | None:
    try:
        xy: NDArray[np.float32] = np.load(path, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return None
    if xy.dtype != np.float32 or xy.shape != (n_rows, 2):
        return None
    return xy


def _save_atomic(
    path: Path, xy: NDArray[np.float32], explained: tuple[float, float] | None
) -> None:
    """Write the side file first and the ``.npy`` last: the ``.npy`` appearing is the commit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if explained is not None:
        text = json.dumps({"explained_variance": list(explained)})
        _replace_atomic(path.with_suffix(".json"), lambda handle: handle.write(text.encode()))
    _replace_atomic(path, lambda handle: np.save(handle, np.ascontiguousarray(xy, np.float32)))


def _replace_atomic(path: Path, write: Callable[[Any], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_explained(path: Path) -> tuple[float, float] | None:
    try:
        values = json.loads(path.with_suffix(".json").read_text())["explained_variance"]
        return (float(values[0]), float(values[1]))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _pairs_text() -> str:
    return " or ".join(f"{x}/{y}" for x, y in COORDINATE_COLUMNS)


def _no_embedding_message(run: ModelRun) -> str:
    return (
        f"Run {run.name!r} has no embedding to draw a map from. Add an 'embedding' column (a "
        "list of floats per row; a JSON list in CSV) to its predictions file, or 2-D "
        f"coordinates as columns {_pairs_text()}, or compute the image fallback "
        "(labelnext.embeddings) and pass it as embedding=..."
    )


def _check_int(name: str, value: object, *, minimum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
