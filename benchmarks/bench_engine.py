"""Spark (local and a standalone cluster) against the streaming CLI path on the same files.

Top-``k`` (25,000) under two strategies with 25,000 excluded ids, on synthetic runs of 10 classes
split over several Parquet files (``make_synthetic.py --files``, made here if missing). Each
contestant runs in a fresh child process, which reports its own peak RSS (``VmHWM`` of
``/proc/self/status``; for Spark also the driver JVM's, read from ``/proc/<jvm pid>/status``
before it stops): rows/s over the selection itself (process and JVM start-up are reported
apart), peak memory, and the ratio to streaming. Every result is asserted identical (ids, order,
scores) to the streaming result.

- ``stream``: ``labelnext.streaming.stream_top_k`` on each file, then the top-k of their tops
  (``stream_top_k`` reads one file; the per-file tops merge exactly).
- ``spark-local``: ``labelnext.spark.select_from_path`` in ``local[2]`` (driver and executors
  in one JVM, so its peak includes the executors' work).
- ``spark-cluster``: the same against a standalone master with two 1-core workers on loopback
  (``labelnext.spark.local_cluster``); the driver JVM does no scanning there.

    .venv/bin/python benchmarks/bench_engine.py --rows 10000000 20000000
    .venv/bin/python benchmarks/bench_engine.py --rows 2000000 --methods   # scoring methods

On a 2-core machine the cluster's second worker cannot add throughput (two executors share the
same two cores with the driver and the daemons); the per-executor figure is what a larger cluster
multiplies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _hwm(pid: int | str = "self") -> int:
    """Peak RSS (bytes) of a process, from its own /proc status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return 0


def child(args: argparse.Namespace) -> None:
    """One contestant, in this fresh process; prints one JSON line."""
    started = time.perf_counter()
    from labelnext.select import Filter, read_id_list, top_k

    excluded = read_id_list(Path(args.exclude).read_text().splitlines())
    flt = Filter(exclude_ids=excluded)
    out: dict[str, float | int] = {}
    if args.child == "stream":
        from labelnext.spark import find_parquet_files
        from labelnext.streaming import stream_top_k

        files = find_parquet_files(args.path)
        ready = time.perf_counter()
        tops = [stream_top_k(p, args.strategy, args.k, flt=flt).top for p in files.paths]
        joined = pd.concat(tops, ignore_index=True)
        order = top_k(joined["score"].to_numpy(), joined["data_row_id"].to_numpy(), args.k)
        top = joined.iloc[order].reset_index(drop=True)
        top["rank"] = np.arange(1, len(top) + 1)
        n_rows = files.n_rows
    else:
        from labelnext.spark import find_parquet_files, get_session, select_from_path

        conf = {"spark.ui.enabled": "false", "spark.driver.memory": "1g"}
        if args.child == "spark-cluster":
            conf |= {"spark.executor.memory": "1g", "spark.executor.cores": "1"}
        spark = get_session(args.master, conf)
        spark.sparkContext.setLogLevel("ERROR")
        ready = time.perf_counter()
        top = select_from_path(args.path, args.k, args.strategy, flt, method=args.method)
        n_rows = find_parquet_files(args.path).n_rows
        gateway = spark.sparkContext._gateway
        out["jvm_peak"] = _hwm(gateway.proc.pid) if gateway and gateway.proc else 0
    done = time.perf_counter()
    top.to_parquet(args.out, index=False)
    if args.child != "stream":
        spark.stop()
    out |= {
        "startup": ready - started,
        "seconds": done - ready,
        "rows": n_rows,
        "py_peak": _hwm(),
    }
    print(json.dumps(out), flush=True)


def run_child(contestant: str, path: Path, strategy: str, k: int, exclude: Path, **extra: str):
    out = Path(tempfile.mkdtemp()) / "top.parquet"
    command = [sys.executable, __file__, "--child", contestant, "--path", str(path)]
    command += ["--strategy", strategy, "--k", str(k), "--exclude", str(exclude)]
    command += ["--out", str(out)]
    for key, value in extra.items():
        command += [f"--{key}", value]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    if done.returncode != 0:
        raise SystemExit(f"{contestant} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, pd.read_parquet(out)


def ensure_run(rows: int, files: int, data: Path) -> Path:
    folder = data / f"run_{rows // 1_000_000}m_parts"
    if not (folder / "run.json").exists():
        from make_synthetic import make_run

        print(f"making {rows:,} rows in {files} files at {folder} ...", file=sys.stderr)
        make_run(rows, folder, files=files)
    return folder


def exclusion_file(folder: Path, rows: int, n: int) -> Path:
    path = folder / f"excluded_{n}.txt"
    if not path.exists():
        rng = np.random.default_rng(7)
        picked = rng.choice(rows, size=n, replace=False)
        path.write_text("\n".join(f"row-{i:08d}" for i in sorted(picked)) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--files", type=int, default=8, help="Parquet files per run")
    parser.add_argument("--k", type=int, default=25_000)
    parser.add_argument("--excluded", type=int, default=25_000)
    parser.add_argument("--strategies", nargs="+", default=["margin", "entropy"])
    parser.add_argument(
        "--contestants", nargs="+", default=["stream", "spark-local", "spark-cluster"]
    )
    parser.add_argument(
        "--methods", action="store_true", help="time the Spark scoring methods instead"
    )
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data")
    # child-process options
    parser.add_argument("--child", default=None)
    parser.add_argument("--path")
    parser.add_argument("--strategy")
    parser.add_argument("--exclude")
    parser.add_argument("--out")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--method", default="partition_top_k")
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    mib = 1024**2
    cluster = None
    if "spark-cluster" in args.contestants and not args.methods:
        from labelnext.spark.local_cluster import LocalCluster

        cluster = LocalCluster(2, cores=1, memory="1500m")
        cluster.start()
    try:
        if args.methods:
            folder = ensure_run(args.rows[0], args.files, args.data)
            exclude = exclusion_file(folder, args.rows[0], args.excluded)
            print("| method | strategy | rows | s | rows/s |")
            print("|---|---|---:|---:|---:|")
            for method in ("partition_top_k", "map_in_arrow", "arrow_udf", "pandas_udf"):
                for strategy in args.strategies:
                    r, _ = run_child(
                        "spark-local", folder, strategy, args.k, exclude, method=method
                    )
                    print(
                        f"| {method} | {strategy} | {r['rows']:,} | {r['seconds']:.1f} | "
                        f"{r['rows'] / r['seconds']:,.0f} |",
                        flush=True,
                    )
            return
        print(
            "| rows | strategy | contestant | start-up s | select s | rows/s | vs stream | "
            "per executor rows/s | Python peak MiB | JVM peak MiB | identical |"
        )
        print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for rows in args.rows:
            folder = ensure_run(rows, args.files, args.data)
            exclude = exclusion_file(folder, rows, args.excluded)
            for strategy in args.strategies:
                reference: pd.DataFrame | None = None
                base_rate = None
                for contestant in args.contestants:
                    extra = {"master": cluster.url} if contestant == "spark-cluster" else {}
                    r, top = run_child(contestant, folder, strategy, args.k, exclude, **extra)
                    rate = r["rows"] / r["seconds"]
                    if reference is None:
                        reference, base_rate = top, rate
                        same = "reference"
                    else:
                        pd.testing.assert_frame_equal(
                            top[reference.columns].reset_index(drop=True),
                            reference,
                            check_exact=True,
                            check_dtype=False,
                        )
                        same = "yes"
                    executors = {"spark-local": 2, "spark-cluster": 2}.get(contestant)
                    per = f"{rate / executors:,.0f}" if executors else ""
                    jvm = f"{r['jvm_peak'] / mib:,.0f}" if r.get("jvm_peak") else ""
                    print(
                        f"| {rows:,} | {strategy} | {contestant} | {r['startup']:.1f} | "
                        f"{r['seconds']:.1f} | {rate:,.0f} | {rate / base_rate:.2f} | {per} | "
                        f"{r['py_peak'] / mib:,.0f} | {jvm} | {same} |",
                        flush=True,
                    )
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
