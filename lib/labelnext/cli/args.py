"""Argument definitions every command shares, and turning parsed arguments into library values.

``score``, ``select`` and ``submit`` take the same scoring options and read them with the same
:func:`scoring_from_args`, so a nightly job gets the rows the dashboard shows whichever command it
runs (and on whichever path: in memory or streamed).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from labelnext.batch import METHODS, METRICS
from labelnext.idfiles import read_id_file
from labelnext.proposal import parse_quotas
from labelnext.scoring import Scoring
from labelnext.select import Filter
from labelnext.uncertainty import AGGREGATIONS, ENSEMBLE_STRATEGIES, STRATEGIES

__all__ = [
    "add_batch_method_arguments",
    "add_db_argument",
    "add_filter_arguments",
    "add_out_argument",
    "add_run_argument",
    "add_scoring_arguments",
    "filter_from_args",
    "method_options_from_args",
    "quotas_from_args",
    "scoring_from_args",
    "uses_batch_method",
]


def add_run_argument(parser: argparse.ArgumentParser) -> None:
    """RUN and ``--renormalize``."""
    parser.add_argument("run", metavar="RUN", help="a predictions file or a run folder")
    parser.add_argument(
        "--renormalize",
        action="store_true",
        help="divide probability rows that do not sum to 1 by their sum (off: they are errors)",
    )


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """--strategy and the multi-label / detection aggregation options (see Scoring)."""
    parser.add_argument(
        "--strategy",
        default="least_confidence",
        choices=STRATEGIES + ENSEMBLE_STRATEGIES,
        help="uncertainty strategy (default: least_confidence); bald, vote_entropy and "
        "variation_ratio need ensemble members or MC-dropout samples",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=None,
        metavar="T",
        help="score with calibrated probabilities softmax(log p / T), T as fitted on labeled "
        "rows (labelnext.calibration.fit_temperature); default: the model's probabilities",
    )
    group = parser.add_argument_group("multi-label and detection")
    group.add_argument(
        "--aggregation",
        default="max",
        choices=AGGREGATIONS["detection"],
        help="combine a row's classes (multi-label: max, mean) or boxes (detection: max, mean, "
        "sum, topk); default max",
    )
    group.add_argument(
        "--box-top-k", type=int, default=3, metavar="K", help="boxes averaged by --aggregation topk"
    )
    group.add_argument(
        "--box-class",
        dest="box_classes",
        action="append",
        metavar="C",
        help="detection: score only boxes of class C (repeatable)",
    )
    group.add_argument(
        "--empty-score",
        type=float,
        default=0.0,
        metavar="S",
        help="detection: score of an image with no boxes, 0 (certain, default) to 1 (most "
        "uncertain)",
    )


def scoring_from_args(args: argparse.Namespace) -> Scoring:
    """The --strategy and aggregation options as a Scoring."""
    return Scoring(
        strategy=args.strategy,
        aggregation=args.aggregation,
        top_k=args.box_top_k,
        classes=tuple(args.box_classes or ()),
        empty_score=args.empty_score,
        temperature=args.temperature,
    )


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The pool filter: --exclude, --class, --min-confidence, --max-confidence."""
    parser.add_argument("--exclude", metavar="IDS_FILE", help="file of data_row_ids to leave out")
    parser.add_argument(
        "--class", dest="classes", action="append", metavar="C", help="keep predicted class C"
    )
    parser.add_argument("--min-confidence", type=float, default=0.0, metavar="X")
    parser.add_argument("--max-confidence", type=float, default=1.0, metavar="Y")


def filter_from_args(args: argparse.Namespace) -> Filter:
    """The pool filter the arguments describe."""
    exclude: frozenset[str] = frozenset()
    if args.exclude:
        exclude = frozenset(read_id_file(args.exclude, option="--exclude", allow_empty=True))
    return Filter(
        classes=tuple(args.classes or ()),
        min_confidence=args.min_confidence,
        max_confidence=args.max_confidence,
        exclude_ids=exclude,
    )


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    """--out: CSV or Parquet by extension, else CSV on stdout."""
    parser.add_argument(
        "--out", help="write CSV or Parquet (by extension) instead of CSV to stdout"
    )


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """--db: the ledger URL."""
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="ledger URL (default: $LABELNEXT_DB_URL, else $LABELNEXT_HOME/ledger.db)",
    )


def add_batch_method_arguments(parser: argparse.ArgumentParser) -> None:
    """--method and the batch methods' options (see labelnext.batch)."""
    group = parser.add_argument_group("batch method (labelnext.batch)")
    group.add_argument(
        "--method",
        default="top",
        choices=METHODS,
        help="top: the N most uncertain (default); diverse: farthest-first among the most "
        "uncertain; cluster: one per cluster of the most uncertain; typical: cold start, the most "
        "typical row of each uncovered cluster; auto: typical while few rows are labeled, then "
        "cluster (the measured default; docs/batch.md)",
    )
    group.add_argument(
        "--candidates",
        type=int,
        metavar="M",
        help="diverse / cluster: choose among the M most uncertain rows (default 3 x N)",
    )
    group.add_argument(
        "--min-distance",
        type=float,
        metavar="D",
        help="near-duplicate suppression: no two picks (and no pick and a queued or labeled row) "
        "closer than D in --metric",
    )
    group.add_argument("--metric", default="euclidean", choices=METRICS)
    group.add_argument(
        "--quota",
        action="append",
        metavar="Q",
        help="class quotas over predicted classes: 'balanced', 'proportional', or CLASS=N or "
        "CLASS=MIN:MAX (repeatable)",
    )
    group.add_argument("--seed", type=int, default=0, help="seeds every random step (default 0)")


def quotas_from_args(values: Sequence[str] | None) -> str | dict[str, int | tuple[int, int]] | None:
    """--quota values as :func:`labelnext.batch.pick_batch`'s ``quotas`` (see ``parse_quotas``).

    >>> quotas_from_args(["cat=5", "dog=2:8"])
    {'cat': 5, 'dog': (2, 8)}
    """
    return parse_quotas(values or (), field="--quota")


def method_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The batch method's options as keyword arguments of ``labelnext.proposal.propose_batch``."""
    return {
        "method": args.method,
        "seed": args.seed,
        "candidates": args.candidates,
        "min_distance": args.min_distance,
        "metric": args.metric,
        "quotas": quotas_from_args(args.quota),
    }


def uses_batch_method(args: argparse.Namespace) -> bool:
    """Whether the arguments ask for more than the plain top N (a method or its options)."""
    return args.method != "top" or args.min_distance is not None or bool(args.quota)
