"""labelnext: which unlabeled rows should we label next?

The plain-Python library behind the dashboard and the ``labelnext`` CLI. It never imports
streamlit.

>>> from labelnext import load_run, ranked
>>> from labelnext.paths import SAMPLE_DATA_DIR
>>> run = load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")
>>> top = ranked(run, "margin", k=100)
>>> list(top.columns)
['data_row_id', 'image', 'predicted_label', 'score', 'confidence', 'rank']
>>> bool(top["score"].is_monotonic_decreasing)
True
"""

from labelnext.errors import (
    BatchConflictError,
    EmptyPoolError,
    LabelnextError,
    LedgerError,
    LedgerUnavailableError,
    PathNotAllowedError,
    Problem,
    RunValidationError,
    SelectionError,
    StrategyError,
)
from labelnext.export import export_batch
from labelnext.ledger import Ledger, SubmitResult
from labelnext.paths import allowed_roots as allowed_roots_from_env
from labelnext.readers import load_run
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, run_scores
from labelnext.select import Filter, filter_mask, order, ranked, top_k
from labelnext.uncertainty import STRATEGIES, uncertainty_scores

__version__ = "0.1.0"

__all__ = [
    "STRATEGIES",
    "BatchConflictError",
    "EmptyPoolError",
    "Filter",
    "LabelnextError",
    "Ledger",
    "LedgerError",
    "LedgerUnavailableError",
    "ModelRun",
    "PathNotAllowedError",
    "Problem",
    "RunValidationError",
    "Scoring",
    "SelectionError",
    "StrategyError",
    "SubmitResult",
    "allowed_roots_from_env",
    "export_batch",
    "filter_mask",
    "load_run",
    "order",
    "ranked",
    "run_scores",
    "top_k",
    "uncertainty_scores",
]
