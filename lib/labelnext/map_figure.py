"""The embedding map as a plotly figure: plain functions, data in, figure out (no streamlit).

Why one module of this length: the figure, its typed-array payload and the colourings are one
contract with the browser (what plotly receives); kept together so they change together.

One ``Scattergl`` trace holds every drawn point, over a ``Heatmap`` of the density of all rows.
Each point carries its ``data_row_id`` as ``customdata`` (selection events name rows by id,
never by a trace-local point index); colour comes from one numeric array with a colour bar
(confidence, or category codes on a stepped colour scale), so a single trace serves every
colouring and the legend never hides points that a server-side lasso would still select.

The payload is kept small for 100,000 points: coordinates and colours go as float32 / uint8
typed arrays (base64 in the JSON), hover text is a short per-point label picked from a lookup
table (``"7 (0.42)"``: predicted class, confidence); the hover template adds the id from
``customdata``.
:func:`figure_payload` measures what ``st.plotly_chart`` would send.

:func:`build_map` does one map rerun: sample the rows to draw, count the density of all rows,
colour the points and build the figure.

Examples
--------
>>> import numpy as np
>>> fig = map_figure(
...     np.array([[0.0, 0.0], [1.0, 1.0]]),
...     np.array(["a", "b"]),
...     color=np.array([0.2, 0.9]),
...     color_kind="confidence",
... )
>>> [trace.type for trace in fig.data], list(fig.data[0].customdata)
(['scattergl'], ['b', 'a'])
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from numpy.typing import ArrayLike, NDArray

from labelnext.map_data import DensityGrid, density_grid, map_extent, sample_for_drawing
from labelnext.runs import ModelRun

__all__ = [
    "COLOR_BY",
    "STATUS_CATEGORIES",
    "MapView",
    "build_map",
    "category_codes",
    "decode_typed_array",
    "figure_payload",
    "hover_labels",
    "map_figure",
    "membership_codes",
    "status_codes",
    "typed_array",
]

#: What :func:`build_map` can colour the points by.
COLOR_BY: tuple[str, ...] = ("confidence", "predicted", "ground_truth", "status", "picks")
#: Status categories, in drawing order (later ones are drawn on top).
STATUS_CATEGORIES: tuple[str, ...] = ("free", "queued", "labeled", "selected")
#: Okabe-Ito, safe for colour-blind readers; cycled past eight categories.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)
STATUS_COLORS: tuple[str, ...] = ("#9aa5b1", "#E69F00", "#009E73", "#1d4ed8")
#: Low confidence (label first) is hot, high confidence is cool.
CONFIDENCE_SCALE: tuple[tuple[float, str], ...] = (
    (0.0, "#b2182b"),
    (0.5, "#fddbc7"),
    (1.0, "#2166ac"),
)
_DENSITY_SCALE = ((0.0, "#f3f4f6"), (1.0, "#4b5563"))
_MAX_LABELLED_CATEGORIES = 40
_MAX_NUDGES = 20
_FONT = {"size": 15}


def map_figure(
    xy: ArrayLike,
    ids: ArrayLike,
    *,
    color: ArrayLike,
    color_kind: Literal["confidence", "category"] = "confidence",
    categories: Sequence[str] = (),
    category_colors: Sequence[str] | None = None,
    hover: ArrayLike | None = None,
    density: DensityGrid | None = None,
    dragmode: Literal["lasso", "select", "zoom", "pan"] = "lasso",
    color_title: str = "confidence",
    height: int = 640,
    marker_size: float = 4.0,
    equal_aspect: bool = True,
) -> go.Figure:
    """The map of the drawn points, over an optional density layer.

    Parameters
    ----------
    xy : array-like of shape (m, 2)
        Coordinates of the drawn points.
    ids : array-like of str, shape (m,)
        Their ``data_row_id``, carried in ``customdata``.
    color : array-like of shape (m,)
        ``color_kind="confidence"``: confidence in [0, 1] (``1 - score``; low = label first,
        drawn on top). ``"category"``: integer codes into ``categories`` (higher codes drawn on
        top).
    color_kind : {"confidence", "category"}, default "confidence"
    categories : sequence of str
        Names of the category codes (``"category"`` only).
    category_colors : sequence of str, optional
        One colour per category; default the Okabe-Ito palette, cycled.
    hover : array-like of str, shape (m,), optional
        One short line per point shown under its id on hover (:func:`hover_labels`).
    density : DensityGrid, optional
        Drawn under the points as a grey heatmap of log(1 + rows per cell); empty cells are
        transparent. Not hoverable or selectable.
    dragmode : {"lasso", "select", "zoom", "pan"}, default "lasso"
    color_title : str, default "confidence"
    height : int, default 640
    marker_size : float, default 4
    equal_aspect : bool, default True
        One unit on x is one unit on y (distances on a PCA map mean something).

    Returns
    -------
    plotly.graph_objects.Figure
        ``data[-1]`` is the points trace; ``layout.uirevision`` is constant so zoom and pan
        survive reruns.
    """
    points = np.asarray(xy, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"xy must have shape (m, 2), got {points.shape}")
    m = len(points)
    # ids go as an object array: plotly converts any other string array to one, slowly
    names = np.asarray(ids, dtype=object)
    values = np.asarray(color)
    labels = None if hover is None else np.asarray(hover).astype(str)
    for name, array in (("ids", names), ("color", values), ("hover", labels)):
        if array is not None and array.shape != (m,):
            raise ValueError(f"{name} must have shape ({m},), got {array.shape}")
    if color_kind not in ("confidence", "category"):
        raise ValueError(f"color_kind must be 'confidence' or 'category', got {color_kind!r}")
    if dragmode not in ("lasso", "select", "zoom", "pan"):
        raise ValueError(f"dragmode must be lasso, select, zoom or pan, got {dragmode!r}")
    if color_kind == "confidence":
        shade = values.astype(np.float32)
        if m and not (np.isfinite(shade).all() and shade.min() >= 0.0 and shade.max() <= 1.0):
            raise ValueError("color (confidence) must hold finite values in [0, 1]")
        draw_order = np.argsort(-shade, kind="stable")  # least confident last, on top
        marker = _confidence_marker(shade[draw_order], color_title, marker_size)
    else:
        if not categories:
            raise ValueError("categories must name the codes when color_kind='category'")
        codes = values.astype(np.int64)
        if m and (codes.min() < 0 or codes.max() >= len(categories)):
            raise ValueError(
                f"color codes must lie in [0, {len(categories)}), got {codes.min()}..{codes.max()}"
            )
        colors = _category_colors(len(categories), category_colors)
        draw_order = np.argsort(codes, kind="stable")
        marker = _category_marker(codes[draw_order], categories, colors, color_title, marker_size)
    traces: list[Any] = []
    if density is not None:
        traces.append(_density_trace(density))
    template = "%{customdata}" + ("<br>%{text}" if labels is not None else "")
    template += "<extra></extra>"
    traces.append(
        go.Scattergl(
            x=typed_array(points[draw_order, 0]),
            y=typed_array(points[draw_order, 1]),
            mode="markers",
            customdata=names[draw_order].view(_SharedStrings),
            text=labels[draw_order] if labels is not None else None,
            hovertemplate=template,
            marker=marker,
            name="rows",
            showlegend=False,
        )
    )
    fig = go.Figure(traces)
    fig.update_layout(
        height=height,
        dragmode=dragmode,
        uirevision="map",
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        font=_FONT,
        plot_bgcolor="white",
        hovermode="closest",
    )
    fig.update_xaxes(showgrid=False, zeroline=False, showticklabels=False)
    fig.update_yaxes(showgrid=False, zeroline=False, showticklabels=False)
    if density is not None:
        fig.update_xaxes(range=list(density.x_range))
        fig.update_yaxes(range=list(density.y_range))
    if equal_aspect:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def figure_payload(fig: go.Figure) -> str:
    """The JSON text ``st.plotly_chart(fig)`` sends to the browser (its size is the payload).

    Streamlit 1.67 turns the figure into a dict and encodes it with ``plotly.io.to_json``;
    this does the same steps.
    """
    import plotly.io as pio
    import plotly.tools

    spec = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    return str(pio.to_json(spec, validate=False))


def hover_labels(
    class_codes: ArrayLike, classes: Sequence[str], confidence: ArrayLike
) -> NDArray[np.str_]:
    """One hover line per point: ``"<class> (<confidence to 2 decimals>)"``, e.g. ``"7 (0.42)"``.

    Built from a table of (classes + 1) x 101 strings, indexed per point: no string formatting
    per row. Code -1 reads ``"(none)"`` (a detection image without boxes).

    Examples
    --------
    >>> hover_labels([0, 1, -1], ["cat", "dog"], [0.123, 0.9, 1.0]).tolist()
    ['cat (0.12)', 'dog (0.90)', '(none) (1.00)']
    """
    codes = np.asarray(class_codes, dtype=np.int64)
    conf = np.asarray(confidence, dtype=np.float64)
    if codes.shape != conf.shape:
        raise ValueError(f"class_codes {codes.shape} and confidence {conf.shape} differ in shape")
    if len(codes) and (codes.min() < -1 or codes.max() >= len(classes)):
        raise ValueError(f"class_codes must lie in [-1, {len(classes)}), got {codes.min()}..")
    names = ["(none)", *map(str, classes)]
    # ASCII only: JSON escapes anything else to six bytes a character
    table = np.array([f"{c} ({k / 100:.2f})" for c in names for k in range(101)])
    steps = np.clip(np.rint(conf * 100), 0, 100).astype(np.int64)
    return np.asarray(table[(codes + 1) * 101 + steps])


def category_codes(
    values: ArrayLike, *, missing: str = "(none)"
) -> tuple[NDArray[np.int64], list[str]]:
    """Integer codes of text values and the sorted category names (missing values last).

    Examples
    --------
    >>> codes, names = category_codes(["b", "a", None, "b"])
    >>> codes.tolist(), names
    ([1, 0, 2, 1], ['a', 'b', '(none)'])
    """
    codes, uniques = pd.factorize(pd.Series(np.asarray(values, dtype=object)), sort=True)
    names = [str(u) for u in uniques]
    out = np.asarray(codes, dtype=np.int64)
    if (out < 0).any():
        out[out < 0] = len(names)
        names.append(missing)
    return out, names


def status_codes(
    ids: ArrayLike,
    *,
    queued: Collection[str] = (),
    labeled: Collection[str] = (),
    selected: Collection[str] = (),
) -> NDArray[np.uint8]:
    """Each row's index into :data:`STATUS_CATEGORIES`; selected wins, then labeled, then queued.

    Examples
    --------
    >>> status_codes(["a", "b", "c", "d"], queued={"b", "c"}, selected={"c"}).tolist()
    [0, 1, 3, 0]
    """
    index = pd.Index(np.asarray(ids, dtype=object))
    codes = np.zeros(len(index), dtype=np.uint8)
    for code, members in ((1, queued), (2, labeled), (3, selected)):
        if members:
            codes[index.isin(list(members))] = code
    return codes


def membership_codes(ids: ArrayLike, members: Collection[str]) -> NDArray[np.uint8]:
    """1 for rows in ``members`` (a proposed batch's picks), else 0."""
    index = pd.Index(np.asarray(ids, dtype=object))
    return (
        np.asarray(index.isin(list(members)), dtype=np.uint8)
        if members
        else np.zeros(len(index), dtype=np.uint8)
    )


@dataclass(frozen=True)
class MapView:
    """One map rerun: the figure and what it shows.

    Attributes
    ----------
    figure : plotly.graph_objects.Figure
    drawn : ndarray of int64
        Row positions of the drawn points (ascending; the trace's order differs).
    n_pool : int
        Rows in the pool (after the filters); the density layer counts them all.
    density : DensityGrid
    caption : str
        One sentence for under the map.
    """

    figure: go.Figure
    drawn: NDArray[np.int64]
    n_pool: int
    density: DensityGrid
    caption: str

    @property
    def n_drawn(self) -> int:
        """Points drawn."""
        return len(self.drawn)


def build_map(
    run: ModelRun,
    xy: ArrayLike,
    scores: ArrayLike,
    *,
    color_by: str = "confidence",
    within: NDArray[np.bool_] | None = None,
    queued: Collection[str] = (),
    labeled: Collection[str] = (),
    selected: Collection[str] = (),
    picks: Collection[str] = (),
    max_points: int = 100_000,
    seed: int = 0,
    bins: int = 200,
    uncertain_share: float = 0.2,
    dragmode: Literal["lasso", "select", "zoom", "pan"] = "lasso",
    height: int = 640,
) -> MapView:
    """Everything one rerun of the map needs: which rows to draw, the density, the figure.

    Parameters
    ----------
    run : ModelRun
    xy : array-like of shape (n_rows, 2)
        Every row's coordinates (:func:`labelnext.projection.map_coordinates`).
    scores : array-like of shape (n_rows,)
        Uncertainty scores under the current strategy (**higher = more uncertain**).
    color_by : {"confidence", "predicted", "ground_truth", "status", "picks"}
    within : ndarray of bool, shape (n_rows,), optional
        The pool after the page's filters; only these rows are drawn and counted.
    queued, labeled, selected, picks : collections of str
        ``data_row_id`` sets for the status and picks colourings; selected rows and picks are
        drawn (after the most uncertain rows) even when the sample would miss them.
    max_points, seed, uncertain_share
        See :func:`labelnext.map_data.sample_for_drawing`.
    bins : int, default 200
        Density grid cells per side.

    Returns
    -------
    MapView
    """
    points = np.asarray(xy)
    score = np.asarray(scores, dtype=np.float64)
    n = run.n_rows
    if points.shape != (n, 2):
        raise ValueError(f"xy must have shape ({n}, 2) for this run, got {points.shape}")
    if score.shape != (n,):
        raise ValueError(f"scores must have shape ({n},) for this run, got {score.shape}")
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    if color_by == "ground_truth" and run.ground_truth is None:
        raise ValueError(f"color_by='ground_truth' needs ground truth; run {run.name!r} has none")
    predicted = run.predicted_index
    must_show = set(selected) | set(picks)
    include = run.positions(must_show) if must_show else None
    drawn = sample_for_drawing(
        score,
        max_points=max_points,
        seed=seed,
        strata=predicted,
        uncertain_share=uncertain_share,
        id_rank=run.id_rank,
        ids=run.ids,
        within=within,
        include=include,
    )
    extent = map_extent(points)
    density = density_grid(points, bins=bins, extent=extent, mask=within)
    ids = run.ids[drawn]
    confidence = 1.0 - score[drawn]
    hover = hover_labels(predicted[drawn], run.classes, confidence)
    kind: Literal["confidence", "category"] = "category"
    categories: Sequence[str] = ()
    colors: Sequence[str] | None = None
    color: NDArray[Any]
    if color_by == "confidence":
        kind, color, title = "confidence", confidence, "confidence"
    elif color_by == "predicted":
        shifted = predicted[drawn] + (1 if (predicted < 0).any() else 0)
        categories = (["(none)"] if (predicted < 0).any() else []) + list(run.classes)
        color, title = shifted, "predicted"
    elif color_by == "ground_truth":
        assert run.ground_truth is not None
        color, categories = category_codes(run.ground_truth[drawn])
        title = "ground truth"
    elif color_by == "status":
        color = status_codes(ids, queued=queued, labeled=labeled, selected=selected)
        categories, colors, title = STATUS_CATEGORIES, STATUS_COLORS, "status"
    else:
        color = membership_codes(ids, picks)
        categories, colors, title = ("not picked", "picked"), ("#9aa5b1", "#D55E00"), "batch"
    figure = map_figure(
        points[drawn],
        ids,
        color=color,
        color_kind=kind,
        categories=categories,
        category_colors=colors,
        hover=hover,
        density=density,
        dragmode=dragmode,
        color_title=title,
        height=height,
    )
    n_pool = int(within.sum()) if within is not None else n
    caption = (
        f"All {n_pool:,} rows drawn."
        if len(drawn) == n_pool
        else f"{len(drawn):,} of {n_pool:,} rows drawn (the most uncertain always, the rest a "
        "sample per class); the shading counts all of them, and a lasso selects every row "
        "inside it, drawn or not."
    )
    return MapView(figure=figure, drawn=drawn, n_pool=n_pool, density=density, caption=caption)


def typed_array(values: ArrayLike) -> dict[str, Any]:
    """A numeric array as plotly.js's typed-array spec ``{"dtype", "bdata", "shape"}``.

    Plotly.py passes such a dict through untouched (no validation copy, no base64 pass of its
    own). One more reason: plotly.py's JSON encoder searches the finished text for ``NaN`` and
    ``Infinity`` and, if either occurs anywhere, parses and re-encodes the whole figure (about
    60 ms for a 4 MB map). Half a million random base64 characters hold ``NaN`` almost surely;
    so where the base64 text holds either word, the lowest-order byte it covers gets its lowest
    bit flipped, and the text is encoded again: a float32 moves by at most 2**-15 of its value
    (usually one unit in the last place), a uint8 colour level by one. Values are display
    copies; selections run on the server's own coordinates.
    """
    array = np.ascontiguousarray(values)
    if array.dtype.kind not in "fiu" or array.dtype.itemsize > 4:
        array = array.astype(np.float32 if array.dtype.kind == "f" else np.int32)
    array = array.astype(array.dtype.newbyteorder("<"), copy=False)
    code = f"{array.dtype.kind}{array.dtype.itemsize}"
    raw = array.tobytes()
    text = base64.b64encode(raw).decode("ascii")
    for _ in range(_MAX_NUDGES):
        hits = [m.start() for word in ("NaN", "Infinity") for m in re.finditer(word, text)]
        if not hits:
            break
        data = bytearray(raw)
        size = array.dtype.itemsize
        for position in hits:
            first = position * 6 // 8  # the word covers bytes first .. first + 2
            covered = [b for b in range(first, min(first + 3, len(data)))]
            data[min(covered, key=lambda b: b % size)] ^= 1
        raw = bytes(data)
        text = base64.b64encode(raw).decode("ascii")
    spec: dict[str, Any] = {"dtype": code, "bdata": text}
    if array.ndim > 1:
        spec["shape"] = ", ".join(map(str, array.shape))  # as plotly.py writes it
    return spec


def decode_typed_array(spec: Any) -> NDArray[Any]:
    """The numpy array of a typed-array spec (as :func:`typed_array` writes; for tests)."""
    if not isinstance(spec, dict) or "bdata" not in spec:
        return np.asarray(spec)
    kinds = {"f": "<f", "u": "<u", "i": "<i"}
    dtype = np.dtype(kinds[spec["dtype"][0]] + spec["dtype"][1:])
    array = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=dtype)
    if "shape" in spec:
        array = array.reshape([int(x) for x in str(spec["shape"]).split(",")])
    return array


class _SharedStrings(np.ndarray[Any, np.dtype[np.object_]]):
    """A read-only object array of str that deep-copies as itself.

    Plotly.py deep-copies a trace when a figure is made and again in ``to_dict`` (which
    ``st.plotly_chart`` calls); an object array is copied element by element, about 50 ms per
    100,000 ids each time. Its elements are immutable strings and plotly marks the array
    read-only, so sharing it is safe.
    """

    def __deepcopy__(self, memo: dict[int, Any] | None = None, /) -> _SharedStrings:
        return self


# --- private ------------------------------------------------------------------------------------


def _confidence_marker(shade: NDArray[np.float32], title: str, size: float) -> dict[str, Any]:
    # 256 levels are more than the eye tells apart, in a quarter of float32's bytes
    levels = np.rint(shade * 255).astype(np.uint8)
    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    return {
        "color": typed_array(levels),
        "colorscale": [list(step) for step in CONFIDENCE_SCALE],
        "cmin": 0,
        "cmax": 255,
        "size": size,
        "colorbar": {
            "title": {"text": title},
            "thickness": 14,
            "tickvals": [t * 255 for t in ticks],
            "ticktext": [f"{t:.2f}" for t in ticks],
        },
    }


def _category_marker(
    codes: NDArray[np.int64],
    categories: Sequence[str],
    colors: Sequence[str],
    title: str,
    size: float,
) -> dict[str, Any]:
    k = len(categories)
    scale: list[list[Any]] = []
    for i, colour in enumerate(colors):  # a stepped scale: code i is exactly colour i
        scale += [[i / k, colour], [(i + 1) / k, colour]]
    small = codes.astype(np.uint8 if k <= 256 else np.uint16)
    bar: dict[str, Any] = {"title": {"text": title}, "thickness": 14}
    if k <= _MAX_LABELLED_CATEGORIES:
        bar.update(tickvals=list(range(k)), ticktext=list(map(str, categories)))
    return {
        "color": typed_array(small),
        "colorscale": scale,
        "cmin": -0.5,
        "cmax": k - 0.5,
        "size": size,
        "colorbar": bar,
    }


def _category_colors(k: int, colors: Sequence[str] | None) -> list[str]:
    if colors is None:
        return [PALETTE[i % len(PALETTE)] for i in range(k)]
    if len(colors) != k:
        raise ValueError(f"category_colors must hold {k} colours, got {len(colors)}")
    return list(colors)


def _density_trace(density: DensityGrid) -> go.Heatmap:
    shade = np.log1p(density.counts.astype(np.float32))
    shade[density.counts == 0] = np.nan  # empty cells stay transparent
    return go.Heatmap(
        z=typed_array(shade),
        x0=density.x_range[0] + density.dx / 2,
        dx=density.dx,
        y0=density.y_range[0] + density.dy / 2,
        dy=density.dy,
        colorscale=[list(step) for step in _DENSITY_SCALE],
        showscale=False,
        hoverinfo="skip",
        zsmooth=False,
        name="density",
    )
