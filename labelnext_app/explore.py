"""The Explore page's state: the map coordinates of the open run, and what a map selection did.

The map's own work (coordinates, drawing sample, density, lasso over every row) is the
library's (:mod:`labelnext.projection`, :mod:`labelnext.map_data`, :mod:`labelnext.map_figure`);
this module keeps what the page needs between reruns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from labelnext.projection import MapCoordinates, map_coordinates
from labelnext.runs import ModelRun

__all__ = [
    "COLOR_LABELS",
    "DRAWN",
    "LAST",
    "MAP_KEY",
    "METHODS",
    "coordinates",
    "method_options",
    "remember_drawn",
]

MAP_KEY = "explore_map"
DRAWN = "explore_drawn"  # row positions the last map drew (to count a lasso's drawn rows)
LAST = "explore_last"  # the signature of the last selection event applied, and its message
METHODS = {"auto": "Run's map columns, else PCA", "pca": "PCA", "umap": "UMAP"}
COLOR_LABELS = {
    "confidence": "Confidence",
    "predicted": "Predicted class",
    "ground_truth": "Ground truth",
    "status": "Status (free / queued / labeled / selected)",
}


def method_options(run: ModelRun) -> list[str]:
    """Projections the run can use: UMAP only when umap-learn is installed."""
    options = ["auto", "pca"]
    try:
        import umap  # noqa: F401
    except ImportError:
        return options
    return [*options, "umap"]


def coordinates(run: ModelRun, method: str, seed: int, progress: Any = None) -> MapCoordinates:
    """The run's map coordinates: computed once, then a memory-mapped reload from the disk
    cache (keyed by the run's content hash, method and seed) in about a millisecond.

    Not wrapped in ``st.cache_*``: the progress bar it reports to would be replayed.

    Raises
    ------
    ProjectionError
        The run has no coordinates and no embedding (``NoEmbeddingError`` says how to add one).
    """
    return map_coordinates(run, method=method, seed=seed, progress=progress)  # type: ignore[arg-type]


def remember_drawn(drawn: NDArray[np.int64]) -> None:
    st.session_state[DRAWN] = drawn
