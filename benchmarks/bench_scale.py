"""A million-row run stays interactive: load, page flip, filter change, top-25k, memory, streaming.

Measures the library calls the dashboard and the CLI make, side by side with pyarrow's plain
``read_table`` of the same file (the floor for loading), on the synthetic runs made by
``benchmarks/make_synthetic.py``. Interleaved, median of ``--repeats`` runs; memory is read from
``/proc/self/status`` (VmHWM, the peak RSS) of fresh subprocesses so one measurement cannot
inflate another.

    .venv/bin/python benchmarks/bench_scale.py                 # 1M rows; add --ten-million
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_synthetic import make_run  # noqa: E402

from labelnext.readers import load_run  # noqa: E402
from labelnext.scoring import run_scores  # noqa: E402
from labelnext.select import Filter, ranked, top_k  # noqa: E402
from labelnext.view import build_view  # noqa: E402


def ensure_run(rows: int, name: str) -> Path:
    folder = DATA / name
    if not (folder / "predictions.parquet").exists():
        print(f"making {rows:,}-row run in {folder} ...", file=sys.stderr, flush=True)
        make_run(rows, folder)
    return folder


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def interleaved(contestants: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in contestants}
    for _ in range(repeats):
        for name, fn in contestants.items():
            samples[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in samples.items()}


def first_page(folder: Path) -> list[str]:
    """What the Review page does on opening a run: load, score, order, cut the first page."""
    run = load_run(folder)
    scores = run_scores(run, "least_confidence")
    view = build_view(run, scores)
    return view.page_ids(1, 48)


def bench_interactive(folder: Path, repeats: int) -> list[str]:
    lines = []
    parquet = folder / "predictions.parquet"
    load = interleaved(
        {
            "pyarrow read_table": lambda: pq.read_table(parquet),
            "labelnext: load + score + order + first page": lambda: first_page(folder),
            "labelnext: load_run alone": lambda: load_run(folder),
        },
        repeats,
    )
    floor = load["pyarrow read_table"]
    lines.append("| step | ms | ratio to pyarrow read_table | target |")
    lines.append("|---|---:|---:|---|")
    for name, ms in load.items():
        target = "<= 2x" if "first page" in name else ""
        lines.append(f"| {name} | {ms:,.0f} | {ms / floor:.2f} | {target} |")

    run = load_run(folder)
    scores = run_scores(run, "least_confidence")
    view = build_view(run, scores)
    order = view.order
    excluded = frozenset(run.ids[np.random.default_rng(0).choice(run.n_rows, 25_000, False)])
    pages = view.n_pages(48)
    rng = np.random.default_rng(1)
    interactive = interleaved(
        {
            "page flip (48 ids + their rows)": lambda: view.page_ids(
                int(rng.integers(1, pages)), 48
            ),
            "filter change: class 3": lambda: build_view(
                run, scores, Filter(classes=("3",)), full_order=order
            ),
            "filter change: confidence 0.2-0.6": lambda: build_view(
                run, scores, Filter(min_confidence=0.2, max_confidence=0.6), full_order=order
            ),
            "filter change: hide 25,000 queued rows": lambda: build_view(
                run, scores, Filter(exclude_ids=excluded), full_order=order
            ),
            "filter change: metadata site=north": lambda: build_view(
                run, scores, Filter(metadata_equals=(("site", "north"),)), full_order=order
            ),
            "strategy change: score + order (margin)": lambda: build_view(
                run, run_scores(run, "margin")
            ),
            "top-25,000 selection (top_k)": lambda: top_k(
                scores, run.ids, 25_000, id_rank=run.id_rank
            ),
            "top-25,000 as a batch table (ranked k=25,000)": lambda: ranked(
                run, "least_confidence", k=25_000, scores=scores
            ),
        },
        repeats,
    )
    lines.append("")
    lines.append("| interaction at 1M rows (server time) | ms | target |")
    lines.append("|---|---:|---|")
    for name, ms in interactive.items():
        target = "< 100 ms" if name.startswith("top-25,000 selection") else "< 200 ms"
        if name.startswith("strategy"):
            target = "(once per strategy, then cached)"
        if "batch table" in name:
            target = ""
        lines.append(f"| {name} | {ms:,.1f} | {target} |")
    return lines


_MEMORY_PROBE = """
import sys, json
from labelnext.readers import load_run
from labelnext.scoring import run_scores
from labelnext.view import build_view
run = load_run(sys.argv[1])
scores = run_scores(run, "least_confidence")
view = build_view(run, scores)
view.page_ids(1, 48)
run.predicted_labels
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
def kib(key): return int(status[key].split()[0]) * 1024
arrow = run.ids_arrow.nbytes + (run.images_arrow.nbytes if run.images_arrow is not None else 0)
peak, now = kib("VmHWM"), kib("VmRSS")
# measured after the peak: the Python strings the run no longer makes (the old budget)
strings = sum(sys.getsizeof(x) for x in run.ids) + sum(sys.getsizeof(x) for x in run.images)
strings += run.ids.nbytes + run.images.nbytes
print(json.dumps({"peak": peak, "now": now, "probs": run.probabilities.nbytes,
                  "strings": strings, "arrow": arrow}))
"""

_BASELINE_PROBE = """
import json, labelnext.runs, labelnext.view, labelnext.uncertainty
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(json.dumps({"peak": int(status["VmHWM"].split()[0]) * 1024}))
"""


def bench_memory(folder: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    m = json.loads(out.stdout)
    base = json.loads(
        subprocess.run(
            [sys.executable, "-c", _BASELINE_PROBE], capture_output=True, text=True, check=True
        ).stdout
    )
    budget = m["probs"] + m["arrow"]
    old_budget = m["probs"] + m["strings"]
    mib = 1024**2
    above = m["peak"] - base["peak"]
    return [
        "| memory, 1M x 10 run held with scores and order | MiB | ratio to probs + Arrow ids "
        "and paths | ratio to probs + Python strings (the old budget) |",
        "|---|---:|---:|---:|",
        f"| float32 probabilities | {m['probs'] / mib:,.0f} | | |",
        f"| ids and image paths as Arrow (what the run holds) | {m['arrow'] / mib:,.0f} | | |",
        f"| the same as Python strings (held before) | {m['strings'] / mib:,.0f} | | |",
        f"| peak RSS of the process (VmHWM) | {m['peak'] / mib:,.0f} | {m['peak'] / budget:.2f} | "
        f"{m['peak'] / old_budget:.2f} |",
        f"| RSS after loading (VmRSS) | {m['now'] / mib:,.0f} | {m['now'] / budget:.2f} | "
        f"{m['now'] / old_budget:.2f} |",
        f"| peak RSS minus the interpreter and imports ({base['peak'] / mib:,.0f} MiB) | "
        f"{above / mib:,.0f} | {above / budget:.2f} | {above / old_budget:.2f} |",
    ]


_REOPEN_PROBE = """
import json, sys, time
t0 = time.perf_counter()
from labelnext.ordercache import order_cache, scored_order
from labelnext.readers import load_run
from labelnext.scoring import Scoring
from labelnext.select import Filter
from labelnext.view import build_view
t1 = time.perf_counter()
run = load_run(sys.argv[1])
t2 = time.perf_counter()
held = scored_order(run, Scoring(), order_cache(sys.argv[2]))
t3 = time.perf_counter()
view = build_view(run, held.scores, full_order=held.order)
view.page_ids(1, 48)
t4 = time.perf_counter()
one = Filter(classes=("3",))
laps = []
for _ in range(20):
    s = time.perf_counter()
    v = build_view(run, held.scores, one, full_order=held.order, class_order=held.class_order)
    v.page_ids(1, 48)
    laps.append(time.perf_counter() - s)
plain = []
for _ in range(5):
    s = time.perf_counter()
    build_view(run, held.scores, one, full_order=held.order).page_ids(1, 48)
    plain.append(time.perf_counter() - s)
laps.sort(); plain.sort()
print(json.dumps({"from_disk": held.from_disk, "load": t2 - t1, "scored": t3 - t2,
                  "page": t4 - t3, "class": laps[len(laps) // 2], "class_mask": plain[2]}))
"""


def bench_reopen(folder: Path, repeats: int) -> list[str]:
    """Open a run in fresh processes: first with an empty order cache, then with a warm one."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench_scale-home-") as home:

        def probe() -> dict[str, Any]:
            out = subprocess.run(
                [sys.executable, "-c", _REOPEN_PROBE, str(folder), home],
                capture_output=True,
                text=True,
                check=True,
            )
            return dict(json.loads(out.stdout))

        cold = probe()
        warm = [probe() for _ in range(max(1, repeats // 2))]
    assert not cold["from_disk"] and all(w["from_disk"] for w in warm)

    def med(key: str) -> float:
        return statistics.median(w[key] for w in warm) * 1000

    return [
        f"| new process opening the {folder.name} run (ms) | first open (order cache empty) | "
        "reopen (order cache warm) |",
        "|---|---:|---:|",
        f"| load_run | {cold['load'] * 1000:,.0f} | {med('load'):,.0f} |",
        f"| scores + order + per-class orders (scored_order) | {cold['scored'] * 1000:,.0f} | "
        f"{med('scored'):,.1f} |",
        f"| first page of the view | {cold['page'] * 1000:,.1f} | {med('page'):,.1f} |",
        f"| reopen to the first page after load_run (target < 50 ms) | | "
        f"{med('scored') + med('page'):,.1f} |",
        f"| class filter + first page, per-class order (target < 2 ms) | "
        f"{cold['class'] * 1000:,.2f} | {med('class'):,.2f} |",
        f"| class filter + first page, mask over every row (before) | "
        f"{cold['class_mask'] * 1000:,.2f} | {med('class_mask'):,.2f} |",
    ]


def _cli(args: list[str]) -> tuple[float, int]:
    """Wall time (s) and peak RSS (bytes) of one CLI run in its own process."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child would report
    # this benchmark's own peak
    probe = (
        "import sys, time; from labelnext.cli import main; t = time.perf_counter(); "
        "code = main(sys.argv[1:]); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(time.perf_counter() - t, hwm); "
        "sys.exit(code)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
    )
    seconds, maxrss_kib = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(maxrss_kib) * 1024


def bench_streaming(one_m: Path, ten_m: Path | None, repeats: int) -> list[str]:
    rows = [
        "| CLI `select --top 1000` | rows | seconds | rows/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    runs = [("in memory", one_m, 1_000_000, [])]
    runs.append(("--stream", one_m, 1_000_000, ["--stream"]))
    if ten_m is not None:
        runs.append(("--stream", ten_m, 10_000_000, ["--stream"]))
    for label, folder, n, extra in runs:
        results = [
            _cli(
                [
                    "select",
                    str(folder / "predictions.parquet"),
                    "--top",
                    "1000",
                    "--out",
                    str(DATA / "top.csv"),
                    *extra,
                ]
            )
            for _ in range(max(1, repeats // 2))
        ]
        seconds = statistics.median(r[0] for r in results)
        peak = max(r[1] for r in results)
        rows.append(
            f"| {label} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} | {peak / 1024**2:,.0f} |"
        )
    return rows


def bench_ten_million(folder: Path, repeats: int) -> list[str]:
    """Load to a sorted first page at 10M rows, beside pyarrow's read of the same file."""
    parquet = folder / "predictions.parquet"
    load = interleaved(
        {
            "pyarrow read_table": lambda: pq.read_table(parquet),
            "labelnext: load + score + order + first page": lambda: first_page(folder),
        },
        repeats,
    )
    floor = load["pyarrow read_table"]
    lines = ["| step, 10M rows | ms | ratio to pyarrow read_table | target |"]
    lines.append("|---|---:|---:|---|")
    for name, ms in load.items():
        target = "<= 2x" if "first page" in name else ""
        lines.append(f"| {name} | {ms:,.0f} | {ms / floor:.2f} | {target} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--ten-million",
        action="store_true",
        help="also open and stream a 10M-row run (made once, ~750 MB)",
    )
    args = parser.parse_args()
    one_m = ensure_run(1_000_000, "run_1m")
    ten_m = ensure_run(10_000_000, "run_10m") if args.ten_million else None
    print(f"## labelnext at scale: 1,000,000 x 10, median of {args.repeats} interleaved runs\n")
    for line in bench_interactive(one_m, args.repeats):
        print(line)
    print()
    if ten_m is not None:
        for line in bench_ten_million(ten_m, max(1, args.repeats // 2)):
            print(line)
        print()
    for line in bench_memory(one_m):
        print(line)
    print()
    for folder in (one_m, *([ten_m] if ten_m is not None else [])):
        for line in bench_reopen(folder, args.repeats):
            print(line)
        print()
    for line in bench_streaming(one_m, ten_m, args.repeats):
        print(line)


if __name__ == "__main__":
    main()
