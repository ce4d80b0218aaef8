"""Ledger commands of the ``labelnext`` CLI: ``submit``, ``batches``, ``export``, ``mark``.

:func:`add_ledger_commands` adds them to the CLI's sub-parsers; each sets ``func`` to a function
``(args) -> exit code``. Exit codes: 0 success; 2 bad input or a refused request (the message on
stderr); 3 a batch conflict (the conflicting rows and their batches on stderr). Every command
takes ``--db URL`` (default ``$LABELNEXT_DB_URL``, else ``$LABELNEXT_HOME/ledger.db``).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from labelnext.errors import BatchConflictError, LabelnextError
from labelnext.export import FORMATS, export_batch
from labelnext.ledger import Ledger

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_USAGE",
    "add_ledger_commands",
    "cmd_batches",
    "cmd_export",
    "cmd_mark",
    "cmd_submit",
]

EXIT_USAGE = 2
EXIT_CONFLICT = 3

Command = Callable[[argparse.Namespace], int]


def _reports_errors(name: str) -> Callable[[Command], Command]:
    """Turn our errors into a message on stderr and an exit code (3 for a conflict)."""

    def decorate(command: Command) -> Command:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            try:
                return command(args)
            except BatchConflictError as exc:
                print(f"labelnext {name}: conflict: {exc}", file=sys.stderr)
                for row, batch in sorted(exc.conflicts.items()):
                    print(f"  {row}\tbatch {batch}", file=sys.stderr)
                return EXIT_CONFLICT
            except LabelnextError as exc:
                print(f"labelnext {name}: error: {exc}", file=sys.stderr)
                return EXIT_USAGE

        return run

    return decorate


def _read_ids(path: str, option: str) -> list[str]:
    """data_row_ids from a file: one per line (``#`` comments, blank lines and a
    ``data_row_id`` CSV header ignored; of a CSV line the first field is taken)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabelnextError(f"{option} {path}: cannot read it ({exc.strerror})") from None
    ids: list[str] = []
    seen: set[str] = set()
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        first = text.split(",")[0].strip().strip('"')
        if first == "data_row_id" or first in seen:
            continue
        seen.add(first)
        ids.append(first)
    if not ids:
        raise LabelnextError(f"{option} {path}: no data_row_ids in the file")
    return ids


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still record something honest
        return "unknown"


@_reports_errors("submit")
def cmd_submit(args: argparse.Namespace) -> int:
    """Select rows of RUN and store them as a batch; print the batch id."""
    from labelnext.runs import load_run
    from labelnext.select import Filter, ranked

    ledger = Ledger(args.db)
    try:
        spark = getattr(args, "engine", None) == "spark"  # issue 18 (--engine spark)
        run: Any = None if spark else load_run(args.run)
        excluded = ledger.excluded_ids(args.project)
        from labelnext.cli import scoring_from_args

        scoring = scoring_from_args(args)
        params: dict[str, Any] = {"run": str(args.run), **scoring.params()}
        if spark:  # issue 18: the rows and the run's record come from Spark
            from labelnext.spark.cli import cli_submit_rows

            rows, run = cli_submit_rows(args, excluded, scoring)
            params.update(top=args.top, n_excluded=len(excluded), engine="spark")
        elif args.rows is not None:
            wanted = _read_ids(args.rows, "--rows")
            everything = ranked(run, scoring)
            known = set(everything["data_row_id"])
            unknown = [i for i in wanted if i not in known]
            if unknown:
                shown = ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else "")
                raise LabelnextError(
                    f"--rows {args.rows}: {len(unknown)} data_row_id(s) are not in run "
                    f"{run.name!r}: {shown}"
                )
            rows = everything[everything["data_row_id"].isin(set(wanted))].copy()
            rows["rank"] = range(1, len(rows) + 1)
            params.update(rows_file=str(args.rows), n_requested=len(wanted))
        else:
            if args.top < 1:
                raise LabelnextError(f"--top: expected a positive number of rows, got {args.top}")
            rows = ranked(run, scoring, flt=Filter(exclude_ids=excluded), k=args.top)
            params.update(top=args.top, n_excluded=len(excluded))
        run_id = ledger.register_run(run)
        result = ledger.submit(
            project=args.project,
            name=args.name,
            rows=rows,
            priority=args.priority,
            note=args.note,
            created_by=args.created_by or _user(),
            strategy=args.strategy,
            strategy_params=params,
            run_id=run_id,
            client_token=args.client_token,
            on_conflict=args.on_conflict,
        )
    finally:
        ledger.close()
    print(result.batch_id)
    what = "stored" if result.created else "already stored (same --client-token)"
    message = f"batch {result.batch_id}: {result.n_rows} row(s) {what} in project {args.project!r}"
    if result.skipped:
        message += f"; skipped {len(result.skipped)} row(s) already in open batches"
    print(message, file=sys.stderr)
    return 0


@_reports_errors("batches")
def cmd_batches(args: argparse.Namespace) -> int:
    """List batches, newest first."""
    with Ledger(args.db) as ledger:
        table = ledger.batches(args.project)
    if table.empty:
        print("no batches" + (f" in project {args.project!r}" if args.project else ""))
        return 0
    shown = table[
        [
            "batch_id",
            "name",
            "project",
            "priority",
            "status",
            "n_rows",
            "n_open",
            "n_labeled",
            "created_by",
            "created_at",
            "strategy",
        ]
    ].copy()
    shown["created_at"] = shown["created_at"].dt.strftime("%Y-%m-%d %H:%M")
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(shown.to_string(index=False))
    return 0


@_reports_errors("export")
def cmd_export(args: argparse.Namespace) -> int:
    """Write a batch in a labeling tool's format and mark it exported."""
    with Ledger(args.db) as ledger:
        data = export_batch(ledger, args.batch_id, args.format, out=args.out)
    print(f"wrote {len(data):,} bytes to {args.out}", file=sys.stderr)
    return 0


@_reports_errors("mark")
def cmd_mark(args: argparse.Namespace) -> int:
    """Mark a batch (or some rows) labeled, or cancel it."""
    with Ledger(args.db) as ledger:
        if args.cancelled:
            if args.rows is not None:
                raise LabelnextError("--rows goes with --labeled; a batch is cancelled as a whole")
            freed = ledger.cancel(args.batch_id)
            print(f"batch {args.batch_id}: cancelled, {freed} row(s) freed", file=sys.stderr)
            return 0
        rows = None if args.rows is None else _read_ids(args.rows, "--rows")
        changed = ledger.mark_labeled(args.batch_id, rows)
        status = ledger.batch(args.batch_id).status
    print(
        f"batch {args.batch_id}: {changed} row(s) marked labeled; status {status}", file=sys.stderr
    )
    return 0


def _db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="ledger URL (default: $LABELNEXT_DB_URL, else $LABELNEXT_HOME/ledger.db)",
    )


def add_ledger_commands(subparsers: Any) -> None:
    """Add ``submit``, ``batches``, ``export`` and ``mark`` to the CLI's sub-parsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.
    """

    p = subparsers.add_parser(
        "submit", help="store the rows to label next as a batch; prints the batch id"
    )
    p.add_argument("run", metavar="RUN", help="a predictions file or a run folder")
    p.add_argument("--project", required=True, help="destination project")
    p.add_argument("--name", required=True, help="batch name")
    p.add_argument(
        "--priority", type=int, default=3, choices=range(1, 6), help="1 (most urgent) to 5"
    )
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--top", type=int, metavar="K", help="the K most uncertain rows not yet queued or labeled"
    )
    how.add_argument("--rows", metavar="FILE", help="file of data_row_ids, one per line")
    from labelnext.cli import add_strategy_args  # the same options as score / select

    add_strategy_args(p)
    p.add_argument(
        "--on-conflict",
        choices=("fail", "skip"),
        default="fail",
        help="rows already in an open batch: refuse the batch (exit 3) or leave them out",
    )
    p.add_argument("--note", default="", help="a note for the annotation team")
    p.add_argument("--created-by", default=None, help="who submits (default: the OS user)")
    p.add_argument(
        "--client-token", default=None, help="idempotency key: a retry returns the same batch"
    )
    _db_arg(p)
    from labelnext.spark.cli import add_engine_arguments  # issue 18: --engine/--master/--conf

    add_engine_arguments(p)
    p.set_defaults(func=cmd_submit)

    p = subparsers.add_parser("batches", help="list batches, newest first")
    p.add_argument("--project", default=None, help="only this project")
    _db_arg(p)
    p.set_defaults(func=cmd_batches)

    p = subparsers.add_parser("export", help="write a batch for a labeling tool")
    p.add_argument("batch_id", metavar="BATCH_ID", type=int)
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, metavar="FILE")
    _db_arg(p)
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("mark", help="mark a batch (or some rows) labeled, or cancel it")
    p.add_argument("batch_id", metavar="BATCH_ID", type=int)
    status = p.add_mutually_exclusive_group(required=True)
    status.add_argument("--labeled", action="store_true", help="the rows were labeled")
    status.add_argument("--cancelled", action="store_true", help="cancel: free the open rows")
    p.add_argument("--rows", metavar="FILE", help="with --labeled: only these data_row_ids")
    _db_arg(p)
    p.set_defaults(func=cmd_mark)
