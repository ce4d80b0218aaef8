"""Plotly figures of the dashboard (plain functions: data in, figure out).

Text is sized for a projector: 15 px ticks and legends, 16 px axis titles (never under 14 px).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from labelnext.calibration import ReliabilityDiagram

from . import safe_text

POOL_COLOR = "#9aa5b1"
SELECTION_COLOR = "#1d4ed8"
THRESHOLD_COLOR = "#dc2626"
_FONT = {"size": 15}
_TICK_FONT = {"size": 15}
_TITLE_FONT = {"size": 16}


def _layout(fig: go.Figure, *, height: int, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font=_FONT,
        xaxis_title=x_title,
        yaxis_title=y_title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "font": _FONT},
        bargap=0.05,
    )
    fig.update_xaxes(tickfont=_TICK_FONT, title_font=_TITLE_FONT)
    fig.update_yaxes(tickfont=_TICK_FONT, title_font=_TITLE_FONT)
    return fig


def binned(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``values`` in ``bins`` equal bins over [0, 1], and the bins' centres.

    The server bins; the browser gets ``bins`` numbers, not a million (a histogram trace would
    send every value). float32 confidences are rounded so a value lands in the bin it prints as.
    """
    counts, edges = np.histogram(np.round(np.asarray(values, dtype=np.float64), 6), bins, (0, 1))
    return counts, (edges[:-1] + edges[1:]) / 2


def _bars(values: np.ndarray, bins: int, *, percent: bool, **style: object) -> go.Bar:
    counts, centres = binned(values, bins)
    heights = 100 * counts / max(len(values), 1) if percent else counts
    return go.Bar(x=centres, y=heights, width=1.0 / bins, **style)


def confidence_histogram(confidence: np.ndarray, *, strategy: str, bins: int = 40) -> go.Figure:
    """Histogram of ``1 - score`` over a run (left = least confident = label first)."""
    fig = go.Figure(
        _bars(confidence, bins, percent=False, marker_color=SELECTION_COLOR, name="rows")
    )
    fig.update_xaxes(range=[0, 1])
    title = f"confidence = 1 − score ({safe_text.plotly(strategy)})"
    return _layout(fig, height=320, x_title=title, y_title="rows")


def selection_histogram(
    pool_confidence: np.ndarray, selected_confidence: np.ndarray, *, bins: int = 25
) -> go.Figure:
    """Confidence of the selection over the pool's, each as a share of its own rows."""
    fig = go.Figure()
    fig.add_trace(
        _bars(
            pool_confidence, bins, percent=True, name="pool", marker_color=POOL_COLOR, opacity=0.7
        )
    )
    fig.add_trace(
        _bars(
            selected_confidence,
            bins,
            percent=True,
            name="selection",
            marker_color=SELECTION_COLOR,
            opacity=0.85,
        )
    )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, height=320, x_title="confidence", y_title="% of rows")


#: Class charts show at most this many classes; the rest are summed into one "other" bar, so a
#: run with 10,000 classes draws as quickly as one with ten.
MAX_CLASS_BARS = 30


def class_distribution(
    classes: Sequence[str],
    pool_shares: np.ndarray,
    selected_shares: np.ndarray,
    *,
    max_bars: int = MAX_CLASS_BARS,
) -> go.Figure:
    """Predicted-class shares of the selection next to the pool's (``view.class_shares``).

    With more than ``max_bars`` classes, the classes most present in the selection (then the
    pool) get a bar each and the rest one ``other (n classes)`` bar.
    """
    names = list(classes)
    pool = pd.Series(np.asarray(pool_shares, dtype=float), index=names)
    sel = pd.Series(np.asarray(selected_shares, dtype=float), index=names)
    if len(names) > max_bars:
        keep = (
            pd.DataFrame({"sel": sel, "pool": pool})
            .sort_values(["sel", "pool"], ascending=False, kind="stable")
            .index[: max_bars - 1]
        )
        kept = set(keep)
        rest = [n for n in names if n not in kept]
        other = f"other ({len(rest):,} classes)"
        pool = pd.concat([pool[keep], pd.Series({other: pool[rest].sum()})])
        sel = pd.concat([sel[keep], pd.Series({other: sel[rest].sum()})])
        names = [*map(str, keep), other]
    shown = [safe_text.plotly(n) for n in names]
    fig = go.Figure(
        [
            go.Bar(x=shown, y=100 * pool.to_numpy(), name="pool", marker_color=POOL_COLOR),
            go.Bar(
                x=shown,
                y=100 * sel.to_numpy(),
                name="selection",
                marker_color=SELECTION_COLOR,
            ),
        ]
    )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    return _layout(fig, height=320, x_title="predicted class", y_title="% of rows")


def class_probabilities(classes: Sequence[str], probs: np.ndarray, *, top: int = 10) -> go.Figure:
    """Horizontal bars of the ``top`` most probable classes of one row, largest on top."""
    probs = np.asarray(probs, dtype=float)
    idx = np.argsort(-probs, kind="stable")[:top][::-1]
    fig = go.Figure(
        go.Bar(
            x=probs[idx],
            y=[safe_text.plotly(classes[i]) for i in idx],
            orientation="h",
            marker_color=[SELECTION_COLOR if i == idx[-1] else POOL_COLOR for i in idx],
            text=[f"{probs[i]:.2f}" for i in idx],
            textposition="outside",
            textfont=_FONT,
        )
    )
    fig.update_xaxes(range=[0, 1.1])
    fig.update_yaxes(type="category")
    return _layout(fig, height=max(220, 34 * len(idx) + 60), x_title="probability", y_title="class")


def multilabel_probabilities(
    classes: Sequence[str], probs: np.ndarray, *, threshold: float
) -> go.Figure:
    """Every class's probability (independent sigmoids), the decision threshold as a line.

    Classes at or above the threshold (predicted present) are blue, the others grey; classes
    stay in their own order so two rows can be compared at a glance.
    """
    probs = np.asarray(probs, dtype=float)
    names = [safe_text.plotly(c) for c in classes]
    if len(names) > MAX_CLASS_BARS:  # the most probable classes, in their own order
        keep = np.sort(np.argsort(-probs, kind="stable")[:MAX_CLASS_BARS])
        names, probs = [names[i] for i in keep], probs[keep]
    present = probs >= threshold
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=names,
            orientation="h",
            marker_color=[SELECTION_COLOR if p else POOL_COLOR for p in present],
            text=[f"{p:.2f}" for p in probs],
            textposition="outside",
            textfont=_FONT,
            name="probability",
        )
    )
    fig.add_vline(
        x=threshold,
        line_dash="dash",
        line_color=THRESHOLD_COLOR,
        line_width=2,
        annotation_text=f"threshold {threshold:.2f}",
        annotation_position="top",
        annotation_font={"size": 15, "color": THRESHOLD_COLOR},
    )
    fig.update_xaxes(range=[0, 1.15])
    fig.update_yaxes(type="category", autorange="reversed")
    fig = _layout(
        fig, height=max(240, 32 * len(names) + 80), x_title="probability", y_title="class"
    )
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def ensemble_spread(classes: Sequence[str], samples: np.ndarray, *, top: int = 10) -> go.Figure:
    """One row's ensemble: mean probability per class, whiskers from the lowest to the highest
    member, and each member as a dot. The ``top`` classes by mean, largest on top.

    Parameters
    ----------
    samples : ndarray of shape (n_members, n_classes)
        Each member's (or MC-dropout sample's) class probabilities for the row.
    """
    t = np.asarray(samples, dtype=float)
    mean, low, high = t.mean(axis=0), t.min(axis=0), t.max(axis=0)
    idx = np.argsort(-mean, kind="stable")[:top][::-1]
    names = [safe_text.plotly(classes[i]) for i in idx]
    fig = go.Figure(
        [
            go.Bar(
                x=mean[idx],
                y=names,
                orientation="h",
                name="mean of members",
                marker_color=POOL_COLOR,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": high[idx] - mean[idx],
                    "arrayminus": mean[idx] - low[idx],
                    "color": "#111827",
                    "thickness": 2,
                    "width": 6,
                },
            ),
            go.Scatter(
                x=t[:, idx].ravel(),
                y=names * t.shape[0],
                mode="markers",
                name=f"each of {t.shape[0]} members",
                marker={"color": SELECTION_COLOR, "size": 8, "opacity": 0.75},
            ),
        ]
    )
    fig.update_xaxes(range=[0, 1.05])
    fig.update_yaxes(type="category")
    return _layout(fig, height=max(240, 34 * len(idx) + 90), x_title="probability", y_title="class")


def two_run_histogram(
    confidence_a: np.ndarray, confidence_b: np.ndarray, name_a: str, name_b: str, *, bins: int = 25
) -> go.Figure:
    """The confidence of run A over run B's on their shared rows (each as % of the rows)."""
    fig = go.Figure()
    fig.add_trace(
        _bars(
            confidence_a, bins, percent=True, name=f"A: {safe_text.plotly(name_a)}",
            marker_color=POOL_COLOR, opacity=0.75,
        )
    )  # fmt: skip
    fig.add_trace(
        _bars(
            confidence_b, bins, percent=True, name=f"B: {safe_text.plotly(name_b)}",
            marker_color=SELECTION_COLOR, opacity=0.7,
        )
    )  # fmt: skip
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, height=320, x_title="confidence", y_title="% of shared rows")


def change_histogram(change: np.ndarray, *, bins: int = 40) -> go.Figure:
    """The per-row change of confidence ``B - A`` over [-1, 1] (right = B is surer)."""
    values = np.round(np.asarray(change, dtype=np.float64), 6)
    counts, edges = np.histogram(values, bins, (-1.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    colors = [THRESHOLD_COLOR if c < 0 else SELECTION_COLOR for c in centres]
    fig = go.Figure(go.Bar(x=centres, y=counts, width=2.0 / bins, marker_color=colors))
    fig.update_xaxes(range=[-1, 1])
    return _layout(fig, height=320, x_title="change of confidence, B − A", y_title="rows")


def reliability(diagram: ReliabilityDiagram, *, title: str = "labeled rows") -> go.Figure:
    """A reliability diagram (``labelnext.calibration.ReliabilityDiagram``): accuracy against
    mean confidence per bin, bars as wide as the bin, over the diagonal of perfect calibration."""
    edges = np.asarray(diagram.bin_edges, dtype=np.float64)
    confidence = np.asarray(diagram.mean_confidence, dtype=np.float64)
    accuracy = np.asarray(diagram.accuracy, dtype=np.float64)
    counts = np.asarray(diagram.counts)
    used = counts > 0
    fig = go.Figure()
    fig.add_bar(
        x=((edges[:-1] + edges[1:]) / 2)[used],
        y=accuracy[used],
        width=np.diff(edges)[used] * 0.95,
        name="accuracy",
        marker_color="#4C78A8",
        customdata=np.stack([confidence[used], counts[used]], axis=1),
        hovertemplate="confidence %{customdata[0]:.2f}<br>accuracy %{y:.2f}<br>"
        "%{customdata[1]} rows<extra></extra>",
    )
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dash", "color": "#888"}
    )
    fig.update_layout(showlegend=False, title=safe_text.plotly(title))
    return _layout(fig, height=260, x_title="confidence", y_title="accuracy")
