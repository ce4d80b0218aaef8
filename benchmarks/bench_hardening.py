"""The slow paths found while hardening (issue 10, class 11), measured in the real app.

1. The Batch page with 100,000 rows selected on the 1,000,000-row synthetic run: the script
   run that draws it, and the one that submits it (callback included). Target: under 3 s each
   (they took 136 s and 143 s when membership was ``np.isin`` over Python strings).
2. Home with 100,000 rows queued in the chosen project: one rerun. Target: under 300 ms
   (6.8 s before).
3. A run with 10,000 classes: building the Batch page's class chart and the size of what goes to
   the browser (it once froze the browser for 50 s drawing every class).

Times are Streamlit's script-thread time of one AppTest run (``ScriptClock`` of bench_app.py),
median of ``--repeats``.

    .venv/bin/python benchmarks/bench_hardening.py
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_app import (
    APP,
    ScriptClock,
    _share_script_cache,
    _use_navigation_not_pages_dir,
    allowed_roots,
    ensure_run,
    log,
)

from labelnext.ledger import Ledger
from labelnext.readers import load_run

SELECTED = 100_000
QUEUED = 100_000


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def bench_batch_page(run_dir: Path, repeats: int) -> list[str]:
    from streamlit.testing.v1 import AppTest

    run = load_run(run_dir)
    rng = np.random.default_rng(0)
    chosen = set(run.ids[rng.choice(run.n_rows, SELECTED, replace=False)].astype(str))
    draws, submits = [], []
    for attempt in range(repeats):
        at = AppTest.from_file(str(APP), default_timeout=900)
        at.session_state["run_key"] = f"path:{run_dir}"
        at.session_state["user_name"] = "bench"
        at.run()
        at.session_state["selection"] = set(chosen)
        at.switch_page("pages/batch.py").run()
        at.run()
        draws.append(ScriptClock.last_ms)
        at.selectbox(key="batch_project").set_value("New project…")
        at.text_input(key="batch_new_project").input(f"bench-{attempt}-{time.time_ns()}")
        at.button(key="batch_submit").click().run()
        submits.append(ScriptClock.last_ms)
        if not at.success:
            raise RuntimeError(f"submit failed: {[e.value for e in at.error]}")
        log(f"  batch page: draw {draws[-1]:.0f} ms, submit {submits[-1]:.0f} ms")
    return [
        f"| Batch page drawn with {SELECTED:,} rows selected (1M-row run) "
        f"| {_median(draws) / 1000:.2f} s | < 3 s |",
        f"| submitting those {SELECTED:,} rows from the page | {_median(submits) / 1000:.2f} s "
        "| < 3 s |",
    ]


def bench_home(run_dir: Path, repeats: int, ledger_url: str) -> list[str]:
    from streamlit.testing.v1 import AppTest

    run = load_run(run_dir)
    rows = np.random.default_rng(1).choice(run.n_rows, QUEUED, replace=False)
    with Ledger(ledger_url) as ledger:
        ledger.submit(
            project="queued-100k",
            name="bench",
            rows=pd.DataFrame({"data_row_id": run.ids[rows].astype(str)}),
            created_by="bench",
            strategy="least_confidence",
            run_id=None,
        )
    at = AppTest.from_file(str(APP), default_timeout=900)
    at.session_state["run_key"] = f"path:{run_dir}"
    at.session_state["project"] = "queued-100k"
    at.run()
    times = []
    for _ in range(repeats):
        at.run()
        times.append(ScriptClock.last_ms)
    shown = next(m.value for m in at.metric if m.label.startswith("Already queued"))
    if shown != f"{QUEUED:,}":
        raise RuntimeError(f"Home counted {shown} queued rows, expected {QUEUED:,}")
    return [f"| Home rerun with {QUEUED:,} rows queued | {_median(times):.0f} ms | < 300 ms |"]


def bench_many_classes(repeats: int) -> list[str]:
    import plotly.io

    from labelnext_app import charts

    classes = [f"class-{i:05d}" for i in range(10_000)]
    rng = np.random.default_rng(2)
    pool = rng.dirichlet(np.ones(10_000))
    selected = rng.dirichlet(np.ones(10_000))
    times, size = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        figure = charts.class_distribution(classes, pool, selected)
        payload = plotly.io.to_json(figure)
        times.append((time.perf_counter() - started) * 1000)
        size = len(payload)
    bars = len(figure.data[0].x)
    return [
        f"| class chart of a 10,000-class run: {bars} bars (the rest summed) "
        f"| {_median(times):.0f} ms, {size / 1024:.0f} KiB to the browser | capped |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    run_dir = ensure_run(1_000_000, "run_1m")
    work = Path(tempfile.mkdtemp(prefix="bench_hardening_"))
    os.environ["LABELNEXT_HOME"] = str(work)
    os.environ["LABELNEXT_ALLOWED_ROOTS"] = allowed_roots(run_dir)
    os.environ.pop("LABELNEXT_DB_URL", None)
    _use_navigation_not_pages_dir()
    _share_script_cache()
    ScriptClock.install()
    rows = ["| measure | figure | target |", "|---|---:|---|"]
    log("Home with queued rows ...")
    rows += bench_home(run_dir, args.repeats, f"sqlite:///{work / 'ledger.db'}")
    log("Batch page with a large selection ...")
    rows += bench_batch_page(run_dir, args.repeats)
    log("a run with 10,000 classes ...")
    rows += bench_many_classes(args.repeats)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
