"""Every Streamlit cache of the dashboard, in one place.

Pages never call ``st.cache_*`` themselves; they call these. The wrapped objects are large and
immutable (a loaded :class:`~labelnext.runs.ModelRun`, score and order arrays, the ledger's
connection pool), so they are held with ``st.cache_resource``: ``st.cache_data`` would pickle
and copy a million-row run on every rerun, which is exactly the cost a page flip must not pay.
Arrays handed out are made read-only so that no page can change a shared cached value.

Keys are explicit and cheap: a run is keyed by where it comes from plus the file's
``mtime_ns``/size stamp (so an edited file is loaded again), scores by the run's content hash and
the scoring's parameters as stable JSON text (``labelnext_app.scoring_state.scoring_key``:
strategy, aggregation, top-k, classes, no-box score). Arguments whose names start with ``_``
are not hashed by Streamlit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st
from numpy.typing import NDArray

from labelnext import scoring
from labelnext.config import settings
from labelnext.ordercache import ScoredOrder, order_cache, scored_order
from labelnext.paths import allowed_roots
from labelnext.readers import Limits, load_run
from labelnext.runs import ModelRun

if TYPE_CHECKING:
    from labelnext.ledger import Ledger

# A few runs at most stay in memory per server process; each can be large.
_MAX_RUNS = 4


@st.cache_resource(max_entries=_MAX_RUNS, show_spinner=False)
def run_from_path(path: str, stamp: tuple[Any, ...], upload: bool = False) -> ModelRun:
    """Load a run from a file or run folder on the server; ``stamp`` changes when it does.

    The file (and everything its run.json names) must lie inside the allowed roots or the
    uploads folder; an upload may expand to 20x the upload limit in memory, no more.
    """
    del stamp  # part of the cache key only
    config = settings()
    inside = [*allowed_roots(), config.uploads_dir.resolve()]
    limits = Limits.for_upload() if upload else Limits.from_settings()
    return load_run(path, require_inside=inside, limits=limits)


@st.cache_resource(max_entries=_MAX_RUNS, show_spinner=False)
def run_from_upload(digest: str, filename: str, _data: bytes) -> ModelRun:
    """Load an uploaded file; keyed by the sha256 ``digest`` of its bytes, not the bytes."""
    return load_run(_data, filename=filename)


@st.cache_resource(max_entries=8 * _MAX_RUNS, show_spinner=False)
def scored(
    run_hash: str, scoring_key: str, _run: ModelRun, _scoring: scoring.Scoring
) -> ScoredOrder:
    """The run's scores, order and per-class orders under a Scoring, read-only.

    Opened memory-mapped from ``$LABELNEXT_HOME/orders`` when this or another process has
    computed them before (a restart reopens a known run without scoring or sorting it), else
    computed and stored there. ``scoring_key`` is ``_scoring``'s parameters as stable text.
    """
    return scored_order(_run, _scoring, order_cache(), store_in_background=True)


def scores(
    run_hash: str, scoring_key: str, _run: ModelRun, _scoring: scoring.Scoring
) -> NDArray[np.float64]:
    """Uncertainty of every row (higher = more uncertain = label first), read-only."""
    return scored(run_hash, scoring_key, _run, _scoring).scores


def full_order(
    run_hash: str, scoring_key: str, _run: ModelRun, _scoring: scoring.Scoring
) -> NDArray[np.int64]:
    """Every row, most uncertain first, ties by ``data_row_id``; read-only."""
    return scored(run_hash, scoring_key, _run, _scoring).order


@st.cache_resource(show_spinner=False)
def _ledger(db_url: str | None, home: str) -> Ledger:
    from labelnext.ledger import Ledger  # imported late: the ledger pulls in SQLAlchemy/alembic

    return Ledger(url=db_url)


def _ledger_key() -> tuple[str | None, str]:
    """Which ledger the environment names: its URL and the resolved data folder.

    Both key the cache, so a test pointing the environment at a temporary folder gets its own
    ledger, not a cached one from before.
    """
    config = settings()
    return config.db_url, str(config.home.resolve())


def ledger() -> Ledger:
    """The ledger for the current environment (one per database URL / data directory)."""
    return _ledger(*_ledger_key())


# Rows queued or labeled change when anyone submits; ten seconds of staleness spares every rerun
# a query (38 ms at 25,000 queued rows). This session's own submits clear it at once, and the
# ledger's unique index refuses a row queued twice whatever this cache says.
EXCLUDED_TTL_S = 10


@st.cache_resource(ttl=EXCLUDED_TTL_S, show_spinner=False)
def _excluded_ids(db_url: str | None, home: str, project: str | None) -> frozenset[str]:
    return frozenset(_ledger(db_url, home).excluded_ids(project))


def excluded_ids(project: str) -> frozenset[str]:
    """Rows in an open batch of ``project`` or labeled in it (cached for a few seconds)."""
    return _excluded_ids(*_ledger_key(), project)


def excluded_anywhere() -> frozenset[str]:
    """Rows in an open batch of any project or labeled in any (cached for a few seconds)."""
    return _excluded_ids(*_ledger_key(), None)


@st.cache_resource(ttl=EXCLUDED_TTL_S, show_spinner=False)
def _row_status(db_url: str | None, home: str, project: str) -> dict[str, frozenset[str]]:
    return _ledger(db_url, home).row_status(project)


def row_status(project: str) -> dict[str, frozenset[str]]:
    """``{"queued": ids, "labeled": ids}`` of ``project`` (``Ledger.row_status``; cached for a
    few seconds, like :func:`excluded_ids`)."""
    return _row_status(*_ledger_key(), project)


@st.cache_resource(ttl=EXCLUDED_TTL_S, show_spinner=False)
def _projects(db_url: str | None, home: str) -> tuple[list[str], str | None]:
    opened = _ledger(db_url, home)
    return opened.projects(), opened.last_project()


def projects() -> tuple[list[str], str | None]:
    """Every project's name, and the project of the newest batch (cached for a few seconds)."""
    return _projects(*_ledger_key())


@st.cache_resource(ttl=EXCLUDED_TTL_S, show_spinner=False)
def _history(db_url: str | None, home: str) -> Any:
    return _ledger(db_url, home).batches()


def history() -> Any:
    """Every batch, newest first (``Ledger.batches``; cached for a few seconds: the counts
    query scans every batch row)."""
    return _history(*_ledger_key())


@st.cache_resource(max_entries=8, show_spinner=False)
def comparison(
    hash_a: str,
    hash_b: str,
    strategy: str,
    labels_stamp: tuple[Any, ...],
    _run_a: ModelRun,
    _run_b: ModelRun,
    _labels: dict[str, Any] | None,
    _batches: dict[str, list[str]] | None,
) -> Any:
    """:func:`labelnext.compare.compare_runs` of two runs, keyed by their content hashes, the
    strategy and a stamp of the labels used (which rows, which import)."""
    from labelnext.compare import compare_runs

    return compare_runs(_run_a, _run_b, scoring=strategy, labels=_labels, batches=_batches)


@st.cache_resource(max_entries=8, show_spinner=False)
def calibration(run_hash: str, labels_stamp: tuple[Any, ...], _run: ModelRun, _labels: Any) -> Any:
    """:func:`labelnext.calibration.calibration_report` of a run on its labeled rows."""
    from labelnext.calibration import calibration_report

    return calibration_report(_run, _labels)


def forget_excluded_ids() -> None:
    """Called after this session submits, marks, cancels or exports a batch."""
    _excluded_ids.clear()
    _row_status.clear()
    _projects.clear()
    _history.clear()


@st.cache_resource(max_entries=2 * _MAX_RUNS, show_spinner=False)
def metadata_filters(run_hash: str, _run: ModelRun) -> Any:
    """Which metadata columns support which filter (``labelnext.metadata.filterable_columns``)."""
    from labelnext.metadata import filterable_columns

    return filterable_columns(_run)


@st.cache_resource(max_entries=16, show_spinner=False)
def metadata_choices(run_hash: str, column: str, _run: ModelRun) -> list[Any]:
    """Distinct values of a metadata column (at most 500), for the equality filter's picker."""
    import pandas as pd

    values = _run.metadata[column]
    return sorted(pd.unique(values.dropna()).tolist(), key=str)[:500]


@st.cache_resource(max_entries=2 * _MAX_RUNS, show_spinner=False)
def image_map(run_hash: str, method: str, seed: int, _run: ModelRun) -> Any:
    """Map coordinates of a run that has no embedding, from the image fallback embedding
    (``labelnext.embeddings.embedding_for``, e.g. ``pixels-16x16-pca32``; both cached on disk).

    Held in memory too: hashing the fallback's bytes for the map's disk-cache key would
    otherwise cost every rerun about 0.1 s per 100 MB. No progress bar inside (a cached function
    must not write to an element drawn outside it): the page shows a spinner around the call.
    """
    from labelnext.embeddings import embedding_for
    from labelnext.projection import map_coordinates

    matrix, source = embedding_for(_run)
    return map_coordinates(
        _run,
        method=method,  # type: ignore[arg-type]
        seed=seed,
        embedding=matrix,
        embedding_name=source,
    )


@st.cache_resource(max_entries=_MAX_RUNS, show_spinner=False)
def simulation_data(run_hash: str, _run: ModelRun) -> Any:
    """The run's labeled rows and features for the Simulate page (errors are not cached)."""
    from labelnext.simulate import simulation_data as build

    return build(_run)


def clear_all() -> None:
    """Forget every cached run, score array and ledger (used by tests)."""
    for fn in (
        simulation_data,
        run_from_path,
        run_from_upload,
        scored,
        _ledger,
        _excluded_ids,
        _row_status,
        _projects,
        _history,
        metadata_filters,
        image_map,
    ):
        fn.clear()
    metadata_choices.clear()
