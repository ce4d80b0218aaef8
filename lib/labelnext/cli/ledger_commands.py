"""Ledger commands: ``submit``, ``batches``, ``export``, ``mark``, ``revert``, ``actions``.

Every command takes ``--db URL`` (default ``$LABELNEXT_DB_URL``, else
``$LABELNEXT_HOME/ledger.db``). Every change is recorded in the ledger's actions with origin
``cli`` and, as actor, the OS user or ``--as NAME`` (``submit`` records the same name as the
batch's ``created_by``; ``--created-by`` is kept as another spelling of ``--as``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

import pandas as pd

from labelnext.cli.args import (
    add_batch_method_arguments,
    add_db_argument,
    add_scoring_arguments,
    scoring_from_args,
    uses_batch_method,
)
from labelnext.cli.output import open_run
from labelnext.cli.picking import Picked, pick_in_memory, pick_on_spark
from labelnext.errors import LabelnextError
from labelnext.export import (
    FORMATS,
    ExportBatch,
    export_batch,
    image_url_template,
    image_url_warnings,
    with_predictions,
)
from labelnext.idfiles import read_id_file
from labelnext.ledger import HISTORY_COLUMNS, Ledger
from labelnext.select import Filter, ranked
from labelnext.spark.cli import add_engine_arguments

__all__ = [
    "add_ledger_commands",
    "cmd_actions",
    "cmd_batches",
    "cmd_export",
    "cmd_mark",
    "cmd_revert",
    "cmd_submit",
]

ORIGIN = "cli"
#: The columns ``labelnext actions`` prints.
ACTION_TABLE_COLUMNS = (
    "action_id",
    "at",
    "kind",
    "batch_id",
    "project",
    "actor",
    "origin",
    "n_rows",
    "reverted_by",
    "revertible",
)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still record something honest
        return "unknown"


def cmd_submit(args: argparse.Namespace) -> int:
    """Select rows of RUN and store them as a batch; print the batch id."""
    ledger = Ledger(args.db)
    try:
        spark = getattr(args, "engine", None) == "spark"
        run: Any = None if spark else open_run(args.run)
        excluded = ledger.excluded_ids(args.project)
        scoring = scoring_from_args(args)
        params: dict[str, Any] = {"run": str(args.run), **scoring.params()}
        picked: Picked | None = None
        if uses_batch_method(args) and args.rows is not None:
            raise LabelnextError("--rows names the rows itself; it goes without --method")
        if uses_batch_method(args):
            if args.top < 1:
                raise LabelnextError(f"--top: expected a positive number of rows, got {args.top}")
            if spark:
                from labelnext.spark.cli import run_record

                picked = pick_on_spark(args, scoring, Filter(), excluded)
                run = run_record(args.run)
            else:
                picked = pick_in_memory(args, run, scoring, Filter(), excluded)
            rows = picked.rows
            params.update(top=args.top, n_excluded=len(excluded))
            if spark:
                params["engine"] = "spark"
        elif spark:  # the rows and the run's record come from Spark
            from labelnext.spark.cli import cli_submit_rows

            rows, run = cli_submit_rows(args, excluded, scoring)
            params.update(top=args.top, n_excluded=len(excluded), engine="spark")
        elif args.rows is not None:
            wanted = read_id_file(args.rows, option="--rows")
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
        kind: dict[str, Any] = {}
        if not spark:  # each row's prediction, so the batch exports to the tools by itself
            rows = with_predictions(rows, run)
            kind = {"task": run.task, "classes": run.classes}
        method: dict[str, Any] = {}
        if picked is not None:
            method = {
                "method": picked.method,
                "method_params": picked.method_params,
                "embedding_source": picked.embedding_source,
            }
        result = ledger.submit(
            project=args.project,
            name=args.name,
            rows=rows,
            **kind,
            priority=args.priority,
            note=args.note,
            created_by=actor_of(args),
            strategy=args.strategy,
            strategy_params=params,
            run_id=run_id,
            client_token=args.client_token,
            on_conflict=args.on_conflict,
            actor=actor_of(args),
            origin=ORIGIN,
            **method,
        )
    finally:
        ledger.close()
    if picked is not None:
        print(f"picked by {picked.summary}", file=sys.stderr)
    print(result.batch_id)
    what = "stored" if result.created else "already stored (same --client-token)"
    message = f"batch {result.batch_id}: {result.n_rows} row(s) {what} in project {args.project!r}"
    if result.skipped:
        message += f"; skipped {len(result.skipped)} row(s) already in open batches"
    print(message, file=sys.stderr)
    return 0


def cmd_batches(args: argparse.Namespace) -> int:
    """List batches, newest first."""
    with Ledger(args.db) as ledger:
        table = ledger.batches(args.project)
    if table.empty:
        print("no batches" + (f" in project {args.project!r}" if args.project else ""))
        return 0
    shown = table[list(HISTORY_COLUMNS)].copy()
    shown["created_at"] = shown["created_at"].dt.strftime("%Y-%m-%d %H:%M")
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(shown.to_string(index=False))
    return 0


def actor_of(args: argparse.Namespace) -> str:
    return str(args.actor) if args.actor else _user()


def _undo_hint(ledger: Ledger, batch_id: int, kind: str, actor: str) -> str:
    """How to take back the change just made (its action, found among the batch's newest)."""
    log = ledger.actions(batch_id)
    mine = log[(log["kind"] == kind) & (log["actor"] == actor) & log["revertible"]]
    if mine.empty:
        return ""
    action_id = int(mine["action_id"].iloc[0])
    return f" (action {action_id}; undo: labelnext revert {action_id})"


def cmd_export(args: argparse.Namespace) -> int:
    """Write a batch in a labeling tool's format and mark it exported."""
    image_url = image_url_template(args.image_url) if args.image_url else "{image}"
    with Ledger(args.db) as ledger:
        batch = ExportBatch.from_ledger(ledger, args.batch_id)
        for warning in image_url_warnings(
            batch, args.format, image_url, files_root=args.files_root
        ):
            print(f"labelnext export: warning: {warning}", file=sys.stderr)
        data = export_batch(
            ledger,
            args.batch_id,
            args.format,
            out=args.out,
            mark_exported=False,
            image_url=image_url,
            files_root=args.files_root,
        )
        ledger.mark_exported(args.batch_id, actor=actor_of(args), origin=ORIGIN)
    print(f"wrote {len(data):,} bytes to {args.out}", file=sys.stderr)
    return 0


def cmd_mark(args: argparse.Namespace) -> int:
    """Mark a batch (or some rows) labeled, cancel it, or reopen a cancelled batch."""
    actor = actor_of(args)
    batch_id = args.batch_id
    with Ledger(args.db) as ledger:
        if args.rows is not None and not args.labeled:
            raise LabelnextError(
                "--rows goes with --labeled; a batch is cancelled or reopened as a whole"
            )
        if args.cancelled:
            freed = ledger.cancel(batch_id, actor=actor, origin=ORIGIN)
            hint = _undo_hint(ledger, batch_id, "cancel", actor) if freed else ""
            print(f"batch {batch_id}: cancelled, {freed} row(s) freed{hint}", file=sys.stderr)
            return 0
        if args.reopen:
            result = ledger.reopen(batch_id, actor=actor, origin=ORIGIN)
            print(
                f"batch {batch_id}: reopened, {result.n_rows} row(s) open again; status "
                f"{result.status} (action {result.action_id})",
                file=sys.stderr,
            )
            return 0
        rows = None if args.rows is None else read_id_file(args.rows, option="--rows")
        changed = ledger.mark_labeled(batch_id, rows, actor=actor, origin=ORIGIN)
        status = ledger.batch(batch_id).status
        hint = _undo_hint(ledger, batch_id, "mark_labeled", actor) if changed else ""
    print(
        f"batch {batch_id}: {changed} row(s) marked labeled; status {status}{hint}",
        file=sys.stderr,
    )
    return 0


def cmd_revert(args: argparse.Namespace) -> int:
    """Undo a cancel or a mark labeled, by its action id (see ``labelnext actions``)."""
    with Ledger(args.db) as ledger:
        result = ledger.revert(args.action_id, actor=actor_of(args), origin=ORIGIN)
    print(
        f"action {args.action_id} reverted by action {result.action_id} ({result.kind}): batch "
        f"{result.batch_id}, {result.n_rows} row(s) open again; status {result.status}",
        file=sys.stderr,
    )
    return 0


def cmd_actions(args: argparse.Namespace) -> int:
    """List recorded changes, newest first."""
    with Ledger(args.db) as ledger:
        table = ledger.actions(batch_id=args.batch, project=args.project)
    if table.empty:
        print("no actions")
        return 0
    shown = table[list(ACTION_TABLE_COLUMNS)].copy()
    shown["at"] = shown["at"].dt.strftime("%Y-%m-%d %H:%M:%S")
    shown["actor"] = shown["actor"].fillna("-")
    shown["reverted_by"] = (
        shown["reverted_by"].astype(object).where(shown["reverted_by"].notna(), "-")
    )
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(shown.to_string(index=False))
    return 0


def _add_actor_argument(parser: argparse.ArgumentParser, *aliases: str) -> None:
    parser.add_argument(
        "--as",
        *aliases,
        dest="actor",
        metavar="NAME",
        default=None,
        help="who is recorded for this change (default: the OS user)",
    )


def add_ledger_commands(subparsers: Any) -> None:
    """Add ``submit``, ``batches``, ``export``, ``mark``, ``revert`` and ``actions`` to the CLI's
    sub-parsers.

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
    add_scoring_arguments(p)  # the same options as score / select
    add_batch_method_arguments(p)
    p.add_argument(
        "--on-conflict",
        choices=("fail", "skip"),
        default="fail",
        help="rows already in an open batch: refuse the batch (exit 3) or leave them out",
    )
    p.add_argument("--note", default="", help="a note for the annotation team")
    _add_actor_argument(p, "--created-by")
    p.add_argument(
        "--client-token", default=None, help="idempotency key: a retry returns the same batch"
    )
    add_db_argument(p)
    add_engine_arguments(p)
    p.set_defaults(func=cmd_submit)

    p = subparsers.add_parser("batches", help="list batches, newest first")
    p.add_argument("--project", default=None, help="only this project")
    add_db_argument(p)
    p.set_defaults(func=cmd_batches)

    p = subparsers.add_parser("export", help="write a batch for a labeling tool")
    p.add_argument("batch_id", metavar="BATCH_ID", type=int)
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument(
        "--image-url",
        metavar="SPEC",
        default=None,
        help="where the tool finds the images: label-studio (its local-files serving), a "
        "bucket or web prefix (s3://b/p, gs://b/p, https://host/p), or a template with "
        "{image}, {data_row_id}, {relpath}; default: the references as written in the run",
    )
    p.add_argument(
        "--files-root",
        metavar="DIR",
        default=None,
        help="the folder {relpath} is relative to (e.g. Label Studio's LOCAL_FILES_DOCUMENT_ROOT)",
    )
    _add_actor_argument(p)
    add_db_argument(p)
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser(
        "mark", help="mark a batch (or some rows) labeled, cancel it, or reopen it"
    )
    p.add_argument("batch_id", metavar="BATCH_ID", type=int)
    status = p.add_mutually_exclusive_group(required=True)
    status.add_argument("--labeled", action="store_true", help="the rows were labeled")
    status.add_argument("--cancelled", action="store_true", help="cancel: free the open rows")
    status.add_argument(
        "--reopen",
        action="store_true",
        help="take a cancel back: the freed rows open again, if no other batch took them",
    )
    p.add_argument("--rows", metavar="FILE", help="with --labeled: only these data_row_ids")
    _add_actor_argument(p)
    add_db_argument(p)
    p.set_defaults(func=cmd_mark)

    p = subparsers.add_parser(
        "revert", help="undo a cancel or a mark labeled, by its action id (see `actions`)"
    )
    p.add_argument("action_id", metavar="ACTION_ID", type=int)
    _add_actor_argument(p)
    add_db_argument(p)
    p.set_defaults(func=cmd_revert)

    p = subparsers.add_parser("actions", help="list recorded changes, newest first")
    p.add_argument("--batch", type=int, default=None, metavar="ID", help="only this batch")
    p.add_argument("--project", default=None, help="only this project")
    add_db_argument(p)
    p.set_defaults(func=cmd_actions)
