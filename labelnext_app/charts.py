"""Plotly figures of the dashboard (plain functions: data in, figure out)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

POOL_COLOR = "#9aa5b1"
SELECTION_COLOR = "#1d4ed8"
_FONT = {"size": 15}


def _layout(fig: go.Figure, *, height: int, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        font=_FONT,
        xaxis_title=x_title,
        yaxis_title=y_title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        bargap=0.05,
    )
    return fig


def confidence_histogram(confidence: np.ndarray, *, strategy: str, bins: int = 40) -> go.Figure:
    """Histogram of ``1 - score`` over a run (left = least confident = label first)."""
    fig = go.Figure(
        go.Histogram(
            x=np.asarray(confidence),
            xbins={"start": 0.0, "end": 1.0, "size": 1.0 / bins},
            marker_color=SELECTION_COLOR,
            name="rows",
        )
    )
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, height=320, x_title=f"confidence (1 − {strategy} score)", y_title="rows")


def selection_histogram(
    pool_confidence: np.ndarray, selected_confidence: np.ndarray, *, bins: int = 25
) -> go.Figure:
    """Confidence of the selection over the pool's, each as a share of its own rows."""
    fig = go.Figure()
    spec = {"start": 0.0, "end": 1.0, "size": 1.0 / bins}
    fig.add_trace(
        go.Histogram(
            x=pool_confidence,
            xbins=spec,
            histnorm="percent",
            name="pool",
            marker_color=POOL_COLOR,
            opacity=0.7,
        )
    )
    fig.add_trace(
        go.Histogram(
            x=selected_confidence,
            xbins=spec,
            histnorm="percent",
            name="selection",
            marker_color=SELECTION_COLOR,
            opacity=0.85,
        )
    )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(range=[0, 1])
    return _layout(fig, height=320, x_title="confidence", y_title="% of rows")


def class_distribution(
    classes: Sequence[str], pool_labels: np.ndarray, selected_labels: np.ndarray
) -> go.Figure:
    """Predicted-class shares of the selection next to the pool's."""
    pool = pd.Series(pool_labels).value_counts(normalize=True).reindex(classes, fill_value=0)
    sel = pd.Series(selected_labels).value_counts(normalize=True).reindex(classes, fill_value=0)
    fig = go.Figure(
        [
            go.Bar(x=list(classes), y=100 * pool.to_numpy(), name="pool", marker_color=POOL_COLOR),
            go.Bar(
                x=list(classes),
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
            y=[str(classes[i]) for i in idx],
            orientation="h",
            marker_color=[SELECTION_COLOR if i == idx[-1] else POOL_COLOR for i in idx],
            text=[f"{probs[i]:.2f}" for i in idx],
            textposition="outside",
        )
    )
    fig.update_xaxes(range=[0, 1.1])
    fig.update_yaxes(type="category")
    return _layout(fig, height=max(220, 34 * len(idx) + 60), x_title="probability", y_title="class")
