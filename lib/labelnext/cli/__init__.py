"""The ``labelnext`` command: what the dashboard does, from a shell or a nightly job.

Exit codes: 0 success; 2 bad input, a refused request or output that cannot be written (one clear
message on stderr, no traceback); 3 a batch conflict under ``--on-conflict fail`` (each row and
the batch holding it on stderr); 141 standard output closed by its reader before everything was
written (``| head``: the status a shell reports for SIGPIPE, so ``set -o pipefail`` sees it).
:func:`main` maps every error to its exit code, for every command.

The package: :mod:`.args` the arguments commands share; :mod:`.output` what they print;
:mod:`.run_commands` validate, score, select; :mod:`.ledger_commands` submit, batches, export,
mark; :mod:`.label_commands` labels import / export; :mod:`.compare_commands` compare;
:mod:`.simulate_commands` simulate.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from labelnext.cli.compare_commands import add_compare_commands
from labelnext.cli.label_commands import add_label_commands
from labelnext.cli.ledger_commands import add_ledger_commands
from labelnext.cli.run_commands import add_run_commands
from labelnext.cli.simulate_commands import add_simulate_commands
from labelnext.errors import BatchConflictError, LabelnextError

__all__ = ["EXIT_CONFLICT", "EXIT_OK", "EXIT_PIPE", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CONFLICT = 3
EXIT_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="labelnext", description="Which unlabeled rows should we label next?"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_run_commands(sub)
    add_ledger_commands(sub)
    add_label_commands(sub)
    add_compare_commands(sub)
    add_simulate_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    name = f"labelnext {args.command}"
    try:
        code: int = args.func(args)
    except BatchConflictError as exc:
        print(f"{name}: conflict: {exc}", file=sys.stderr)
        for row, batch in sorted(exc.conflicts.items()):
            print(f"  {row}\tbatch {batch}", file=sys.stderr)
        return EXIT_CONFLICT
    except LabelnextError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `labelnext score RUN | head`: the reader has what it wanted
        _quiet_stdout()
        return EXIT_PIPE
    return code


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so Python's own flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        pass
