"""The Review page's thumbnails as one browser component (``st.components.v2``).

A page of 48 cards drawn as 48 sets of Streamlit widgets costs the browser about a second;
one component draws them in a few milliseconds. The component (``assets/review_grid.js`` and
``.css``, bundled: nothing is fetched from outside) gets the page as plain data, shows picks at
once and sends each pick action to the server as one trigger, ``{"ids", "picked", "seq"}``,
which :func:`labelnext_app.review_actions.grid_toggle` applies to the session's selection. Every
string from the run is set as text in the browser, never as HTML.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from labelnext.runs import ModelRun

__all__ = ["GRID_KEY", "PAGE_IDS_KEY", "card_data", "draw_grid", "thumb_source"]

GRID_KEY = "review_grid"
#: The ids the grid shows now: a pick message naming other ids is ignored.
PAGE_IDS_KEY = "review_grid_page_ids"
_ASSETS = Path(__file__).with_name("assets")
_GRID = st.components.v2.component(
    "labelnext_review_grid",
    js=(_ASSETS / "review_grid.js").read_text(encoding="utf-8"),
    css=(_ASSETS / "review_grid.css").read_text(encoding="utf-8"),
)


def thumb_source(thumb: Path | str) -> str:
    """What an ``<img src>`` gets: a URL as it is, a local thumbnail as a data URI."""
    if isinstance(thumb, str) and thumb.startswith(("http://", "https://")):
        return thumb
    path = Path(thumb)
    kind = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def card_data(
    run: ModelRun,
    rows: NDArray[np.int64],
    ids: Sequence[str],
    *,
    thumbs: Sequence[Path | str],
    scores: NDArray[np.floating[Any]],
    first_rank: int,
    chosen: Iterable[str],
    elsewhere: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """One plain dict per card of the page (what the component draws), in page order.

    ``elsewhere``: rows queued or labeled in another project than the chosen one; their cards
    carry a badge saying so.
    """
    picked = frozenset(chosen)
    labels = run.predicted_labels[rows]
    out = []
    for pos, (rid, row) in enumerate(zip(ids, rows.tolist(), strict=True)):
        confidence = f"{1.0 - float(scores[row]):.2f}"
        label = str(labels[pos])
        out.append(
            {
                "id": rid,
                "rank": first_rank + pos + 1,
                "label": label,
                "confidence": confidence,
                "thumb": thumb_source(thumbs[pos]),
                "alt": f"Thumbnail of {rid}",
                "aria": f"{rid}: {label}, confidence {confidence}, rank {first_rank + pos + 1}",
                "picked": rid in picked,
                "badge": "in another project" if rid in elsewhere else "",
            }
        )
    return out


def draw_grid(
    cards: list[dict[str, Any]],
    *,
    columns: int,
    page_key: str,
    on_toggle: Callable[[], None],
    on_open: Callable[[], None],
) -> Any:
    """Mount the grid; returns the component's result (``.open`` names a card to open)."""
    st.session_state[PAGE_IDS_KEY] = [c["id"] for c in cards]
    return _GRID(
        key=GRID_KEY,
        data={
            "cards": cards,
            "columns": columns,
            "page_key": page_key,
            "label": "Thumbnails, least confident first",
        },
        on_toggle_change=on_toggle,
        on_open_change=on_open,
    )
