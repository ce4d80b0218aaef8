"""A batch proposed from a model run: :mod:`labelnext.batch`'s methods over a run's rows.

:func:`labelnext.batch.pick_batch` works on arrays; this module feeds it a :class:`ModelRun`:
the scores under a :class:`~labelnext.scoring.Scoring` (every strategy, ensembles, multi-label
and detection), the run's embedding or the named image fallback, the pool filter, and the rows
already queued or labeled in the destination project (never picked, and counted as covered, so
a diverse batch does not crowd the regions labeled before). The dashboard's batch builder, the
CLI's ``select`` / ``submit --method`` and notebooks call :func:`propose_batch`, so they pick the
same rows from the same inputs.

Examples
--------
>>> from labelnext.readers import load_run
>>> lines = ["data_row_id,prob_cat,prob_dog,embedding", 'a,0.5,0.5,"[0, 0]"',
...          'b,0.55,0.45,"[0, 0.01]"', 'c,0.9,0.1,"[5, 5]"', 'd,0.6,0.4,"[9, 9]"']
>>> csv = chr(10).join(lines).encode()
>>> run = load_run(csv, filename="demo.csv")
>>> proposal = propose_batch(run, 2, method="diverse", candidates=4)
>>> proposal.rows["data_row_id"].tolist(), proposal.embedding_source
(['a', 'd'], 'run')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelnext.batch import QUOTA_MODES, BatchPick, pick_batch
from labelnext.embeddings import embedding_for
from labelnext.errors import EmptyPoolError, SelectionError
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, run_scores
from labelnext.select import Filter, filter_mask, rows_frame

__all__ = ["Proposal", "parse_quotas", "propose_batch"]


@dataclass(frozen=True)
class Proposal:
    """A proposed batch: its rows in pick order and how they were picked.

    Attributes
    ----------
    rows : pandas.DataFrame
        ``data_row_id, image, predicted_label, score, confidence, rank`` (:func:`ranked`'s
        columns), ``rank`` 1 the first pick.
    pick : BatchPick
        The method that ran, why, how many near-duplicates were passed over, its parameters.
    embedding_source : str or None
        ``"run"``, the image fallback's name, or None when no embedding was needed (``top``).
    n_covered : int
        Rows of the run already queued or labeled in the project (never picked, counted as
        covered).
    positions : ndarray of int64
        The picks' row positions in the run, in pick order.
    """

    rows: pd.DataFrame
    pick: BatchPick
    embedding_source: str | None
    n_covered: int
    positions: NDArray[np.int64]

    @property
    def method(self) -> str:
        """The method that ran (what ``auto`` resolved to)."""
        return self.pick.method

    def method_params(self) -> dict[str, Any]:
        """What the ledger records with the batch: the pick's parameters and the pool's size."""
        return {
            **self.pick.params,
            "reason": self.pick.reason,
            "n_pool": self.pick.n_pool,
            "n_candidates": self.pick.n_candidates,
            "n_suppressed": self.pick.n_suppressed,
            "n_covered": self.n_covered,
        }


def propose_batch(
    run: ModelRun,
    k: int,
    *,
    scoring: Scoring | str = "least_confidence",
    method: str = "auto",
    seed: int = 0,
    flt: Filter | None = None,
    covered_ids: Iterable[str] = (),
    quotas: str | Mapping[Any, int | tuple[int, int]] | None = None,
    min_distance: float | None = None,
    metric: str = "euclidean",
    candidates: int | None = None,
    n_clusters: int | None = None,
    scores: NDArray[np.floating[Any]] | None = None,
    embeddings: NDArray[np.floating[Any]] | None = None,
    embedding_source: str | None = None,
    home: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Proposal:
    """Pick ``k`` rows of ``run`` to label next with one of :data:`labelnext.batch.METHODS`.

    Parameters
    ----------
    run : ModelRun
    k : int
        Batch size.
    scoring : Scoring or str, default="least_confidence"
        How rows are scored (what ``top``, ``diverse`` and ``cluster`` rank by).
    method : str, default="auto"
        ``top``, ``diverse``, ``cluster``, ``typical`` or ``auto`` (see :mod:`labelnext.batch`).
    seed : int, default=0
    flt : Filter, optional
        The pool: classes, confidence range, metadata; its ``exclude_ids`` are never picked.
    covered_ids : iterable of str
        Rows already queued or labeled in the destination project: never picked, and counted
        as labeled by ``diverse``, ``typical``, ``auto`` and ``min_distance``. Ids not in the run
        are ignored.
    quotas, min_distance, metric, candidates, n_clusters
        As in :func:`labelnext.batch.pick_batch`; quotas are over predicted class names.
    scores : ndarray, optional
        ``run_scores(run, scoring)`` when the caller has it already.
    embeddings, embedding_source : optional
        The embedding matrix (and its name) when the caller has it already; default
        :func:`labelnext.embeddings.embedding_for` (the run's column or the image fallback),
        loaded only when the method needs one.
    home : path, optional
        Where the image fallback's cache lives (default ``$LABELNEXT_HOME``).
    progress : callable(done, total), optional
        Called while the image fallback reads images.

    Returns
    -------
    Proposal

    Raises
    ------
    SelectionError, EmptyPoolError, EmbeddingError, StrategyError
        With the numbers (k against the pool, quotas, rows that fit ``min_distance``).
    """
    if scores is None:
        scores = run_scores(run, scoring)
    n = run.n_rows
    covered_set = frozenset(map(str, covered_ids))
    covered = run.mask_of(covered_set) if covered_set else np.zeros(n, dtype=bool)
    keep = filter_mask(run, scores, flt) if flt is not None else np.ones(n, dtype=bool)
    exclude = ~keep & ~covered
    if not (keep & ~covered).any():
        raise EmptyPoolError(
            f"The pool is empty: no row of run {run.name!r} is left after filters, exclusions "
            f"and the {int(covered.sum()):,} row(s) already queued or labeled."
        )
    needs_embedding = method != "top" or min_distance is not None
    if needs_embedding and embeddings is None:
        embeddings, embedding_source = embedding_for(run, home=home, progress=progress)
    pick = pick_batch(
        run.probabilities if run.boxes is None else None,
        embeddings if needs_embedding else None,
        k,
        method=method,
        seed=seed,
        covered=covered,
        exclude=exclude,
        quotas=quotas,
        predicted=run.predicted_labels,
        min_distance=min_distance,
        metric=metric,
        scores=np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0),
        candidates=candidates,
        n_clusters=n_clusters,
        tie_ids=run.ids,
    )
    pick.params["strategy"] = scoring if isinstance(scoring, str) else scoring.strategy
    positions = pick.indices
    return Proposal(
        rows=rows_frame(run, positions, scores),
        pick=pick,
        embedding_source=embedding_source if needs_embedding else None,
        n_covered=int(covered.sum()),
        positions=positions,
    )


def parse_quotas(
    values: str | Sequence[str], *, field: str = "quotas"
) -> str | dict[str, int | tuple[int, int]] | None:
    """Class quotas as typed: ``balanced``, ``proportional``, or ``CLASS=N`` / ``CLASS=MIN:MAX``.

    ``values`` is one string (entries separated by commas or new lines) or a sequence of entries;
    empty means no quotas. ``field`` names the option in error messages.

    Examples
    --------
    >>> parse_quotas("balanced")
    'balanced'
    >>> parse_quotas("cat=5, dog=2:8")
    {'cat': 5, 'dog': (2, 8)}
    >>> parse_quotas("")
    """
    if isinstance(values, str):
        values = values.replace("\n", ",").split(",")
    entries = [v.strip() for v in values if v.strip()]
    if not entries:
        return None
    if len(entries) == 1 and entries[0] in QUOTA_MODES:
        return entries[0]
    quotas: dict[str, int | tuple[int, int]] = {}
    for value in entries:
        name, sep, amount = value.rpartition("=")
        low, colon, high = amount.partition(":")
        try:
            if not sep or not name.strip():
                raise ValueError
            quotas[name.strip()] = (int(low), int(high)) if colon else int(amount)
        except ValueError:
            raise SelectionError(
                f"{field} {value!r}: expected 'balanced', 'proportional', CLASS=N or CLASS=MIN:MAX"
            ) from None
    return quotas
