"""Learning-curve charts of a :class:`labelnext.simulate.SimulationResult`: Plotly and PNG.

:func:`curves_figure` draws, per strategy, the median curve over seeds and its band (the
quantiles of ``settings.band``) as a shaded area, random dashed in black, with a dotted line at
the target. :func:`curves_png` renders the same chart as PNG bytes: through Plotly's kaleido when
it is installed and works offline, else with matplotlib, else it says why there is no PNG.
"""

from __future__ import annotations

import io
from typing import Any

from labelnext.simulate import RANDOM, SimulationResult

__all__ = ["METRICS", "curves_figure", "curves_png"]

METRICS = {"accuracy": "Test accuracy", "macro_f1": "Macro-F1"}
_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")


def _colors(result: SimulationResult) -> dict[str, str]:
    others = [s for s in result.strategies if s != RANDOM]
    colors = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(others)}
    colors[RANDOM] = "#222222"
    return colors


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def curves_figure(result: SimulationResult, metric: str = "accuracy") -> Any:
    """A Plotly figure: median learning curve and band per strategy, the target as a line.

    Parameters
    ----------
    result : SimulationResult
    metric : {"accuracy", "macro_f1"}, default "accuracy"
    """
    import plotly.graph_objects as go

    _check_metric(metric)
    bands = result.bands()
    colors = _colors(result)
    low, high = result.settings.band
    fig = go.Figure()
    for name in result.strategies:
        one = bands[bands["strategy"] == name]
        x = one["labels"].tolist()
        color = colors[name]
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=one[f"{metric}_high"].tolist() + one[f"{metric}_low"].tolist()[::-1],
                fill="toself",
                fillcolor=_rgba(color, 0.12),
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
                name=f"{name} {low:.0%} to {high:.0%}",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=one[f"{metric}_median"].tolist(),
                mode="lines+markers",
                marker={"size": 4},
                line={"color": color, "width": 2.4, "dash": "dash" if name == RANDOM else "solid"},
                name=name,
                legendgroup=name,
                hovertemplate=f"{name}<br>%{{x}} labels<br>median %{{y:.1%}}<extra></extra>",
            )
        )
    if metric == "accuracy":
        fig.add_hline(
            y=result.target_accuracy,
            line={"color": "grey", "dash": "dot", "width": 1},
            annotation_text=f"target {result.settings.target:.0%} of full pool",
            annotation_position="bottom right",
        )
    fig.update_layout(
        xaxis_title="labels",
        yaxis_title=f"{METRICS[metric]} (median of {result.settings.seeds} seeds, band "
        f"{low:.0%} to {high:.0%})",
        yaxis_tickformat=".0%",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        height=460,
        template="plotly_white",
    )
    return fig


def curves_png(result: SimulationResult, metric: str = "accuracy") -> tuple[bytes | None, str]:
    """The chart as PNG bytes, and how it was made (or why there is none).

    Kaleido (Plotly's image export) is tried first when it is installed; it needs a Chrome of
    its own, so where it fails the chart is drawn with matplotlib instead.

    Returns
    -------
    png : bytes or None
    how : str
        ``"kaleido"``, ``"matplotlib"``, or the reason there is no PNG.
    """
    _check_metric(metric)
    reasons = []
    try:
        import kaleido  # noqa: F401
    except ImportError:
        reasons.append("kaleido is not installed")
    else:
        try:
            return curves_figure(result, metric).to_image(format="png", scale=2), "kaleido"
        except Exception as exc:  # kaleido needs a browser it may not find offline
            reasons.append(f"kaleido failed ({type(exc).__name__})")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        reasons.append("matplotlib is not installed")
        return None, "No PNG: " + "; ".join(reasons) + " (pip install matplotlib)."
    return _matplotlib_png(result, metric, Figure), "matplotlib"


def _matplotlib_png(result: SimulationResult, metric: str, figure_type: Any) -> bytes:
    bands = result.bands()
    colors = _colors(result)
    low, high = result.settings.band
    fig = figure_type(figsize=(8, 4.8), dpi=110)
    ax = fig.add_subplot()
    for name in result.strategies:
        one = bands[bands["strategy"] == name]
        color = colors[name]
        ax.fill_between(
            one["labels"], one[f"{metric}_low"], one[f"{metric}_high"], color=color, alpha=0.12
        )
        ax.plot(
            one["labels"],
            one[f"{metric}_median"],
            color=color,
            linestyle="--" if name == RANDOM else "-",
            linewidth=2,
            label=name,
        )
    if metric == "accuracy":
        ax.axhline(result.target_accuracy, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("labels")
    ax.set_ylabel(f"{METRICS[metric]} (median, band {low:.0%} to {high:.0%})")
    ax.set_title(f"{result.name}: {result.settings.seeds} seeds", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
