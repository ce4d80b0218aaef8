"""What the commands print: tables to stdout or a file, progress to stderr, text histograms."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelnext.errors import LabelnextError
from labelnext.readers import load_run
from labelnext.runs import ModelRun

__all__ = ["open_run", "progress", "text_histogram", "write_table"]


def progress(message: str) -> None:
    """Progress goes to stderr, and only when a person is watching it."""
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


def open_run(path: str, *, renormalize: bool = False) -> ModelRun:
    """Load RUN for a command, with progress on a terminal."""
    started = time.perf_counter()
    progress(f"loading {path} ...")
    run = load_run(path, renormalize=renormalize)
    progress(f"loaded {run.n_rows:,} rows in {time.perf_counter() - started:.1f} s")
    return run


def text_histogram(confidence: NDArray[np.floating], *, bins: int = 10, width: int = 40) -> str:
    """A histogram of confidences in [0, 1] drawn with ``#`` characters, one line per bin."""
    # float32 scores put 0.4 at 0.39999998: round so a value lands in the bin it prints as
    counts, edges = np.histogram(np.round(confidence, 6), bins=bins, range=(0.0, 1.0))
    peak = max(int(counts.max()), 1)
    lines = []
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = "#" * round(width * int(count) / peak)
        lines.append(f"  {low:4.2f}-{high:4.2f} | {bar:<{width}} {int(count):>9,}")
    return "\n".join(lines)


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
    progress(f"wrote {len(frame):,} rows to {path}")
