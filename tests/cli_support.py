"""What the CLI tests share: running ``labelnext`` in-process (the ``db`` fixture, a SQLite
ledger URL in ``tmp_path``, is in conftest.py)."""

from __future__ import annotations

import pytest

from labelnext.cli import main

__all__ = ["run_cli"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``labelnext ARGV`` through :func:`labelnext.cli.main`: (exit code, stdout, stderr)."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
