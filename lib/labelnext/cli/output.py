"""What the commands print: tables to stdout or a file, progress to stderr, text histograms."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from labelnext.csvtext import csv_safe_frame
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


def text_histogram(
    confidence: NDArray[np.floating],
    *,
    bins: int = 10,
    width: int = 40,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> str:
    """A histogram of confidences in [0, 1] (or ``value_range``) drawn with ``#`` characters,
    one line per bin."""
    # float32 scores put 0.4 at 0.39999998: round so a value lands in the bin it prints as
    counts, edges = np.histogram(np.round(confidence, 6), bins=bins, range=value_range)
    peak = max(int(counts.max()), 1)
    lines = []
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = "#" * round(width * int(count) / peak)
        span = f"{low:+5.2f}..{high:+5.2f}" if value_range[0] < 0 else f"{low:4.2f}-{high:4.2f}"
        lines.append(f"  {span} | {bar:<{width}} {int(count):>9,}")
    return "\n".join(lines)


def write_table(frame: pd.DataFrame, out: str | None) -> None:
    """CSV to stdout without ``out``; otherwise CSV or Parquet by the file's extension.

    CSV text cells are guarded against spreadsheet formulas (:mod:`labelnext.csvtext`). A file
    is written to a temporary name beside it and moved into place, so a failed write (a missing
    folder, a full disk) leaves no partial file and says why.

    Raises
    ------
    LabelnextError
        An unknown extension, or a file that cannot be written (naming ``--out`` and the reason).
    BrokenPipeError
        The reader of standard output went away (:func:`labelnext.cli.main` exits 141).
    """
    if out is None:
        text = csv_safe_frame(frame).to_csv(index=False, float_format="%.6f")
        if sys.stdout is None:  # started with standard output closed (`>&-`)
            raise LabelnextError("standard output is closed: nothing was written; use --out FILE")
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise LabelnextError(
                f"standard output cannot be written ({reason}); use --out FILE"
            ) from None
        return
    path = Path(out)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise LabelnextError(f"--out {out}: is a folder; give a file name")
    if suffix not in (".parquet", ".pq", ".csv"):
        raise LabelnextError(
            f"--out {out}: unknown extension {path.suffix!r}; use .csv or .parquet"
        )
    if not path.parent.is_dir():
        raise LabelnextError(f"--out {out}: the folder {path.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise LabelnextError(f"--out {out}: cannot write there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if suffix == ".csv":
                data = csv_safe_frame(frame).to_csv(index=False, float_format="%.6f")
                handle.write(data.encode("utf-8"))
            else:
                frame.to_parquet(handle, index=False)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise LabelnextError(
            f"--out {out}: could not write the file ({exc.strerror or exc}); nothing was written"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    progress(f"wrote {len(frame):,} rows to {path}")
