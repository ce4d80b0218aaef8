"""Batch methods against the peers: k = 1,000 from 100,000 candidates x 128 dimensions.

DESIGN.md's target: *each batch method at least 3x faster than the fastest peer doing the same
job, with a covering radius no worse than 5% above it, peak memory under 2x the embedding array,
never an n x n matrix.* Every contestant runs on the same arrays in this one process:

* **diverse** (k-center greedy over every candidate: ``candidates=n``) against
  scikit-activeml's ``CoreSet`` and small-text's ``greedy_coreset`` (both farthest-first; one
  row counts as labeled for all three, since small-text needs one).
* **cluster** (k-means over every candidate, one row per cluster round-robin) and **typical**
  (TypiClust) against scikit-activeml's ``TypiClust`` (k-means into k clusters, the most typical
  row of each; with scikit-learn's ``KMeans``, its default, and with ``MiniBatchKMeans``), and,
  as a floor for the clustering alone, scikit-learn's ``MiniBatchKMeans(n_clusters=k).fit``.
* **typical at 1,000,000 pool rows** (``--million``, on by default; the peers there only with
  ``--peers-at-1m``: scikit-activeml keeps a (batch, n) float64 array, 8 GB at this size).
* **top** (the k most uncertain by margin) against scikit-activeml's ``uncertainty_scores`` +
  ``np.argpartition``.
* **auto** as the app calls it once labels exist (1,000 rows covered, default candidates).

Every contestant gets the same number of BLAS / OpenMP threads (``--threads``, default 1, set
through threadpoolctl): on a machine shared with other work, multi-threaded libraries spin
against each other and wall times stop meaning anything. Measured per contestant: CPU and wall
time (ours: median of ``--repeats``; the peers once, they take minutes; the ratios and verdicts
use CPU time), peak traced memory (``tracemalloc``, numpy's allocations included) as a multiple of
the embedding array, and the covering radius (the largest distance from a candidate to its
nearest pick or labeled row, :func:`labelnext.batch.covering_radius`; lower is better). small-text
measures every candidate against every earlier pick at every step (its i-th pick costs
``n * i`` distances); it is run for ``--small-text-k`` picks and its time for k picks is
extrapolated from that quadratic (marked "extrapolated"); its radius is not known then.

The data: seeded synthetic embeddings shaped like a feature extractor's: 500 Gaussian clusters
of varying width and size in a 32-dimensional latent space, mapped linearly to 128 dimensions,
plus isotropic noise (float32); probabilities Dirichlet(0.3) over 10 classes.

    .venv/bin/python benchmarks/bench_batch.py          # 20-40 minutes on a busy 2-core machine
    .venv/bin/python benchmarks/bench_batch.py --quick          # 20,000 x 128, k = 200, no 1M
    .venv/bin/python benchmarks/bench_batch.py --rows 100000 --k 1000 --peers-at-1m
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labelnext.batch import covering_radius, pick_batch

SEED = 20261202
OUT = Path(__file__).resolve().parent / "data" / "bench_batch.json"


@dataclass
class Result:
    job: str
    name: str
    seconds: float
    cpu_seconds: float
    peak_bytes: int
    radius: float | None
    note: str = ""
    ours: bool = False


def make_data(n: int, d: int, seed: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Clustered embeddings with a decaying spectrum, and probabilities."""
    rng = np.random.default_rng([seed, n, d])
    latent, n_clusters = 32, 500
    centres = rng.normal(scale=3.0, size=(n_clusters, latent))
    weights = rng.dirichlet(np.full(n_clusters, 2.0))
    widths = rng.uniform(0.3, 1.5, size=n_clusters)
    mapping = rng.normal(size=(latent, d)) / np.sqrt(latent)
    x = np.empty((n, d), dtype=np.float32)
    block = 100_000
    for start in range(0, n, block):
        m = min(block, n - start)
        which = rng.choice(n_clusters, m, p=weights)
        z = centres[which] + rng.normal(size=(m, latent)) * widths[which, None]
        x[start : start + m] = z @ mapping + rng.normal(scale=0.3, size=(m, d))
    p = rng.dirichlet(np.full(10, 0.3), size=n).astype(np.float32)
    return x, p


def measure(
    fn: Callable[[], NDArray[Any]], *, repeats: int = 1
) -> tuple[float, float, int, NDArray[Any]]:
    """Median wall and CPU time over ``repeats``, peak traced memory of the first run, the
    last result."""
    times, cpu, peak, out = [], [], 0, None
    for i in range(repeats):
        gc.collect()
        if i == 0:
            tracemalloc.start()
        started, started_cpu = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        if i == 0:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert out is not None
    return statistics.median(times), statistics.median(cpu), peak, np.asarray(out)


def ours(
    job: str,
    name: str,
    fn: Callable[[], NDArray[Any]],
    x: NDArray[Any],
    args: Any,
    labeled: NDArray[Any] | None = None,
    note: str = "",
) -> Result:
    seconds, cpu, peak, picks = measure(fn, repeats=args.repeats)
    radius = covering_radius(x, picks, labeled_embeddings=labeled)
    print(
        f"  {name}: {seconds:.2f} s ({cpu:.2f} s CPU), radius {radius:.3f}",
        file=sys.stderr,
        flush=True,
    )
    return Result(job, name, seconds, cpu, peak, radius, note, ours=True)


def peer(
    job: str,
    name: str,
    fn: Callable[[], NDArray[Any]],
    x: NDArray[Any] | None,
    labeled: NDArray[Any] | None = None,
    note: str = "",
) -> Result:
    print(f"  {name} ...", file=sys.stderr, flush=True)
    try:
        seconds, cpu, peak, picks = measure(fn)
    except MemoryError as exc:
        return Result(job, name, float("nan"), float("nan"), 0, None, f"failed: {exc!r}")
    radius = covering_radius(x, picks, labeled_embeddings=labeled) if x is not None else None
    print(f"  {name}: {seconds:.2f} s ({cpu:.2f} s CPU)", file=sys.stderr, flush=True)
    return Result(job, name, seconds, cpu, peak, radius, note)


def diverse_job(x: NDArray[np.float32], p: NDArray[np.float32], args: Any) -> list[Result]:
    from skactiveml.pool import CoreSet
    from small_text.query_strategies.coresets import greedy_coreset

    n, k = len(x), args.k
    job = f"diverse: k-center, k={k:,} of {n:,}"
    print(job, file=sys.stderr)
    first = x[:1]  # one labeled row for every contestant (small-text needs one)
    out = [
        ours(
            job,
            "labelnext diverse",
            lambda: pick_batch(p, x, k, method="diverse", candidates=n, covered=[0]).indices,
            x,
            args,
            labeled=first,
        )
    ]
    y = np.full(n, np.nan)
    y[0] = 0
    out.append(
        peer(
            job,
            "scikit-activeml CoreSet",
            lambda: CoreSet(random_state=0).query(x, y, batch_size=k),
            x,
            labeled=first,
        )
    )
    small_k = min(args.small_text_k, k)
    unlabeled, labeled_idx = np.arange(1, n), np.array([0])
    result = peer(
        job,
        f"small-text greedy_coreset (k={small_k})",
        lambda: greedy_coreset(x, unlabeled, labeled_idx, small_k, distance_metric="euclidean"),
        None,
    )
    if small_k < k:
        # step i measures n rows against (1 + i) picks: the time grows as sum_i (1 + i)
        scale = sum(1 + i for i in range(k)) / sum(1 + i for i in range(small_k))
        result = Result(
            job=job,
            name="small-text greedy_coreset",
            seconds=result.seconds * scale,
            cpu_seconds=result.cpu_seconds * scale,
            peak_bytes=result.peak_bytes,
            radius=None,
            note=f"extrapolated from {small_k} picks ({result.seconds:.1f} s)",
        )
    out.append(result)
    return out


def typiclust(x: NDArray[Any], k: int, algo: Any, params: dict[str, Any]) -> NDArray[Any]:
    from skactiveml.pool import TypiClust

    y = np.full(len(x), np.nan)
    strategy = TypiClust(random_state=0, cluster_algo=algo, cluster_algo_dict=params)
    return np.asarray(strategy.query(x, y, batch_size=k))


def cluster_jobs(x: NDArray[np.float32], p: NDArray[np.float32], args: Any) -> list[Result]:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n, k = len(x), args.k
    cluster = f"cluster: k-means + one per cluster, k={k:,} of {n:,}"
    typical = f"typical: TypiClust, k={k:,} of {n:,}"
    print(cluster, file=sys.stderr)
    out = [
        ours(
            cluster,
            "labelnext cluster",
            lambda: pick_batch(p, x, k, method="cluster", candidates=n).indices,
            x,
            args,
        ),
        ours(
            typical,
            "labelnext typical",
            lambda: pick_batch(None, x, k, method="typical").indices,
            x,
            args,
        ),
    ]
    full = peer(
        cluster,
        "scikit-activeml TypiClust (KMeans)",
        lambda: typiclust(x, k, KMeans, {"n_init": 1}),
        x,
    )
    mini = peer(
        cluster,
        "scikit-activeml TypiClust (MiniBatchKMeans)",
        lambda: typiclust(x, k, MiniBatchKMeans, {"n_init": 1, "batch_size": 4096}),
        x,
    )
    floor = peer(
        cluster,
        "scikit-learn MiniBatchKMeans(k).fit (clustering only)",
        lambda: (
            MiniBatchKMeans(k, n_init=1, batch_size=4096, random_state=0)
            .fit(x)
            .cluster_centers_[:0, 0]
            .astype(np.int64)
        ),
        None,
        note="no picks: a floor for the clustering step",
    )
    out += [full, mini, floor]
    # the same peer runs are the typical job's peers
    out += [
        Result(
            typical,
            r.name,
            r.seconds,
            r.cpu_seconds,
            r.peak_bytes,
            r.radius,
            "same run as above",
        )
        for r in (full, mini)
    ]
    return out


def million_job(args: Any) -> tuple[list[Result], int]:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n, k = 1_000_000, args.k
    x, _ = make_data(n, args.dims, SEED + 1)
    job = f"typical: TypiClust, k={k:,} of {n:,}"
    print(job, file=sys.stderr)
    out = [
        ours(
            job,
            "labelnext typical",
            lambda: pick_batch(None, x, k, method="typical").indices,
            x,
            args,
            note="clusters a seeded 100,000-row sample (typical_sample)",
        )
    ]
    if args.peers_at_1m:
        out.append(
            peer(
                job,
                "scikit-activeml TypiClust (MiniBatchKMeans)",
                lambda: typiclust(x, k, MiniBatchKMeans, {"n_init": 1, "batch_size": 4096}),
                x,
            )
        )
        out.append(
            peer(
                job,
                "scikit-activeml TypiClust (KMeans)",
                lambda: typiclust(x, k, KMeans, {"n_init": 1}),
                x,
            )
        )
    else:
        out.append(
            Result(
                job,
                "scikit-activeml TypiClust",
                float("nan"),
                float("nan"),
                0,
                None,
                "not run: it allocates a (batch, n) float64 array, 8 GB here "
                "(--peers-at-1m runs it)",
            )
        )
    return out, x.nbytes


def top_job(x: NDArray[np.float32], p: NDArray[np.float32], args: Any) -> list[Result]:
    from skactiveml.pool import uncertainty_scores

    n, k = len(x), args.k
    job = f"top: k most uncertain (margin), k={k:,} of {n:,}"

    def peer_top() -> NDArray[Any]:
        scores = uncertainty_scores(probas=p, method="margin_sampling")
        return np.argpartition(-scores, k)[:k]

    return [
        ours(job, "labelnext top", lambda: pick_batch(p, x, k, method="top").indices, x, args),
        peer(job, "scikit-activeml uncertainty_scores + argpartition", peer_top, x),
    ]


def auto_job(x: NDArray[np.float32], p: NDArray[np.float32], args: Any) -> list[Result]:
    n, k = len(x), args.k
    covered = np.arange(0, n, n // 1000)[:1000]
    pick = pick_batch(p, x, k, covered=covered)
    job = f"auto with 1,000 rows covered (runs {pick.method}, candidates {pick.n_candidates:,})"
    return [
        ours(
            job,
            "labelnext auto",
            lambda: pick_batch(p, x, k, covered=covered).indices,
            x,
            args,
            labeled=x[covered],
        )
    ]


def table(results: list[Result], array_bytes: dict[str, int]) -> None:
    print(
        "| job | contestant | wall (s) | CPU (s) | peer / ours (CPU) | peak memory / embedding "
        "array | covering radius | radius vs fastest peer | note |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    jobs = list(dict.fromkeys(r.job for r in results))
    verdicts = []
    for job in jobs:
        rows = [r for r in results if r.job == job]
        mine = [r for r in rows if r.ours]
        peers = [
            r
            for r in rows
            if not r.ours and np.isfinite(r.seconds) and "clustering only" not in r.name
        ]
        fastest = min(peers, key=lambda r: r.cpu_seconds) if peers else None
        size = array_bytes.get(job, array_bytes["default"])
        for r in rows:
            ratio = ""
            if not r.ours and mine and np.isfinite(r.seconds):
                ratio = f"{r.cpu_seconds / mine[0].cpu_seconds:.1f}x"
            radius = f"{r.radius:.3f}" if r.radius is not None else "n/a"
            versus = ""
            if r.ours and fastest is not None and fastest.radius is not None and r.radius:
                versus = f"{r.radius / fastest.radius - 1:+.1%}"
            seconds = f"{r.seconds:.2f}" if np.isfinite(r.seconds) else "n/a"
            cpu = f"{r.cpu_seconds:.2f}" if np.isfinite(r.cpu_seconds) else "n/a"
            memory = f"{r.peak_bytes / size:.2f}x" if r.peak_bytes else "n/a"
            name = f"**{r.name}**" if r.ours else r.name
            print(
                f"| {job} | {name} | {seconds} | {cpu} | {ratio} | {memory} | {radius} | {versus} "
                f"| {r.note} |"
            )
        for r in mine:
            memory_ok = r.peak_bytes < 2 * size
            if fastest is None:
                verdicts.append(
                    f"{job}: {r.name} {r.seconds:.2f} s, memory "
                    f"{r.peak_bytes / size:.2f}x ({'ok' if memory_ok else 'over 2x'}); "
                    "no peer run"
                )
                continue
            speed = fastest.cpu_seconds / r.cpu_seconds
            radius_ok = (
                fastest.radius is None or r.radius is None or r.radius <= 1.05 * fastest.radius
            )
            met = speed >= 3 and radius_ok and memory_ok
            verdicts.append(
                f"{job}: {r.name} {speed:.1f}x faster than {fastest.name}, radius "
                + (
                    f"{r.radius / fastest.radius - 1:+.1%}"
                    if fastest.radius and r.radius
                    else "n/a"
                )
                + f", memory {r.peak_bytes / size:.2f}x: target {'MET' if met else 'NOT met'}"
            )
    print()
    for line in verdicts:
        print(f"- {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours (median)")
    parser.add_argument(
        "--small-text-k",
        type=int,
        default=20,
        help="picks small-text makes before its time is extrapolated",
    )
    parser.add_argument("--no-million", dest="million", action="store_false")
    parser.add_argument("--peers-at-1m", action="store_true")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, k=200, no 1M")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="BLAS / OpenMP threads for every contestant (default 1)",
    )
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        help="print the table of an earlier run's raw results (benchmarks/data/bench_batch.json)",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        results = [Result(**r) for r in json.loads(Path(args.from_json).read_text())]
        sizes = {"default": args.rows * args.dims * 4, results[-1].job: 1_000_000 * args.dims * 4}
        table(results, sizes)
        return 0
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    if args.quick:
        args.rows, args.k, args.million, args.repeats = 20_000, 200, False, 1
    warnings.filterwarnings("ignore")
    x, p = make_data(args.rows, args.dims, SEED)
    started = time.perf_counter()
    results = top_job(x, p, args) + diverse_job(x, p, args) + cluster_jobs(x, p, args)
    results += auto_job(x, p, args)
    sizes = {"default": x.nbytes}
    if args.million:
        million, nbytes = million_job(args)
        results += million
        sizes[million[0].job] = nbytes
    print(
        f"# Batch methods vs peers: {args.rows:,} x {args.dims} float32 "
        f"({x.nbytes / 2**20:.0f} MiB), k = {args.k:,}\n"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)  # the raw figures, before any formatting
    OUT.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1))
    print(f"raw results: {OUT}", file=sys.stderr)
    table(results, sizes)
    print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
