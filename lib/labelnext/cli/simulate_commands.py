"""``labelnext simulate``: what active learning would have saved on a run's labeled rows.

Replays the labeling loop of :func:`labelnext.simulate.simulate` and prints the table (labels to
reach the target per strategy, their spread, savings versus random with the bootstrap interval)
and the verdict; ``--out`` writes the learning curves (median and band per strategy and number
of labels) as CSV.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from labelnext.cli.output import open_run, progress
from labelnext.errors import LabelnextError
from labelnext.simulate import (
    DEFAULT_STRATEGIES,
    Progress,
    simulate,
    simulation_data,
    summary_text,
)

__all__ = ["add_simulate_commands", "cmd_simulate"]


def _labels(path: str, run: Any) -> dict[str, object]:
    from labelnext.labels import read_labels

    labels = read_labels(path, classes=run.classes, task="classification")
    return dict(labels.mapping())


def cmd_simulate(args: argparse.Namespace) -> int:
    run = open_run(args.run)
    labels = _labels(args.labels, run) if args.labels else None
    data = simulation_data(run, labels)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    progress(
        f"simulating {len(strategies)} strategies x {args.seeds} seeds on {data.n_rows:,} "
        f"labeled rows ({data.source} features) ..."
    )
    started = time.perf_counter()
    last = [0.0]

    def report(p: Progress) -> None:
        now = time.perf_counter()
        if now - last[0] >= 1.0 or p.done == p.total:
            last[0] = now
            progress(f"  {p.fraction:4.0%}  seed {p.seed + 1}/{args.seeds}, {p.strategy}")

    result = simulate(
        data,
        strategies=strategies,
        seeds=args.seeds,
        batch=args.batch,
        budget=args.budget,
        initial=args.initial,
        target=args.target,
        test_fraction=args.test_fraction,
        root_seed=args.seed,
        n_jobs=args.jobs,
        progress=report,
    )
    print(summary_text(result))
    print()
    print(result.verdict())
    progress(f"done in {time.perf_counter() - started:.1f} s")
    if args.out:
        try:
            result.bands().round(6).to_csv(args.out, index=False, lineterminator="\n")
        except OSError as exc:
            raise LabelnextError(f"cannot write --out {args.out}: {exc.strerror or exc}") from exc
        print(f"learning curves: {args.out}", file=sys.stderr)
    return 0


def add_simulate_commands(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="replay the labeling loop on labeled rows: what each strategy saves vs random",
        description="Split the run's labeled rows once into a pool and a test set, then per seed "
        "label an initial random set and rounds of --batch rows picked by each strategy, "
        "retraining a logistic regression on the embedding each round. Prints labels to reach "
        "--target of full-pool accuracy, savings versus random with a paired bootstrap interval, "
        "and a verdict.",
    )
    p.add_argument("run", metavar="RUN", help="a predictions file or a run folder")
    p.add_argument(
        "--strategies",
        default=",".join(DEFAULT_STRATEGIES),
        help="comma-separated: random, least_confidence, margin, ratio, entropy, top, diverse, "
        "cluster, typical, auto, or method:strategy (default: %(default)s)",
    )
    p.add_argument("--seeds", type=int, default=10, help="paired repetitions (default 10)")
    p.add_argument("--batch", type=int, default=50, help="rows per round (default 50)")
    p.add_argument("--budget", type=int, default=1000, help="labels at the end (default 1000)")
    p.add_argument("--initial", type=int, default=20, help="random labels first (default 20)")
    p.add_argument(
        "--target",
        type=float,
        default=0.95,
        help="share of full-pool accuracy to reach (default 0.95)",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="labeled rows held out for testing (default 0.2)",
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="true labels (CSV, Labelbox, Label Studio, COCO, Parquet); default: the run's "
        "ground_truth column or the file its run.json names",
    )
    p.add_argument("--seed", type=int, default=0, help="root seed of every draw (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    p.add_argument("--out", metavar="FILE", help="write the learning curves (CSV)")
    p.set_defaults(func=cmd_simulate)
