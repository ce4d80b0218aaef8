"""The Batch page's batch builder: a method, its options, and a preview before anything is stored.

:func:`labelnext.proposal.propose_batch` decides which rows; this module holds the builder's
widgets, the proposal the user last asked for, and what "Use as selection" hands to the submit
form (so the batch records the method, its parameters, the seed and the embedding it used).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from labelnext import view as views
from labelnext.batch import METHODS
from labelnext.errors import LabelnextError
from labelnext.map_figure import build_map
from labelnext.proposal import Proposal, parse_quotas, propose_batch
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring

from . import charts, explore, review, safe_text, scoring_state, session, ui

__all__ = [
    "DEFAULT_METHOD",
    "METHOD_LABELS",
    "PROPOSAL",
    "USED",
    "draw",
    "propose",
    "record_for_submit",
    "use_proposal",
]

PROPOSAL = session.PROPOSAL  # the last proposal: ids in pick order and how they were picked
USED = "builder_used"  # the proposal the selection came from (for the batch's record)
MESSAGE = "builder_message"
DEFAULT_METHOD = "auto"
"""The builder's first method: ``auto`` (typical while few rows are labeled, then cluster) was
the best of the methods measured by ``benchmarks/bench_label_efficiency.py`` (README)."""
METHOD_LABELS = {
    "auto": "Auto (recommended): typical first, then cluster",
    "top": "Top: the most uncertain rows",
    "diverse": "Diverse: farthest-first among the most uncertain",
    "cluster": "Cluster: the most uncertain row of each cluster",
    "typical": "Typical (cold start): one typical row per uncovered cluster",
}
QUOTA_LABELS = {
    "none": "None",
    "balanced": "Balanced: equal shares per predicted class",
    "proportional": "Proportional to the pool",
    "custom": "Per class (CLASS=N or CLASS=MIN:MAX)",
}
CANDIDATE_METHODS = ("diverse", "cluster", "auto")
THUMBS_SHOWN = 24
MAP_POINTS = 20_000


def _options(run: ModelRun) -> dict[str, Any]:
    """The builder's widget values as :func:`propose_batch` options (quotas parsed)."""
    ss = st.session_state
    mode = str(ss.get("builder_quotas", "none"))
    quotas: Any = None
    if mode in ("balanced", "proportional"):
        quotas = mode
    elif mode == "custom":
        quotas = parse_quotas(str(ss.get("builder_quota_text", "")), field="Per-class quotas")
    distance = float(ss.get("builder_min_distance", 0.0) or 0.0)
    method = str(ss.get("builder_method", DEFAULT_METHOD))
    factor = float(ss.get("builder_candidates", 3.0))
    k = int(ss.get("builder_size", 50))
    return {
        "k": k,
        "method": method,
        "seed": int(ss.get("builder_seed", 0)),
        "quotas": quotas,
        "min_distance": distance if distance > 0 else None,
        "metric": str(ss.get("builder_metric", "euclidean")),
        "candidates": int(np.ceil(factor * k))
        if method in ("diverse", "cluster", "auto")
        else None,
    }


def _signature(run: ModelRun, scoring: Scoring, covered: frozenset[str]) -> str:
    """What a proposal depends on beyond the options: the run, the scoring, the queue."""
    return json.dumps(
        [run.content_hash, scoring.params(), len(covered), hash(covered)], sort_keys=True
    )


def propose(run: ModelRun, scoring: Scoring, covered: frozenset[str]) -> Proposal | None:
    """Run the builder's method now and keep the proposal in session state (None: refused)."""
    ss = st.session_state
    ss.pop(MESSAGE, None)
    progress = None

    def report(done: int, total: int) -> None:
        nonlocal progress
        if progress is None:
            progress = st.progress(0.0, text="Computing the image embedding (once per run)…")
        progress.progress(done / max(total, 1), text=f"Reading images for the embedding: {done:,}")

    try:
        options = _options(run)
        k = options.pop("k")
        pool_filter = review.review_filter(run, map_rows=False)
        proposal = propose_batch(
            run,
            k,
            scoring=scoring,
            covered_ids=covered,
            flt=dataclasses.replace(pool_filter, exclude_ids=frozenset()),
            scores=scoring_state.run_scores(run, scoring),
            progress=report,
            **options,
        )
    except LabelnextError as exc:
        ss.pop(PROPOSAL, None)
        ss[MESSAGE] = ("error", "**No batch proposed:**\n\n" + safe_text.block(exc))
        return None
    finally:
        if progress is not None:
            progress.empty()
    ss[PROPOSAL] = {
        "signature": _signature(run, scoring, covered),
        "ids": proposal.rows["data_row_id"].tolist(),
        "method": proposal.method,
        "requested": proposal.pick.requested_method,
        "reason": proposal.pick.reason,
        "n_suppressed": proposal.pick.n_suppressed,
        "n_candidates": proposal.pick.n_candidates,
        "n_pool": proposal.pick.n_pool,
        "params": proposal.method_params(),
        "embedding_source": proposal.embedding_source,
    }
    return proposal


def use_proposal(mode: str) -> None:
    """Callback of "Use as selection" (``replace``) and "Add to selection" (``add``)."""
    ss = st.session_state
    found = ss.get(PROPOSAL)
    if not found:
        return
    ids = frozenset(found["ids"])
    chosen = ids if mode == "replace" else session.selection() | ids
    session.set_selection(chosen)
    ss[USED] = found
    verb = "replaces" if mode == "replace" else "was added to"
    ss[MESSAGE] = (
        "success",
        f"The proposed batch of {len(ids):,} rows {verb} the selection ({len(chosen):,} selected). "
        "Unpick rows on Review if you like, then submit below.",
    )


def record_for_submit(selection: frozenset[str]) -> dict[str, Any]:
    """``method``, ``method_params`` and ``embedding_source`` for :meth:`Ledger.submit`.

    The proposal the selection was built from, with how many rows were unpicked or added by
    hand since; ``manual`` when the selection shares no row with a used proposal.
    """
    used = st.session_state.get(USED)
    if not used or not selection & set(used["ids"]):
        return {"method": "manual", "method_params": {"picked_by": "hand"}}
    proposed = set(used["ids"])
    params = dict(used["params"])
    params["removed_by_hand"] = len(proposed - selection)
    params["added_by_hand"] = len(selection - proposed)
    return {
        "method": used["method"],
        "method_params": params,
        "embedding_source": used["embedding_source"],
    }


def _preview(
    run: ModelRun, scoring: Scoring, pool: NDArray[np.bool_], found: dict[str, Any]
) -> None:
    ids = list(found["ids"])
    rows = run.positions(ids)
    scores = scoring_state.run_scores(run, scoring)
    picked = np.zeros(run.n_rows, dtype=bool)
    picked[rows] = True
    m = st.columns(4)
    m[0].metric("Proposed rows", f"{len(ids):,}")
    m[1].metric("Method", found["method"])
    m[2].metric(
        "Mean score, batch / pool",
        f"{scores[rows].mean():.2f} / {scores[pool].mean():.2f}" if pool.any() else "–",
    )
    m[3].metric("Near-duplicates passed over", f"{int(found['n_suppressed']):,}")
    why = safe_text.md(found["reason"])
    source = found["embedding_source"]
    st.caption(
        f"{'Auto chose ' + found['method'] + ': ' if found['requested'] == 'auto' else ''}{why}. "
        f"Chosen among {int(found['n_candidates']):,} of {int(found['n_pool']):,} free rows"
        + (f"; embedding: {safe_text.md(source)}." if source else ".")
    )
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Predicted class: proposed batch vs pool**")
        st.plotly_chart(
            charts.class_distribution(
                run.classes, views.class_shares(run, pool), views.class_shares(run, picked)
            ),
            key="builder_classes",
            config={"displayModeBar": False},
        )
    with c2:
        st.markdown("**The picks on the map of the pool**")
        try:
            xy = explore.coordinates(run, "auto", 0).xy
        except LabelnextError as exc:
            st.caption(f"No map: {safe_text.md(exc)}")
        else:
            view = build_map(
                run,
                xy,
                scores,
                color_by="picks",
                within=pool | picked,
                picks=ids,
                max_points=MAP_POINTS,
                dragmode="zoom",
                height=360,
            )
            st.plotly_chart(view.figure, key="builder_map", config={"displaylogo": False})
    shown = rows[:THUMBS_SHOWN]
    st.markdown(f"**The first {len(shown)} picks, in pick order**")
    columns = 8
    labels = run.predicted_labels[shown]
    for start in range(0, len(shown), columns):
        cells = st.columns(columns)
        for offset, row in enumerate(shown[start : start + columns]):
            with cells[offset]:
                st.image(str(review.thumb_for(run, int(row))), width="stretch", output_format="PNG")
                st.caption(
                    f"{start + offset + 1}. {safe_text.md(labels[start + offset])} · "
                    f"{1.0 - scores[row]:.2f}"
                )


def draw(run: ModelRun, scoring: Scoring, pool: NDArray[np.bool_], covered: frozenset[str]) -> None:
    """The builder: method, options, Propose, the preview and "Use as selection"."""
    ss = st.session_state
    ss.setdefault("builder_method", DEFAULT_METHOD)
    ss.setdefault("builder_size", 50)
    ss.setdefault("builder_seed", 0)
    ss.setdefault("builder_candidates", 3.0)
    ss.setdefault("builder_quotas", "none")
    ss.setdefault("builder_min_distance", 0.0)
    ss.setdefault("builder_metric", "euclidean")
    with st.container(border=True, key="batch_builder"):
        st.subheader("Build a batch")
        st.caption(
            f"Ranked by {scoring_state.describe_scoring(run, scoring)} (the sidebar's strategy); "
            "rows already queued or labeled in the project are never proposed and count as "
            "covered."
        )
        b1, b2, b3 = st.columns([4, 2, 2], vertical_alignment="bottom")
        b1.selectbox(
            "Method",
            options=list(METHODS[-1:] + METHODS[:-1]),
            format_func=lambda m: METHOD_LABELS[m],
            key="builder_method",
            help="docs/batch.md has each method's reference and the label savings measured.",
        )
        b2.number_input("Batch size N", min_value=1, max_value=100_000, step=10, key="builder_size")
        b3.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="builder_seed")
        o1, o2, o3, o4 = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
        o1.selectbox(
            "Class quotas",
            options=list(QUOTA_LABELS),
            format_func=lambda q: QUOTA_LABELS[q],
            key="builder_quotas",
        )
        o2.text_input(
            "Per-class quotas",
            key="builder_quota_text",
            placeholder="3=10, 5=2:8",
            disabled=ss["builder_quotas"] != "custom",
        )
        o3.number_input(
            "Duplicate distance (0 = off)",
            min_value=0.0,
            step=0.1,
            key="builder_min_distance",
            help="No two picks, and no pick and a queued or labeled row, closer than this.",
        )
        o4.radio("Distance", options=["euclidean", "cosine"], key="builder_metric", horizontal=True)
        if ss["builder_method"] in CANDIDATE_METHODS:
            st.slider(
                "Candidates: the most uncertain N x",
                min_value=1.0,
                max_value=10.0,
                step=0.5,
                key="builder_candidates",
                help="Diverse and cluster choose among this many times N of the most uncertain "
                "rows (3 saved the most labels in the benchmark).",
            )
        if st.button("Propose a batch", key="builder_propose", icon=":material/auto_awesome:"):
            propose(run, scoring, covered)
        ui.show_outcome(ss.get(MESSAGE))
        found = ss.get(PROPOSAL)
        if not found or found.get("signature") != _signature(run, scoring, covered):
            return
        _preview(run, scoring, pool, found)
        u1, u2 = st.columns(2)
        u1.button(
            f"Use as selection ({len(found['ids']):,} rows)",
            key="builder_use",
            type="primary",
            on_click=use_proposal,
            args=("replace",),
            width="stretch",
        )
        u2.button(
            "Add to the selection",
            key="builder_add",
            on_click=use_proposal,
            args=("add",),
            width="stretch",
        )
