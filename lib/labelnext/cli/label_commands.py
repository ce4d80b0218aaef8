"""Label commands: ``labels import`` (a labeling tool's results into the ledger) and ``labels
export`` (the training set: every labeled row with its latest label and image reference).

Both take ``--db URL`` like the ledger commands; an import is recorded with origin ``cli`` and,
as actor, the OS user or ``--as NAME``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labelnext.cli.args import add_db_argument
from labelnext.cli.ledger_commands import ORIGIN, actor_of
from labelnext.errors import LabelnextError
from labelnext.export.training import TRAINING_FORMATS, training_set
from labelnext.labels import LABEL_FORMATS
from labelnext.ledger import Ledger

__all__ = ["add_label_commands", "cmd_labels_export", "cmd_labels_import"]


def cmd_labels_import(args: argparse.Namespace) -> int:
    """Read FILE and store its labels in the project's ledger, in one transaction."""
    path = Path(args.file)
    if not path.is_file():
        raise LabelnextError(f"FILE {args.file}: no such file")
    options = {"question": args.question} if args.question else {}
    with Ledger(args.db) as ledger:
        result = ledger.import_labels(
            path,
            project=args.project,
            filename=path.name,
            fmt=args.format,
            allow_unbatched=args.allow_unbatched,
            dry_run=args.dry_run,
            actor=actor_of(args),
            origin=ORIGIN,
            **options,
        )
    for line in result.summary():
        print(line)
    return 0


def cmd_labels_export(args: argparse.Namespace) -> int:
    """Write the project's training set to --out."""
    out = Path(args.out)
    if out.is_dir():
        raise LabelnextError(f"--out {args.out}: is a folder; give a file name")
    with Ledger(args.db) as ledger:
        try:
            data, n_rows = training_set(ledger, args.project, args.format, out=out)
        except OSError as exc:
            raise LabelnextError(
                f"--out {args.out}: could not write the file ({exc.strerror or exc}); nothing "
                "was written"
            ) from None
    print(f"wrote {n_rows:,} labeled row(s) ({len(data):,} bytes) to {args.out}", file=sys.stderr)
    return 0


def add_label_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``labels import`` and ``labels export``."""
    labels = sub.add_parser(
        "labels", help="import labeling results into the ledger; export the training set"
    )
    inner = labels.add_subparsers(dest="labels_command", required=True, metavar="ACTION")

    imp = inner.add_parser(
        "import",
        help="store a labels file's labels (Labelbox NDJSON, Label Studio JSON, COCO, CSV, "
        "Parquet) in a project: rows marked labeled, earlier labels kept as history",
    )
    imp.add_argument("file", metavar="FILE", help="the labels file the labeling tool exported")
    imp.add_argument("--project", required=True, help="the project the batches went to")
    imp.add_argument(
        "--format", choices=LABEL_FORMATS, default=None, help="default: from the name and content"
    )
    imp.add_argument(
        "--allow-unbatched",
        action="store_true",
        help="also import labels of rows that are in no batch of the project (refused otherwise)",
    )
    imp.add_argument(
        "--dry-run", action="store_true", help="report what would change and store nothing"
    )
    imp.add_argument("--question", help="Labelbox / Label Studio: the question to read")
    imp.add_argument("--as", dest="actor", metavar="NAME", help="who imports (default: OS user)")
    add_db_argument(imp)
    imp.set_defaults(func=cmd_labels_import)

    exp = inner.add_parser(
        "export", help="write every labeled row with its latest label and image reference"
    )
    exp.add_argument("--project", required=True)
    exp.add_argument("--format", choices=TRAINING_FORMATS, required=True)
    exp.add_argument("--out", required=True, help="the file to write (yolo: a .zip)")
    add_db_argument(exp)
    exp.set_defaults(func=cmd_labels_export)
