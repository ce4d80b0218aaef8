"""What an embedding map draws, and which rows a lasso or a box selects, over millions of rows.

Why one module of this length: sampling, density and point-in-polygon are the server side of one
map and share the extent and the input checks.

A map of a large run draws a bounded number of points over a density layer of all rows:

* :func:`sample_for_drawing` picks at most ``max_points`` rows to draw: the most uncertain rows
  always (``uncertain_share`` of the budget; **higher score = more uncertain**, ties by
  ``data_row_id``), then rows the caller must show (the selection, a batch's picks), then a
  seeded sample of the rest stratified by a class code, every class present at least once when
  the budget allows.
* :func:`density_grid` counts **all** rows (or the rows of a filter) in a 2-D grid, to draw under
  the points, so nothing disappears when it is not drawn.

Selections are made on the server over **all** rows, drawn or not:

* :func:`points_in_polygon` (even-odd rule, like ``matplotlib.path.Path.contains_points`` and
  plotly's lasso: concave and self-intersecting polygons work) and :func:`points_in_box`;
* :func:`selection_from_state` turns the selection state that ``st.plotly_chart(...,
  on_select=...)`` returns (``{"selection": {"points": [...], "box": [{"x": [x0, x1], "y": [y0,
  y1]}], "lasso": [{"x": [...], "y": [...]}]}}``) into a mask over all rows. Box and lasso
  shapes are in data coordinates; several shapes (shift-drag) are united.

Examples
--------
>>> import numpy as np
>>> xy = np.array([[0.5, 0.5], [2.0, 2.0], [1.5, 0.2]], dtype=np.float32)
>>> points_in_polygon(xy, [(0, 0), (1, 0), (1, 1), (0, 1)]).tolist()
[True, False, False]
>>> state = {"selection": {"points": [], "box": [{"x": [1, 3], "y": [3, 0]}], "lasso": []}}
>>> result = selection_from_state(state, xy)
>>> result.mask.tolist(), result.kind
([False, True, True], 'box')
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from labelnext.select import top_k

__all__ = [
    "DensityGrid",
    "MapSelection",
    "apply_to_selection",
    "density_grid",
    "map_extent",
    "points_in_box",
    "points_in_polygon",
    "sample_for_drawing",
    "selection_from_state",
]

#: Up to this many strata, the sample finds each stratum's rows by comparison, not by a sort.
_FEW_STRATA = 4
#: Horizontal bands the points are bucketed into for the polygon test (fits int16).
_BANDS = 4096
#: From this many points inside the polygon's bounding box on, whole grid cells are classified.
_GRID_MIN_POINTS = 20_000
#: Cells per side of that grid.
_GRID_CELLS = 512

SelectionKind = Literal["none", "points", "box", "lasso", "box+lasso"]


# --- what to draw -------------------------------------------------------------------------------


def sample_for_drawing(
    scores: ArrayLike,
    *,
    max_points: int = 100_000,
    seed: int,
    strata: ArrayLike | None = None,
    uncertain_share: float = 0.2,
    ids: NDArray[Any] | None = None,
    id_rank: NDArray[np.int64] | None = None,
    within: NDArray[np.bool_] | None = None,
    include: ArrayLike | None = None,
) -> NDArray[np.int64]:
    """Row positions to draw on a map: at most ``max_points``, the most uncertain always.

    Parameters
    ----------
    scores : array-like of float, shape (n_rows,)
        Uncertainty scores; **higher = more uncertain** (label first).
    max_points : int, default 100,000
        The most rows drawn. A pool no larger than this is drawn whole.
    seed : int
        Seed of the sample; the same inputs and seed give the same rows.
    strata : array-like of int, shape (n_rows,), optional
        A class code per row (the predicted class index; negative codes allowed, for instance
        -1 for a detection image without boxes). The sampled part keeps each stratum's share of
        the pool, and every stratum gets at least one row when the budget allows.
    uncertain_share : float in [0, 1], default 0.2
        Share of ``max_points`` given to the most uncertain rows of the pool (ties by
        ``data_row_id``), drawn whatever the sample.
    ids, id_rank : ndarray, optional
        The rows' ``data_row_id`` (or ``ModelRun.id_rank``, faster) to break score ties; without
        either, ties break by row position.
    within : ndarray of bool, shape (n_rows,), optional
        The pool (the page's filters); rows outside are never drawn.
    include : array-like of int positions or bool mask, optional
        Rows to draw after the most uncertain ones (the selection, a batch's picks); a seeded
        sample of them if they do not all fit.

    Returns
    -------
    ndarray of int64
        Ascending row positions, at most ``max_points`` of them.

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.linspace(0, 1, 1000)
    >>> drawn = sample_for_drawing(scores, max_points=100, seed=0, uncertain_share=0.1)
    >>> len(drawn), bool(np.isin(np.arange(990, 1000), drawn).all())
    (100, True)
    """
    score = np.asarray(scores, dtype=np.float64)
    if score.ndim != 1:
        raise ValueError(f"scores must have shape (n_rows,), got {score.shape}")
    n = len(score)
    _check_count("max_points", max_points)
    _check_int("seed", seed)
    if not 0.0 <= uncertain_share <= 1.0:
        raise ValueError(f"uncertain_share must be in [0, 1], got {uncertain_share}")
    pool = _check_mask(within, n, "within")
    codes = _check_strata(strata, n)
    pool_size = int(pool.sum()) if pool is not None else n
    if pool_size <= max_points:
        return np.flatnonzero(pool) if pool is not None else np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    chosen = np.zeros(n, dtype=bool)
    k = min(math.ceil(uncertain_share * max_points), pool_size)
    if k > 0:
        tiebreak = ids if ids is not None else np.arange(n)
        chosen[top_k(score, tiebreak, k, mask=pool, id_rank=id_rank)] = True
    extra = _check_include(include, n, pool)
    if extra is not None:
        extra = extra[~chosen[extra]]
        room = max_points - k
        if len(extra) > room:
            extra = np.sort(rng.choice(extra, size=room, replace=False))
        chosen[extra] = True
    room = max_points - int(chosen.sum())
    if room > 0:
        rest = ~chosen if pool is None else pool & ~chosen
        chosen[_stratified(np.flatnonzero(rest), codes, room, rng)] = True
    return np.flatnonzero(chosen)


def _stratified(
    rows: NDArray[np.intp],
    codes: NDArray[np.int64] | None,
    budget: int,
    rng: np.random.Generator,
) -> NDArray[np.intp]:
    """``budget`` of ``rows`` at random, each stratum in proportion, each at least once."""
    if budget >= len(rows):
        return rows
    if codes is None:
        return np.sort(rng.choice(rows, size=budget, replace=False))
    group = codes[rows]
    counts = np.bincount(group)
    quotas = _allocate(counts, budget)
    wanted = np.flatnonzero(quotas)
    if len(wanted) <= _FEW_STRATA:  # one comparison pass per stratum beats a sort
        members = [rows[group == s] for s in wanted]
    else:  # rows grouped by stratum, in row order within each (stable; radix sort for int16)
        small = group.astype(np.int16) if len(counts) <= np.iinfo(np.int16).max else group
        by_group = rows[np.argsort(small, kind="stable")]
        starts = np.concatenate([[0], np.cumsum(counts)])
        members = [by_group[starts[s] : starts[s + 1]] for s in wanted]
    picked = [
        part[rng.choice(len(part), size=int(quotas[s]), replace=False)]
        for s, part in zip(wanted, members, strict=True)
    ]
    return np.asarray(np.concatenate(picked), dtype=np.intp)


def _allocate(counts: NDArray[np.int64], budget: int) -> NDArray[np.int64]:
    """Largest-remainder allocation of ``budget`` in proportion to ``counts``, one each first."""
    present = counts > 0
    base = np.minimum(counts, 1) if budget >= int(present.sum()) else np.zeros_like(counts)
    left = budget - int(base.sum())
    spare = counts - base
    if left <= 0 or spare.sum() == 0:
        return base
    exact = spare * (left / spare.sum())
    quotas = np.floor(exact).astype(np.int64)
    short = left - int(quotas.sum())
    if short > 0:
        remainder = np.where(quotas < spare, exact - quotas, -1.0)
        quotas[np.argsort(-remainder, kind="stable")[:short]] += 1
    return np.asarray(base + np.minimum(quotas, spare), dtype=np.int64)


@dataclass(frozen=True)
class DensityGrid:
    """Row counts on a regular 2-D grid over the map.

    Attributes
    ----------
    counts : ndarray of uint32, shape (bins_y, bins_x)
        ``counts[j, i]`` = rows in x-bin ``i`` and y-bin ``j`` (image orientation: one row of the
        array per y-bin, bottom first). A point on the upper edge counts in the last bin.
    x_range, y_range : tuple of float
        The grid's extent in map coordinates.
    """

    counts: NDArray[np.uint32]
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    @property
    def dx(self) -> float:
        """Width of one bin."""
        return float(self.x_range[1] - self.x_range[0]) / int(self.counts.shape[1])

    @property
    def dy(self) -> float:
        """Height of one bin."""
        return float(self.y_range[1] - self.y_range[0]) / int(self.counts.shape[0])

    @property
    def total(self) -> int:
        """Rows counted (rows outside the extent are not)."""
        return int(self.counts.sum())


def map_extent(
    xy: ArrayLike, *, pad: float = 0.02
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The box holding every point, widened by ``pad`` of its size on each side.

    Returns
    -------
    x_range, y_range : tuple of float
        Never empty: a zero-width side gets a width of 1.
    """
    points = _check_xy(xy)
    if len(points) == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    # per column: a reduction along axis 0 of an (n, 2) array is many times slower
    low = np.array([points[:, 0].min(), points[:, 1].min()], dtype=np.float64)
    high = np.array([points[:, 0].max(), points[:, 1].max()], dtype=np.float64)
    span = np.where(high > low, high - low, 1.0)
    low, high = low - pad * span, high + pad * span
    low = np.where(high > low, low, low - 0.5)
    high = np.where(high > low, high, high + 0.5)
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def density_grid(
    xy: ArrayLike,
    *,
    bins: int | tuple[int, int] = 200,
    extent: tuple[tuple[float, float], tuple[float, float]] | None = None,
    mask: NDArray[np.bool_] | None = None,
) -> DensityGrid:
    """Count rows on a ``bins`` grid: the density layer drawn under the points.

    Parameters
    ----------
    xy : array-like of shape (n_rows, 2)
    bins : int or (bins_x, bins_y), default 200
    extent : ((x0, x1), (y0, y1)), optional
        Default :func:`map_extent` of all of ``xy`` (so a filter does not move the grid).
    mask : ndarray of bool, shape (n_rows,), optional
        Count only these rows (the page's filters).

    Returns
    -------
    DensityGrid
        The same counts as ``numpy.histogram2d(x, y, bins, range=extent)[0].T``, but for points
        within a rounding error of a bin edge.

    Examples
    --------
    >>> grid = density_grid([[0.1, 0.1], [0.9, 0.1], [0.95, 0.2]], bins=2, extent=((0, 1), (0, 1)))
    >>> grid.counts.tolist()
    [[1, 2], [0, 0]]
    """
    points = _check_xy(xy)
    bx, by = (bins, bins) if isinstance(bins, int | np.integer) else bins
    _check_count("bins", int(bx))
    _check_count("bins", int(by))
    (x0, x1), (y0, y1) = extent if extent is not None else map_extent(points)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"extent must have x0 < x1 and y0 < y1, got {extent}")
    keep = _check_mask(mask, len(points), "mask")
    x, y = points[:, 0], points[:, 1]
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    if keep is not None:
        inside &= keep
    x, y = x[inside], y[inside]
    # x >= x0 here, so truncation is floor; the upper edge joins the last bin (numpy's rule).
    # In the coordinates' own precision (float32 maps): a point within a rounding error of a
    # bin edge may count in the next bin, which no picture of the density can show
    ix = np.minimum(((x - x0) * (bx / (x1 - x0))).astype(np.int32), bx - 1)
    iy = np.minimum(((y - y0) * (by / (y1 - y0))).astype(np.int32), by - 1)
    iy *= bx
    iy += ix
    flat = iy
    counts = np.bincount(flat, minlength=bx * by).astype(np.uint32).reshape(by, bx)
    return DensityGrid(
        counts=counts, x_range=(float(x0), float(x1)), y_range=(float(y0), float(y1))
    )


# --- what a shape selects -----------------------------------------------------------------------


def points_in_box(
    xy: ArrayLike, x_range: Sequence[float], y_range: Sequence[float]
) -> NDArray[np.bool_]:
    """Rows inside an axis-aligned box, edges included; the bounds may come in either order.

    Examples
    --------
    >>> points_in_box([[0, 0], [1, 1], [2, 2]], (1.5, 0), (0, 1)).tolist()
    [True, True, False]
    """
    points = _check_xy(xy)
    (xa, xb), (ya, yb) = _pair(x_range, "x_range"), _pair(y_range, "y_range")
    x, y = points[:, 0], points[:, 1]
    return np.asarray(
        (x >= min(xa, xb)) & (x <= max(xa, xb)) & (y >= min(ya, yb)) & (y <= max(ya, yb))
    )


def points_in_polygon(xy: ArrayLike, polygon: ArrayLike) -> NDArray[np.bool_]:
    """Rows inside a polygon by the even-odd rule (a ray crossing its edges an odd number of times).

    The polygon is closed implicitly (last vertex to first). Concave and self-intersecting
    polygons are handled as ``matplotlib.path.Path(polygon).contains_points`` handles them: the
    same crossing test, in float64, so the answers are the same, points on edges included.
    Fewer than 3 vertices contain nothing.

    Work does not grow with points x vertices. Points outside the polygon's bounding box are
    out at once. With many points left, a grid over the box classifies whole cells: a cell that
    no edge comes near is inside or outside as its centre is (found by one scanline per row of
    cells), and only points in cells along the edges get the exact test. That test buckets the
    points into horizontal bands, and each edge tests only the bands it spans.

    Parameters
    ----------
    xy : array-like of shape (n_rows, 2)
    polygon : array-like of shape (n_vertices, 2)
        Finite vertices, in map coordinates.

    Returns
    -------
    ndarray of bool, shape (n_rows,)
    """
    points = _check_xy(xy)
    vertices = np.asarray(polygon, dtype=np.float64)
    if vertices.ndim != 2 or (vertices.size and vertices.shape[1] != 2):
        raise ValueError(f"polygon must have shape (n_vertices, 2), got {vertices.shape}")
    if not np.isfinite(vertices).all():
        raise ValueError("polygon vertices must be finite numbers")
    inside = np.zeros(len(points), dtype=bool)
    if len(vertices) < 3 or len(points) == 0:
        return inside
    (x0, y0), (x1, y1) = vertices.min(axis=0), vertices.max(axis=0)
    px, py = points[:, 0], points[:, 1]
    candidates = np.flatnonzero((px >= x0) & (px <= x1) & (py >= y0) & (py <= y1))
    if len(candidates) == 0 or y1 <= y0:
        return inside  # no edge straddles any point's y: nothing is inside
    cx = px[candidates].astype(np.float64)
    cy = py[candidates].astype(np.float64)
    if len(candidates) >= _GRID_MIN_POINTS and x1 > x0:
        inside[candidates] = _in_polygon_grid(cx, cy, vertices, _GRID_CELLS)
    else:
        inside[candidates] = _in_polygon_exact(cx, cy, vertices)
    return inside


def _in_polygon_exact(
    cx: NDArray[np.float64], cy: NDArray[np.float64], vertices: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """The crossing test for every point, edge by edge over the bands each edge spans."""
    flag = np.zeros(len(cx), dtype=bool)
    if len(cx) == 0:
        return flag
    y0 = float(vertices[:, 1].min())
    height = float(vertices[:, 1].max()) - y0
    if height <= 0:
        return flag
    scale = _BANDS / height
    band = np.clip(((cy - y0) * scale).astype(np.int64), 0, _BANDS - 1).astype(np.int16)
    order = np.argsort(band, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(band, minlength=_BANDS))])
    sx, sy = cx[order], cy[order]
    ax, ay = vertices[:, 0], vertices[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    low = np.clip(((np.minimum(ay, by) - y0) * scale).astype(np.int64), 0, _BANDS - 1)
    high = np.clip(((np.maximum(ay, by) - y0) * scale).astype(np.int64), 0, _BANDS - 1)
    sorted_flag = np.zeros(len(cx), dtype=bool)
    for e in np.flatnonzero(ay != by):  # a horizontal edge never straddles a point's y
        start, stop = starts[low[e]], starts[high[e] + 1]
        if start == stop:
            continue
        ty, tx = sy[start:stop], sx[start:stop]
        # the crossings-multiply test (Haines) as matplotlib runs it, on the edge a -> b
        flag0 = ay[e] >= ty
        flag1 = by[e] >= ty
        right = (by[e] - ty) * (ax[e] - bx[e]) >= (bx[e] - tx) * (ay[e] - by[e])
        sorted_flag[start:stop] ^= (flag0 != flag1) & (right == flag1)
    flag[order] = sorted_flag
    return flag


def _in_polygon_grid(
    cx: NDArray[np.float64],
    cy: NDArray[np.float64],
    vertices: NDArray[np.float64],
    cells: int,
) -> NDArray[np.bool_]:
    """Whole grid cells away from every edge take their centre's answer; the rest are exact.

    The points must lie inside the polygon's bounding box (the caller's candidates).
    """
    x0, y0 = vertices.min(axis=0)
    x1, y1 = vertices.max(axis=0)
    w, h = (x1 - x0) / cells, (y1 - y0) / cells
    ax, ay = vertices[:, 0], vertices[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    # cells an edge passes through or near: samples along each edge at most half a cell apart,
    # each marking its cell and the eight around it (so a corner the edge clips is covered)
    span = np.maximum(np.abs(bx - ax) / w, np.abs(by - ay) / h)
    steps = np.ceil(span * 2).astype(np.int64) + 1  # samples per edge, both ends included
    edge = np.repeat(np.arange(len(ax)), steps)
    k = np.arange(len(edge)) - np.repeat(np.cumsum(steps) - steps, steps)
    t = k / np.repeat(np.maximum(steps - 1, 1), steps)
    sx = ax[edge] + t * (bx[edge] - ax[edge])
    sy = ay[edge] + t * (by[edge] - ay[edge])
    near = np.zeros((cells + 2, cells + 2), dtype=bool)  # one cell of margin on each side
    col = np.clip(np.floor((sx - x0) / w).astype(np.int64), -1, cells) + 1
    row = np.clip(np.floor((sy - y0) / h).astype(np.int64), -1, cells) + 1
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            near[np.clip(row + dr, 0, cells + 1), np.clip(col + dc, 0, cells + 1)] = True
    # each cell centre's answer, one scanline per row of cells: count the edges crossing the
    # row's centre line to the right of each centre
    centre_y = y0 + (np.arange(cells) + 0.5) * h
    straddle = (ay[None, :] >= centre_y[:, None]) != (by[None, :] >= centre_y[:, None])
    rows, edges = np.nonzero(straddle)
    cross_x = ax[edges] + (centre_y[rows] - ay[edges]) * (bx[edges] - ax[edges]) / (
        by[edges] - ay[edges]
    )
    # centres j with x0 + (j + 0.5) w < cross_x are left of the crossing and count it
    first_right = np.clip(np.ceil((cross_x - x0) / w - 0.5).astype(np.int64), 0, cells)
    counts = np.zeros((cells, cells + 1), dtype=np.int64)
    np.add.at(counts, (rows, first_right), 1)
    right_of = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]  # [r, k]: crossings at columns >= k
    centre_inside = right_of[:, 1:] % 2 == 1  # centre j counts the crossings at columns > j
    # one lookup per point: 0 outside, 1 inside, 2 near an edge (exact test)
    status = np.where(near[1:-1, 1:-1], 2, centre_inside).astype(np.uint8).ravel()
    # candidates lie inside the box, so truncation is floor; the top edge joins the last cell
    pc = np.minimum(((cx - x0) * (1.0 / w)).astype(np.int32), cells - 1)
    pr = np.minimum(((cy - y0) * (1.0 / h)).astype(np.int32), cells - 1)
    pr *= cells
    pr += pc
    point_status = status[pr]
    flag = point_status == 1
    exact = np.flatnonzero(point_status == 2)
    flag[exact] = _in_polygon_exact(cx[exact], cy[exact], vertices)
    return np.asarray(flag, dtype=bool)


@dataclass(frozen=True)
class MapSelection:
    """What a map selection event selects, over all rows of the run.

    Attributes
    ----------
    mask : ndarray of bool, shape (n_rows,)
        Rows inside the box(es) and lasso(s), within the pool; for a click (``kind ==
        "points"``), the clicked rows.
    kind : {"none", "points", "box", "lasso", "box+lasso"}
        What the event holds. Shapes win over points: a lasso's points are the drawn rows inside
        it, and the mask already holds every row inside it, drawn or not.
    n_selected : int
        ``mask.sum()``.
    n_drawn_selected : int or None
        How many of them were drawn (when ``drawn`` was given).
    n_shapes : int
        Boxes plus lassos used.
    point_ids : tuple of str
        ``data_row_id`` of each clicked or enclosed drawn point, from ``customdata``, in order.
    message : str
        One sentence for the page (``"1,204 rows inside the lasso (311 of them drawn)."``).
    signature : str
        A digest of the event's shapes and points: apply an event once, not on every rerun.
    """

    mask: NDArray[np.bool_]
    kind: SelectionKind
    n_selected: int
    n_drawn_selected: int | None
    n_shapes: int
    point_ids: tuple[str, ...] = field(default=())
    message: str = ""
    signature: str = ""

    @property
    def is_empty(self) -> bool:
        """True when nothing is selected (the page then changes nothing)."""
        return self.n_selected == 0


def selection_from_state(
    state: Mapping[str, Any] | None,
    xy: ArrayLike,
    *,
    ids: NDArray[Any] | pd.Index | None = None,
    drawn: NDArray[np.integer[Any]] | None = None,
    within: NDArray[np.bool_] | None = None,
) -> MapSelection:
    """Turn a Streamlit plotly selection state into a mask over **all** rows.

    Parameters
    ----------
    state : mapping or None
        What ``st.plotly_chart(fig, key=..., on_select=...)`` returns or keeps in
        ``st.session_state[key]``: ``{"selection": {"points": [...], "box": [...], "lasso":
        [...]}}``, or the inner ``selection`` mapping. ``box`` entries hold ``x: [x0, x1]`` and
        ``y: [y0, y1]``; ``lasso`` entries hold the polygon's vertices as ``x: [...]`` and
        ``y: [...]``; ``points`` entries carry the row's ``data_row_id`` as ``customdata`` (a
        string, or a list whose first item is the id).
    xy : array-like of shape (n_rows, 2)
        The map coordinates of every row (not only the drawn ones).
    ids : ndarray of str or pandas.Index, shape (n_rows,), optional
        The rows' ``data_row_id``, to resolve clicked points; pass ``ModelRun.id_index`` (a
        cached hash index) rather than the array on large runs.
    drawn : ndarray of int, optional
        Positions of the drawn rows, to count how many selected rows were drawn.
    within : ndarray of bool, shape (n_rows,), optional
        The pool (the page's filters): rows outside are never selected by a shape.

    Returns
    -------
    MapSelection
        A box or lasso with no row inside gives an empty mask and a message saying so.

    Raises
    ------
    ValueError
        If the state is not shaped like a plotly selection state (the message says which part).
    """
    points = _check_xy(xy)
    n = len(points)
    pool = _check_mask(within, n, "within")
    selection = _selection_part(state)
    boxes = [_box(b, i) for i, b in enumerate(_entries(selection, "box"))]
    lassos = [_lasso(s, i) for i, s in enumerate(_entries(selection, "lasso"))]
    point_ids = tuple(_point_ids(_entries(selection, "points")))
    usable = [b for b in boxes if b is not None]
    polygons = [p for p in lassos if p is not None]
    signature = _signature(usable, polygons, point_ids)
    mask = np.zeros(n, dtype=bool)
    if usable or polygons:
        for (xa, xb), (ya, yb) in usable:
            mask |= points_in_box(points, (xa, xb), (ya, yb))
        for polygon in polygons:
            mask |= points_in_polygon(points, polygon)
        if pool is not None:
            mask &= pool
        kind: SelectionKind = "box+lasso" if usable and polygons else ("box" if usable else "lasso")
    elif point_ids:
        kind = "points"
        if ids is not None:
            index = ids if isinstance(ids, pd.Index) else pd.Index(np.asarray(ids))
            found = index.get_indexer(pd.Index(list(point_ids), dtype=object))
            mask[found[found >= 0]] = True
    else:
        kind = "none"
    n_selected = int(mask.sum())
    n_drawn = int(mask[np.asarray(drawn, dtype=np.intp)].sum()) if drawn is not None else None
    message = _message(
        kind, n_selected, n_drawn, len(boxes) - len(usable) + len(lassos) - len(polygons)
    )
    return MapSelection(
        mask=mask,
        kind=kind,
        n_selected=n_selected,
        n_drawn_selected=n_drawn,
        n_shapes=len(usable) + len(polygons),
        point_ids=point_ids,
        message=message,
        signature=signature,
    )


def apply_to_selection(
    selection: Iterable[str],
    result: MapSelection,
    ids: NDArray[Any],
    *,
    remove: bool = False,
) -> frozenset[str]:
    """The selection with the rows of ``result`` added (or removed, with ``remove=True``).

    An empty result returns the selection unchanged. ``ids`` are all the rows' ``data_row_id``
    (the same rows as ``result.mask``).
    """
    current = frozenset(selection)
    if result.is_empty:
        return current
    if len(ids) != len(result.mask):
        raise ValueError(f"ids has {len(ids)} rows, the selection mask has {len(result.mask)}")
    chosen = frozenset(str(x) for x in np.asarray(ids)[result.mask])
    return current - chosen if remove else current | chosen


# --- private ------------------------------------------------------------------------------------


def _message(kind: SelectionKind, n_selected: int, n_drawn: int | None, n_ignored: int) -> str:
    ignored = f" ({n_ignored} shape(s) with too few vertices ignored)" if n_ignored else ""
    if kind == "none":
        return "Nothing is selected on the map." + ignored
    if kind == "points":
        return f"{n_selected:,} point(s) clicked."
    where = {"box": "the box", "lasso": "the lasso", "box+lasso": "the shapes"}[kind]
    if n_selected == 0:
        return f"No rows inside {where}; the selection is unchanged." + ignored
    drawn = f" ({n_drawn:,} of them drawn)" if n_drawn is not None else ""
    return f"{n_selected:,} row(s) inside {where}{drawn}." + ignored


def _selection_part(state: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if state is None:
        return {}
    if not isinstance(state, Mapping):
        raise ValueError(f"state must be a mapping (a plotly selection state), got {type(state)}")
    inner = state.get("selection", state)
    if not isinstance(inner, Mapping):
        raise ValueError(f"state['selection'] must be a mapping, got {type(inner).__name__}")
    return inner


def _entries(selection: Mapping[str, Any], key: str) -> list[Any]:
    value = selection.get(key) or []
    if not isinstance(value, list | tuple):
        raise ValueError(f"state['selection'][{key!r}] must be a list, got {type(value).__name__}")
    return list(value)


def _box(entry: Any, i: int) -> tuple[tuple[float, float], tuple[float, float]] | None:
    where = f"state['selection']['box'][{i}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a mapping with 'x' and 'y', got {entry!r}")
    xs, ys = _floats(entry.get("x"), f"{where}['x']"), _floats(entry.get("y"), f"{where}['y']")
    if len(xs) != 2 or len(ys) != 2:
        return None  # plotly sends x: [], y: [] for a box without corners
    return (xs[0], xs[1]), (ys[0], ys[1])


def _lasso(entry: Any, i: int) -> NDArray[np.float64] | None:
    where = f"state['selection']['lasso'][{i}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a mapping with 'x' and 'y', got {entry!r}")
    xs, ys = _floats(entry.get("x"), f"{where}['x']"), _floats(entry.get("y"), f"{where}['y']")
    if len(xs) != len(ys):
        raise ValueError(f"{where} has {len(xs)} x values and {len(ys)} y values")
    polygon = np.column_stack([xs, ys]) if xs else np.empty((0, 2))
    return polygon if len(polygon) >= 3 else None


def _floats(values: Any, where: str) -> list[float]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise ValueError(f"{where} must be a list of numbers, got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where} must hold numbers, got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{where} must hold finite numbers, got {v!r}")
        out.append(float(v))
    return out


def _point_ids(points: list[Any]) -> Iterable[str]:
    for point in points:
        if not isinstance(point, Mapping):
            continue
        data = point.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if isinstance(data, str):  # the density layer's cells carry no id: skipped
            yield data


def _signature(
    boxes: list[tuple[tuple[float, float], tuple[float, float]]],
    polygons: list[NDArray[np.float64]],
    point_ids: tuple[str, ...],
) -> str:
    spec = {
        "box": boxes,
        "lasso": [p.tolist() for p in polygons],
        "points": list(point_ids) if not (boxes or polygons) else [],
    }
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def _check_xy(xy: ArrayLike) -> NDArray[np.floating[Any]]:
    points = np.asarray(xy)
    if points.dtype.kind not in "fiu":
        points = points.astype(np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"xy must have shape (n_rows, 2), got {points.shape}")
    return points


def _check_mask(mask: NDArray[np.bool_] | None, n: int, name: str) -> NDArray[np.bool_] | None:
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype != bool or array.shape != (n,):
        raise ValueError(
            f"{name} must be a bool array of shape ({n},), got {array.dtype} {array.shape}"
        )
    return array


def _check_strata(strata: ArrayLike | None, n: int) -> NDArray[np.int64] | None:
    if strata is None:
        return None
    codes = np.asarray(strata)
    if codes.shape != (n,) or codes.dtype.kind not in "iu":
        raise ValueError(
            f"strata must be integer codes of shape ({n},), got {codes.dtype} {codes.shape}"
        )
    if n == 0:
        return codes.astype(np.int64)
    return codes.astype(np.int64) - int(codes.min())


def _check_include(
    include: ArrayLike | None, n: int, pool: NDArray[np.bool_] | None
) -> NDArray[np.intp] | None:
    if include is None:
        return None
    array = np.asarray(include)
    if array.dtype == bool:
        if array.shape != (n,):
            raise ValueError(f"include as a mask must have shape ({n},), got {array.shape}")
        positions = np.flatnonzero(array)
    elif array.dtype.kind in "iu" and array.ndim == 1:
        if len(array) and (array.min() < 0 or array.max() >= n):
            raise ValueError(
                f"include positions must lie in [0, {n}), got {array.min()}..{array.max()}"
            )
        positions = np.unique(array).astype(np.intp)
    else:
        raise ValueError(f"include must be int positions or a bool mask, got {array.dtype}")
    return positions[pool[positions]] if pool is not None else positions


def _pair(values: Sequence[float], name: str) -> tuple[float, float]:
    if len(values) != 2:
        raise ValueError(f"{name} must hold two numbers, got {values!r}")
    return float(values[0]), float(values[1])


def _check_count(name: str, value: int) -> None:
    _check_int(name, value)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
