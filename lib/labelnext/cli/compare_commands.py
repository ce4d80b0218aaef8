"""``labelnext compare RUN_A RUN_B``: what the last labeling iteration changed.

Prints, over the rows both runs predict: each run's confidence histogram and that of the
per-row change, per class the mean confidence and the share of predictions before and after,
how many rows changed predicted class and the old-vs-new confusion table, the rows that became
most confident and most uncertain, accuracy of both runs where labels are known (``--labels
FILE``, the ledger's imported labels with ``--project``, else the runs' ``ground_truth``), and
with ``--project`` how the rows of the project's labeled batches moved. What could not be
compared is said at the end (``notes``). ``--out`` writes the per-row table (CSV or Parquet).
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from labelnext.cli.args import add_db_argument, add_scoring_arguments, scoring_from_args
from labelnext.cli.output import open_run, text_histogram, write_table
from labelnext.compare import Comparison, compare_runs, comparison_rows
from labelnext.labels import read_labels
from labelnext.ledger import Ledger

__all__ = ["add_compare_commands", "cmd_compare", "comparison_text"]


def comparison_text(comparison: Comparison, *, top: int = 10) -> str:
    """The comparison as the plain text ``labelnext compare`` prints."""
    c = comparison
    out: list[str] = [
        f"compare {c.run_a} (A) -> {c.run_b} (B), confidence under {c.scoring.strategy}"
    ]
    out.append(
        f"shared rows {len(c.shared_ids):,}; only in A {c.only_in_a:,}; only in B {c.only_in_b:,}"
    )
    if len(c.shared_ids):
        out.append(
            f"mean confidence {c.confidence_a.mean():.3f} -> {c.confidence_b.mean():.3f} "
            f"(change {c.change.mean():+.3f})"
        )
        out += ["", "confidence A", text_histogram(c.confidence_a)]
        out += ["", "confidence B", text_histogram(c.confidence_b)]
        out += ["", "change B - A", text_histogram(c.change, bins=20, value_range=(-1.0, 1.0))]
    out += ["", "per class", _table(c.per_class)]
    out += [
        "",
        f"changed predicted class: {c.changed_prediction:,} of {len(c.shared_ids):,} shared rows",
        "confusion (rows: A's prediction, columns: B's)",
        _table(c.confusion),
    ]
    for title, frame in (
        ("became confident", c.became_confident),
        ("became uncertain", c.became_uncertain),
    ):
        out += ["", f"{title} (top {top} of {len(frame):,})", _table(frame.head(top))]
    out += ["", "accuracy on labeled rows", _table(c.accuracy)]
    if not c.batches.empty:
        out += ["", "labeled batches", _table(c.batches)]
    if c.notes:
        out += ["", "notes"] + [f"  - {note}" for note in c.notes]
    return "\n".join(out)


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "  (none)"
    with pd.option_context(
        "display.max_rows", None, "display.max_columns", None, "display.width", 200
    ):
        return frame.to_string(float_format=lambda v: f"{v:.3f}")


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare RUN_A with RUN_B and print the figures."""
    run_a, run_b = open_run(args.run_a), open_run(args.run_b)
    labels: dict[str, Any] | None = None
    batches: dict[str, list[str]] | None = None
    if args.project:
        with Ledger(args.db) as ledger:
            stored = ledger.labels(args.project)
            batches = ledger.labeled_batches(args.project)
        if not stored.empty:
            labels = dict(zip(stored["data_row_id"], stored["label"], strict=True))
    if args.labels:
        from_file = read_labels(args.labels, classes=run_a.classes).mapping()
        labels = {**(labels or {}), **from_file}
    comparison = compare_runs(
        run_a, run_b, scoring=scoring_from_args(args), labels=labels, batches=batches
    )
    print(comparison_text(comparison, top=args.top))
    if args.out:
        write_table(comparison_rows(comparison), args.out)
    return 0


def add_compare_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``compare``."""
    compare = sub.add_parser("compare", help="compare run N with run N+1 over their shared rows")
    compare.add_argument("run_a", metavar="RUN_A", help="the earlier run (iteration N)")
    compare.add_argument("run_b", metavar="RUN_B", help="the later run (iteration N + 1)")
    add_scoring_arguments(compare)
    compare.add_argument(
        "--labels", metavar="FILE", help="a labels file for the accuracy figures (any format)"
    )
    compare.add_argument(
        "--project",
        help="use this project's imported labels and show how its labeled batches moved",
    )
    compare.add_argument("--top", type=int, default=10, help="moved rows listed (default 10)")
    compare.add_argument(
        "--out", help="write the per-row table (id, confidences, change, predictions)"
    )
    add_db_argument(compare)
    compare.set_defaults(func=cmd_compare)
