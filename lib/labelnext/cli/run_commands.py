"""Commands over a model run file: ``validate``, ``score``, ``select``."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from labelnext.cli.args import (
    add_batch_method_arguments,
    add_filter_arguments,
    add_out_argument,
    add_run_argument,
    add_scoring_arguments,
    filter_from_args,
    scoring_from_args,
    uses_batch_method,
)
from labelnext.cli.output import open_run, progress, text_histogram, write_table
from labelnext.cli.picking import pick_in_memory, pick_on_spark, refuse_streaming
from labelnext.errors import LabelnextError
from labelnext.runs import ModelRun
from labelnext.scoring import run_scores, supported_strategies
from labelnext.select import Filter, filter_mask, ranked
from labelnext.spark.cli import add_engine_arguments
from labelnext.streaming import stream_top_k

__all__ = ["STREAM_ABOVE_BYTES", "add_run_commands", "cmd_score", "cmd_select", "cmd_validate"]

#: Past this size a Parquet run would not fit comfortably in memory: it is read in batches.
STREAM_ABOVE_BYTES = 2 * 1024**3


def cmd_validate(args: argparse.Namespace) -> int:
    run = open_run(args.run, renormalize=args.renormalize)
    confidence = 1.0 - run_scores(run, "least_confidence")
    if run.boxes is not None:
        kind = f"{run.boxes.n_boxes:,} boxes with scores"
        if run.boxes.probabilities is not None:
            kind += " and class probabilities"
    elif run.task == "multilabel":
        kind = "a probability per class (multi-label)"
    elif run.samples is not None:
        kind = f"{run.samples.shape[1]} ensemble members' class probabilities"
    else:
        kind = "top-1 label + confidence" if run.top1_only else "class probabilities"
    print(f"OK  {run.source}")
    print(f"run        {run.name}" + (f"  (model {run.model} v{run.version})" if run.model else ""))
    print(f"rows       {run.n_rows:,}")
    print(f"task       {run.task}  ({kind})")
    print(f"classes    {len(run.classes)}: {', '.join(run.classes[:20])}")
    print(f"strategies {', '.join(supported_strategies(run))}")
    extras = [
        name
        for name, present in (
            ("images", run.images is not None),
            ("embedding", run.embedding is not None),
            ("ground truth", run.ground_truth is not None),
        )
        if present
    ]
    print(f"has        {', '.join(extras) or 'predictions only'}")
    if len(run.metadata.columns):
        print(f"metadata   {', '.join(map(str, run.metadata.columns))}")
    what = {
        "detection": "1 - least confident box",
        "multilabel": "1 - most uncertain class",
    }.get(run.task, "top-1 probability")
    print(f"confidence ({what}), {run.n_rows:,} rows:")
    print(text_histogram(confidence))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    run = open_run(args.run, renormalize=args.renormalize)
    frame = ranked(run, scoring_from_args(args))
    write_table(frame.drop(columns=["image"]), args.out)
    return 0


def _should_stream(args: argparse.Namespace) -> bool:
    if args.stream:
        return True
    path = Path(args.run)
    if path.is_dir() or path.suffix.lower() not in (".parquet", ".pq"):
        return False
    # past this size a run would not fit comfortably in memory: read it in batches
    return path.stat().st_size > STREAM_ABOVE_BYTES if path.exists() else False


def _select_streaming(args: argparse.Namespace, flt: Filter) -> int:
    started = time.perf_counter()
    result = stream_top_k(
        args.run,
        scoring_from_args(args),
        args.top,
        flt=flt,
        renormalize=args.renormalize,
        progress=lambda n: progress(f"  {n:,} rows scored"),
    )
    write_table(result.top, args.out)
    progress(
        f"selected {len(result.top):,} of {result.n_pool:,} rows in the pool "
        f"({result.n_rows:,} read, streamed in {time.perf_counter() - started:.1f} s)"
    )
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    flt = filter_from_args(args)
    engine = getattr(args, "engine", None)
    if uses_batch_method(args):
        return _select_with_method(args, flt, engine)
    if engine == "spark":  # pyspark and Java are needed only here
        from labelnext.spark.cli import cli_select

        write_table(cli_select(args, flt, scoring_from_args(args)), args.out)
        return 0
    if engine == "stream" or (engine != "memory" and _should_stream(args)):
        return _select_streaming(args, flt)
    run = open_run(args.run, renormalize=args.renormalize)
    _note_unknown_exclusions(run, flt)
    scoring = scoring_from_args(args)  # every option, as score and the streaming path use it
    scores = run_scores(run, scoring)
    frame = ranked(run, scoring, flt=flt, k=args.top, scores=scores)
    write_table(frame, args.out)
    pool = int(filter_mask(run, scores, flt).sum())
    progress(f"selected {len(frame):,} of {pool:,} rows in the pool")
    return 0


def _select_with_method(args: argparse.Namespace, flt: Filter, engine: str | None) -> int:
    """``select --method``: the batch method's picks, in pick order (rank 1 = first pick)."""
    if args.top < 1:
        raise LabelnextError(f"--top: expected a positive number of rows, got {args.top}")
    scoring = scoring_from_args(args)
    if engine == "spark":
        picked = pick_on_spark(
            args, scoring, replace(flt, exclude_ids=frozenset()), flt.exclude_ids
        )
    elif engine == "stream" or (engine != "memory" and _should_stream(args)):
        raise refuse_streaming()
    else:
        run = open_run(args.run, renormalize=args.renormalize)
        _note_unknown_exclusions(run, flt)
        # --exclude ids are rows already queued or labeled: never picked, and counted as covered
        covered = flt.exclude_ids
        pool = replace(flt, exclude_ids=frozenset())
        picked = pick_in_memory(args, run, scoring, pool, covered)
    write_table(picked.rows, args.out)
    progress(f"selected {len(picked.rows):,} rows: {picked.summary}")
    return 0


def _note_unknown_exclusions(run: ModelRun, flt: Filter) -> None:
    """Say how many --exclude ids are not in the run (an id list may span runs: not an error)."""
    if not flt.exclude_ids:
        return
    missing = len(flt.exclude_ids) - len(run.positions(flt.exclude_ids))
    if missing:
        example = sorted(set(flt.exclude_ids) - set(run.ids[run.positions(flt.exclude_ids)]))[0]
        print(
            f"note: {missing:,} of the {len(flt.exclude_ids):,} --exclude ids are not in this run "
            f"(for example {example!r}); they exclude nothing",
            file=sys.stderr,
        )


def add_run_commands(sub: Any) -> None:
    """Add ``validate``, ``score`` and ``select`` to the CLI's sub-parsers."""
    p = sub.add_parser("validate", help="check a model run and summarise it")
    add_run_argument(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("score", help="score every row: data_row_id, label, score, rank")
    add_run_argument(p)
    add_scoring_arguments(p)
    add_out_argument(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("select", help="the top N rows to label next, after filters")
    add_run_argument(p)
    add_scoring_arguments(p)
    p.add_argument("--top", type=int, required=True, metavar="N", help="how many rows")
    add_filter_arguments(p)
    add_batch_method_arguments(p)
    add_out_argument(p)
    p.add_argument(
        "--stream",
        action="store_true",
        help="read a Parquet run in batches, keeping only the top N: memory does not grow with "
        "the row count (automatic above 2 GiB); the same as --engine stream",
    )
    add_engine_arguments(p)
    p.set_defaults(func=cmd_select)
