"""The Explore page's state: the map coordinates of the open run, and what a map selection did.

The map's own work (coordinates, drawing sample, density, lasso over every row) is the
library's (:mod:`labelnext.projection`, :mod:`labelnext.map_data`, :mod:`labelnext.map_figure`);
this module keeps what the page needs between reruns.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from labelnext.errors import LedgerError
from labelnext.projection import MapCoordinates, map_coordinates
from labelnext.runs import ModelRun

from . import cache, safe_text, session
from .review import Queue

__all__ = [
    "COLOR_LABELS",
    "DRAWN",
    "IMAGE_EMBEDDING",
    "LAST",
    "MAP_KEY",
    "METHODS",
    "color_options",
    "coordinates",
    "method_options",
    "proposed_picks",
    "remember_drawn",
    "row_status",
    "status_caption",
    "use_image_embedding",
    "uses_image_embedding",
]

MAP_KEY = "explore_map"
DRAWN = "explore_drawn"  # row positions the last map drew (to count a lasso's drawn rows)
LAST = "explore_last"  # the signature of the last selection event applied, and its message
IMAGE_EMBEDDING = "explore_image_embedding"  # content hashes of runs mapped from their images
METHODS = {"auto": "Run's map columns, else PCA", "pca": "PCA", "umap": "UMAP"}
COLOR_LABELS = {
    "confidence": "Confidence",
    "predicted": "Predicted class",
    "ground_truth": "Ground truth",
    "status": "Status (free / queued / labeled / selected)",
    "picks": "Proposed batch (from the Batch page)",
}


def proposed_picks(run: ModelRun) -> frozenset[str] | None:
    """The ids of the batch the Batch page's builder last proposed for this run, or None."""
    found = st.session_state.get(session.PROPOSAL)
    if not found or not found.get("ids"):
        return None
    try:  # the proposal's signature starts with the content hash of the run it was made for
        made_for = json.loads(found.get("signature", "[]"))[0]
    except (ValueError, IndexError, TypeError):
        return None
    return frozenset(map(str, found["ids"])) if made_for == run.content_hash else None


def color_options(run: ModelRun) -> list[str]:
    """What the map can be coloured by for this run: ground truth only if the run has it, the
    proposed batch only once the Batch page has proposed one."""
    options = ["confidence", "predicted"]
    if run.ground_truth is not None:
        options.append("ground_truth")
    options.append("status")
    if proposed_picks(run) is not None:
        options.append("picks")
    return options


def row_status(queue: Queue) -> dict[str, frozenset[str]] | None:
    """Rows queued and rows labeled in the queue's project (``Ledger.row_status``, cached for a
    few seconds); empty before any batch exists; None when the ledger cannot be read."""
    if queue.unavailable is not None:
        return None
    if queue.project is None:
        return {"queued": frozenset(), "labeled": frozenset()}
    try:
        return cache.row_status(queue.project)
    except LedgerError:
        return None


def status_caption(
    queue: Queue, status: dict[str, frozenset[str]] | None, *, hides_batched: bool
) -> str:
    """One sentence under a map coloured by status: which project, and what was counted."""
    if status is None:
        return (
            "The ledger cannot be read, so queued and labeled rows are not told apart: "
            "every row not selected shows as free."
        )
    if queue.project is None:
        return "No batch exists yet: every row is free or selected."
    return (
        f"Status in project {safe_text.md(queue.project)}: {len(status['queued']):,} rows queued "
        f"(in an open batch), {len(status['labeled']):,} labeled."
        + (
            " Rows already in a batch are drawn under this colouring; a lasso still selects "
            "only free rows (Review's *Hide rows in a batch*)."
            if hides_batched
            else ""
        )
    )


def use_image_embedding(run: ModelRun) -> None:
    """Callback of "Use the image embedding": map this run from its images from now on."""
    ss = st.session_state
    ss[IMAGE_EMBEDDING] = frozenset(ss.get(IMAGE_EMBEDDING, frozenset())) | {run.content_hash}


def uses_image_embedding(run: ModelRun) -> bool:
    """The user chose the image fallback for this run (it has no embedding of its own)."""
    return run.content_hash in st.session_state.get(IMAGE_EMBEDDING, frozenset())


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

    Not wrapped in ``st.cache_*``: the progress bar it reports to would be replayed. A run the
    user chose to map from its images (:func:`use_image_embedding`) goes through
    :func:`labelnext_app.cache.image_map` instead (no progress bar; the caller shows a spinner).

    Raises
    ------
    ProjectionError
        The run has no coordinates and no embedding (``NoEmbeddingError`` says how to add one).
    """
    if run.embedding is None and uses_image_embedding(run):
        found: MapCoordinates = cache.image_map(run.content_hash, method, seed, run)
        return found
    return map_coordinates(run, method=method, seed=seed, progress=progress)  # type: ignore[arg-type]


def remember_drawn(drawn: NDArray[np.int64]) -> None:
    st.session_state[DRAWN] = drawn
