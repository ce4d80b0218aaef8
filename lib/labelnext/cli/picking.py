"""How ``select`` and ``submit`` pick their rows when a batch method is asked for (``--method``).

In memory the whole run goes to :func:`labelnext.proposal.propose_batch`; on Spark the engine
narrows the pool to the ``--candidates`` most uncertain rows and their embeddings (default
``3 x N``, at least ``N``), then :func:`labelnext.batch.pick_batch` picks on the driver. The
streaming path keeps only the top N and no embeddings, so it offers ``--method top`` alone.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from labelnext.batch import CANDIDATE_FACTOR, pick_batch
from labelnext.cli.args import method_options_from_args
from labelnext.errors import LabelnextError
from labelnext.proposal import propose_batch
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring
from labelnext.select import Filter

__all__ = ["Picked", "pick_in_memory", "pick_on_spark", "refuse_streaming"]


@dataclass(frozen=True)
class Picked:
    """The rows a batch method picked (``ranked``'s columns, rank = pick order) and its record."""

    rows: pd.DataFrame
    method: str
    method_params: dict[str, Any] = field(default_factory=dict)
    embedding_source: str | None = None
    summary: str = ""


def pick_in_memory(
    args: argparse.Namespace,
    run: ModelRun,
    scoring: Scoring,
    flt: Filter,
    covered: frozenset[str] = frozenset(),
) -> Picked:
    """``--method`` on a run loaded in memory."""
    proposal = propose_batch(
        run,
        args.top,
        scoring=scoring,
        flt=flt,
        covered_ids=covered,
        **method_options_from_args(args),
    )
    pick = proposal.pick
    summary = f"method {pick.method}" + (
        f" (auto: {pick.reason})" if pick.requested_method == "auto" else ""
    )
    if pick.n_suppressed:
        summary += f"; {pick.n_suppressed:,} near-duplicate(s) passed over"
    if proposal.embedding_source:
        summary += f"; embedding: {proposal.embedding_source}"
    return Picked(
        rows=proposal.rows,
        method=pick.method,
        method_params=proposal.method_params(),
        embedding_source=proposal.embedding_source,
        summary=summary,
    )


def pick_on_spark(
    args: argparse.Namespace, scoring: Scoring, flt: Filter, excluded: frozenset[str] = frozenset()
) -> Picked:
    """``--method`` with ``--engine spark``: candidates on the cluster, the pick on the driver."""
    from labelnext.spark.cli import candidates_from_path, parse_conf

    size = args.candidates or math.ceil(CANDIDATE_FACTOR * args.top)
    found = candidates_from_path(
        args.run,
        max(size, args.top),
        scoring,
        flt,
        master=args.master,
        conf=parse_conf(args.conf),
        exclude=excluded,
        renormalize=getattr(args, "renormalize", False),
    )
    frame = found.frame.reset_index(drop=True)
    options = method_options_from_args(args)
    options["candidates"] = len(frame)  # the engine's candidates are the ones to choose among
    pick = pick_batch(
        None,
        found.embedding,
        args.top,
        scores=np.clip(frame["score"].to_numpy(dtype=np.float64), 0.0, 1.0),
        predicted=frame["predicted_label"].to_numpy(),
        tie_ids=frame["data_row_id"].to_numpy(),
        **options,
    )
    rows = frame.iloc[pick.indices].copy()
    rows["rank"] = np.arange(1, len(rows) + 1, dtype=np.int64)
    params = {**pick.params, "strategy": scoring.strategy, "engine": "spark", "reason": pick.reason}
    params["candidates"] = len(frame)
    return Picked(
        rows=rows.reset_index(drop=True),
        method=pick.method,
        method_params=params,
        embedding_source="run",
        summary=f"method {pick.method} among the {len(frame):,} most uncertain rows (Spark)",
    )


def refuse_streaming() -> LabelnextError:
    """The error for ``--method`` (other than top) or its options on the streaming path."""
    return LabelnextError(
        "--method / --min-distance / --quota need the pool's embeddings, which the streaming "
        "path (--stream, --engine stream, or a Parquet file over 2 GiB) does not keep: use "
        "--engine memory, or --engine spark, which narrows the pool to --candidates rows first"
    )
