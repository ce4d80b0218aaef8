"""The ``labelnext`` command: what the dashboard does, from a shell or a nightly job.

Exit codes: 0 success; 2 bad input or a refused request (one clear message on stderr, no
traceback); 3 a batch conflict under ``--on-conflict fail``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from labelnext.errors import LabelnextError, RunValidationError
from labelnext.runs import ModelRun, load_run
from labelnext.select import Filter, filter_mask, ranked, read_id_list
from labelnext.streaming import stream_top_k
from labelnext.uncertainty import (
    AGGREGATIONS,
    ENSEMBLE_STRATEGIES,
    STRATEGIES,
    Scoring,
    run_scores,
    supported_strategies,
)

EXIT_USAGE = 2
STREAM_ABOVE_BYTES = 2 * 1024**3


def _progress(message: str) -> None:
    """Progress goes to stderr, and only when a person is watching it."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def open_run(path: str, *, renormalize: bool = False) -> ModelRun:
    """Load RUN for a command, with progress on a terminal."""
    started = time.perf_counter()
    _progress(f"loading {path} ...")
    run = load_run(path, renormalize=renormalize)
    _progress(f"loaded {run.n_rows:,} rows in {time.perf_counter() - started:.1f} s")
    return run


def text_histogram(confidence: np.ndarray, *, bins: int = 10, width: int = 40) -> str:
    """A histogram of confidences in [0, 1] drawn with ``#`` characters, one line per bin."""
    # float32 scores put 0.4 at 0.39999998: round so a value lands in the bin it prints as
    counts, edges = np.histogram(np.round(confidence, 6), bins=bins, range=(0.0, 1.0))
    peak = max(int(counts.max()), 1)
    lines = []
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = "#" * round(width * int(count) / peak)
        lines.append(f"  {low:4.2f}-{high:4.2f} | {bar:<{width}} {int(count):>9,}")
    return "\n".join(lines)


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


def _filter_from_args(args: argparse.Namespace) -> Filter:
    exclude: frozenset[str] = frozenset()
    if getattr(args, "exclude", None):
        path = Path(args.exclude)
        try:
            exclude = read_id_list(path.read_text(encoding="utf-8").splitlines())
        except OSError as exc:
            raise LabelnextError(f"Cannot read --exclude file {path}: {exc.strerror}") from None
    return Filter(
        classes=tuple(args.classes or ()),
        min_confidence=args.min_confidence,
        max_confidence=args.max_confidence,
        exclude_ids=exclude,
    )


def write_table(frame: pd.DataFrame, out: str | None) -> None:
    """CSV to stdout without ``out``; otherwise CSV or Parquet by the file's extension."""
    if out is None:
        frame.to_csv(sys.stdout, index=False, float_format="%.6f")
        return
    path = Path(out)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    elif path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False, float_format="%.6f")
    else:
        raise LabelnextError(
            f"--out {out}: unknown extension {path.suffix!r}; use .csv or .parquet"
        )
    _progress(f"wrote {len(frame):,} rows to {path}")


def scoring_from_args(args: argparse.Namespace) -> Scoring:
    """The --strategy and aggregation options as a Scoring."""
    return Scoring(
        strategy=args.strategy,
        aggregation=args.aggregation,
        top_k=args.box_top_k,
        classes=tuple(args.box_classes or ()),
        empty_score=args.empty_score,
    )


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


def cmd_select_streaming(args: argparse.Namespace, flt: Filter) -> int:
    started = time.perf_counter()
    result = stream_top_k(
        args.run,
        scoring_from_args(args),
        args.top,
        flt=flt,
        renormalize=args.renormalize,
        progress=lambda n: _progress(f"  {n:,} rows scored"),
    )
    write_table(result.top, args.out)
    _progress(
        f"selected {len(result.top):,} of {result.n_pool:,} rows in the pool "
        f"({result.n_rows:,} read, streamed in {time.perf_counter() - started:.1f} s)"
    )
    return 0


def cmd_select(args: argparse.Namespace) -> int:
    flt = _filter_from_args(args)
    # --- issue 18 (--engine spark); the lead ports these lines to the cli/ package ---
    engine = getattr(args, "engine", None)
    if engine == "spark":
        from labelnext.spark.cli import cli_select

        write_table(cli_select(args, flt, scoring_from_args(args)), args.out)
        return 0
    if engine == "stream" or (engine != "memory" and _should_stream(args)):
        # --- end issue 18 ---
        return cmd_select_streaming(args, flt)
    run = open_run(args.run, renormalize=args.renormalize)
    scores = run_scores(run, args.strategy)
    frame = ranked(run, args.strategy, flt=flt, k=args.top, scores=scores)
    write_table(frame, args.out)
    pool = int(filter_mask(run, scores, flt).sum())
    _progress(f"selected {len(frame):,} of {pool:,} rows in the pool")
    return 0


def add_strategy_args(parser: argparse.ArgumentParser) -> None:
    """--strategy and the multi-label / detection aggregation options (see Scoring)."""
    parser.add_argument(
        "--strategy",
        default="least_confidence",
        choices=STRATEGIES + ENSEMBLE_STRATEGIES,
        help="uncertainty strategy (default: least_confidence); bald, vote_entropy and "
        "variation_ratio need ensemble members or MC-dropout samples",
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


def _run_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a predictions file or a run folder")
    parser.add_argument(
        "--renormalize",
        action="store_true",
        help="divide probability rows that do not sum to 1 by their sum (off: they are errors)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labelnext", description="Which unlabeled rows should we label next?"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check a model run and summarise it")
    _run_arg(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("score", help="score every row: data_row_id, label, score, rank")
    _run_arg(p)
    add_strategy_args(p)
    p.add_argument("--out", help="write CSV or Parquet (by extension) instead of CSV to stdout")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("select", help="the top N rows to label next, after filters")
    _run_arg(p)
    add_strategy_args(p)
    p.add_argument("--top", type=int, required=True, metavar="N", help="how many rows")
    p.add_argument("--exclude", metavar="IDS_FILE", help="file of data_row_ids to leave out")
    p.add_argument(
        "--class", dest="classes", action="append", metavar="C", help="keep predicted class C"
    )
    p.add_argument("--min-confidence", type=float, default=0.0, metavar="X")
    p.add_argument("--max-confidence", type=float, default=1.0, metavar="Y")
    p.add_argument("--out", help="write CSV or Parquet (by extension) instead of CSV to stdout")
    p.add_argument(
        "--stream",
        action="store_true",
        help="read a Parquet run in batches, keeping only the top N: memory does not grow with "
        "the row count (automatic above 2 GiB)",
    )
    from labelnext.spark.cli import add_engine_arguments  # issue 18: --engine/--master/--conf

    add_engine_arguments(p)
    p.set_defaults(func=cmd_select)

    try:
        from labelnext.ledger_cli import add_ledger_commands
    except ImportError:  # pragma: no cover - the ledger is part of the package
        pass
    else:
        add_ledger_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except RunValidationError as exc:
        print(f"labelnext {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LabelnextError as exc:
        print(f"labelnext {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `labelnext score RUN | head`
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
