"""A test hook inside the submit transaction.

When ``LABELNEXT_TEST_HOLD_BEFORE_COMMIT`` holds a file path, a submit creates that file after
inserting its rows and then sleeps before committing, so a test can kill the process inside the
transaction and check that nothing was stored.
"""

from __future__ import annotations

import time
from pathlib import Path

from labelnext.config import settings

__all__ = ["hold_before_commit"]


def hold_before_commit() -> None:
    """Pause inside a submit's transaction when the test hook is set (a no-op otherwise)."""
    marker = settings().hold_before_commit
    if marker:
        Path(marker).touch()
        time.sleep(300)
