"""Benchmark: labelnext's uncertainty scores and top-k against scikit-activeml, modAL and a floor.

What it measures, on an (n, C) array of Dirichlet(1) class probabilities (seeded) per dtype:

* ``floor``: one numpy pass over the array, ``p.max(axis=1)``: the cost of any row-wise work.
* each of our four strategies (``labelnext.uncertainty.uncertainty_scores``) against
  scikit-activeml's ``uncertainty_scores(probas, method=...)`` and modAL's
  ``classifier_uncertainty / classifier_margin / classifier_entropy`` (called with a tiny
  "fitted classifier" whose ``predict_proba`` returns the array, so no model cost is timed).
  Neither peer has ``ratio``.
* top-1000 selection = score + pick: ours is ``uncertainty_scores`` + ``labelnext.select.top_k``
  (ordered, ties by id); modAL's is ``uncertainty_sampling / margin_sampling / entropy_sampling``
  with ``n_instances=1000`` (unordered argpartition); scikit-activeml's is its
  ``uncertainty_scores`` + ``np.argpartition``, because its own batch picker
  (``skactiveml.utils.simple_batch``) allocates a (batch_size, n) float64 array (8 GB here).

All contestants run in one process, interleaved: every repetition runs each contestant once,
round-robin, starting at a rotating offset; the table shows the median over repetitions.
Before timing, every peer's ranking is checked against ours on the same data, and the peak extra
memory of one call (tracemalloc) is reported next to the array's size.

Run:  .venv/bin/python benchmarks/bench_scoring.py [--rows 1000000] [--classes 10]
      [--repeats 7] [--dtype both|float32|float64] [--k 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from modAL import uncertainty as modal
from skactiveml.pool._uncertainty_sampling import uncertainty_scores as skal_scores

from labelnext.select import top_k
from labelnext.uncertainty import STRATEGIES, uncertainty_scores

SKAL_METHOD = {
    "least_confidence": "least_confident",
    "margin": "margin_sampling",
    "entropy": "entropy",
}
MODAL_SCORE = {
    "least_confidence": modal.classifier_uncertainty,
    "margin": modal.classifier_margin,
    "entropy": modal.classifier_entropy,
}
MODAL_SAMPLING = {
    "least_confidence": modal.uncertainty_sampling,
    "margin": modal.margin_sampling,
    "entropy": modal.entropy_sampling,
}
# modAL's margin is p1 - p2 (small = uncertain); everything else here is "higher = uncertain"
MODAL_ASCENDING = {"margin"}
# (strategy, peer) pairs computed with exactly our float operations: their orders must be equal
SAME_ARITHMETIC = {
    ("least_confidence", "skactiveml"),
    ("least_confidence", "modAL"),
    ("margin", "skactiveml"),
}
TARGET_VS_FLOOR = 1.5


class ProbaShim:
    """A stand-in for a fitted classifier: ``predict_proba`` returns the precomputed array."""

    def __init__(self, proba: np.ndarray) -> None:
        self.proba = proba

    def predict_proba(self, X: Any, **_: Any) -> np.ndarray:
        return self.proba


@dataclass
class Contestant:
    dtype: str
    task: str  # a strategy name, or "top-k <strategy>", or "floor"
    who: str  # "floor", "ours", "skactiveml", "modAL"
    run: Callable[[], object]


def column_max(p: np.ndarray, block_rows: int = 8192) -> np.ndarray:
    """A tighter floor: the same row maximum as column-wise ``np.maximum`` over cache-sized blocks.

    ``p.max(axis=1)`` reduces a 10-long contiguous axis per row, which numpy does slowly; this
    is how fast one pass over the data can be without leaving numpy.
    """
    out = np.empty(p.shape[0], dtype=p.dtype)
    for start in range(0, p.shape[0], block_rows):
        block, dest = p[start : start + block_rows], out[start : start + block_rows]
        np.maximum(block[:, 0], block[:, 1], out=dest)
        for j in range(2, p.shape[1]):
            np.maximum(dest, block[:, j], out=dest)
    return out


def make_probabilities(rows: int, classes: int, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(classes), size=rows)
    return np.ascontiguousarray(p, dtype=np.dtype(dtype))


def contestants_for(p: np.ndarray, k: int) -> list[Contestant]:
    dtype = p.dtype.name
    ids = np.array([f"row-{i:08d}" for i in range(len(p))], dtype=object)
    id_rank = np.arange(len(p), dtype=np.int64)  # ids above are already in sorted order
    shim = ProbaShim(p)
    out = [
        Contestant(dtype, "floor", "floor", lambda: p.max(axis=1)),
        Contestant(dtype, "floor", "column max", lambda: column_max(p)),
    ]

    def ours(s: str) -> Callable[[], object]:
        return lambda: uncertainty_scores(p, s)

    def ours_top(s: str) -> Callable[[], object]:
        return lambda: top_k(uncertainty_scores(p, s), ids, k, id_rank=id_rank)

    def skal(s: str) -> Callable[[], object]:
        return lambda: skal_scores(p, method=SKAL_METHOD[s])

    def skal_top(s: str) -> Callable[[], object]:
        return lambda: np.argpartition(-skal_scores(p, method=SKAL_METHOD[s]), k - 1)[:k]

    def modal_score(s: str) -> Callable[[], object]:
        return lambda: MODAL_SCORE[s](shim, p)

    def modal_top(s: str) -> Callable[[], object]:
        return lambda: MODAL_SAMPLING[s](shim, p, n_instances=k)

    for s in STRATEGIES:
        out.append(Contestant(dtype, s, "ours", ours(s)))
        if s in SKAL_METHOD:
            out.append(Contestant(dtype, s, "skactiveml", skal(s)))
            out.append(Contestant(dtype, s, "modAL", modal_score(s)))
    for s in STRATEGIES:
        task = f"top-{k} {s}"
        out.append(Contestant(dtype, task, "ours", ours_top(s)))
        if s in SKAL_METHOD:
            out.append(Contestant(dtype, task, "skactiveml", skal_top(s)))
            out.append(Contestant(dtype, task, "modAL", modal_top(s)))
    return out


# ---------------------------------------------------------------------------------------------
# Correctness: same ranking as the peers on the same data


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Positions by descending score, ties by position (our tie-break with ids in file order)."""
    return np.lexsort((np.arange(len(scores)), -scores))


def check_rankings(p: np.ndarray, k: int) -> list[str]:
    """Assert that our rankings agree with each peer's; return one line per comparison.

    Where a peer does the same float operations as we do (``SAME_ARITHMETIC``), the orders must
    be identical. Elsewhere (entropy sums its terms in another order and ours is divided by
    ln C; modAL's margin is ``p1 - p2``, ours ``1 - (p1 - p2)``, which rounds some distinct
    margins to one value) rows whose scores differ by a rounding error may swap: the check is
    then that the peer's scores, read in our order, never go up by more than a few units in the
    last place.
    """
    lines = []
    eps = float(np.finfo(p.dtype).eps)
    ln_c = float(np.log(p.shape[1]))
    shim = ProbaShim(p)
    for s in SKAL_METHOD:
        ours = uncertainty_scores(p, s)
        our_order = descending_order(ours)
        peers = {
            "skactiveml": np.asarray(skal_scores(p, method=SKAL_METHOD[s])),
            "modAL": np.asarray(MODAL_SCORE[s](shim, p)),
        }
        for who, theirs in peers.items():
            if who == "modAL" and s in MODAL_ASCENDING:
                theirs = -theirs
            same = np.array_equal(our_order, descending_order(theirs))
            in_our_order = theirs[our_order].astype(np.float64)
            worst_rise = float(np.max(np.diff(in_our_order), initial=0.0))
            scale = ln_c if s == "entropy" else 1.0
            tolerance = 16 * eps * scale
            if (s, who) in SAME_ARITHMETIC:
                assert same, (p.dtype, s, who, "rankings differ")
            else:
                assert worst_rise <= tolerance, (p.dtype, s, who, worst_rise, tolerance)
            top_ours = set(top_k(ours, np.arange(len(p)), k).tolist())
            top_theirs = set(np.argpartition(-theirs, k - 1)[:k].tolist())
            overlap = len(top_ours & top_theirs)
            lines.append(
                f"- {p.dtype.name} {s} vs {who}: full order identical: {'yes' if same else 'no'}"
                f"; largest inversion {worst_rise:.2g} (tolerance {tolerance:.2g})"
                f"; top-{k} sets overlap {overlap}/{k}"
            )
    # modAL's sampling functions pick the same top-k rows as our top_k
    for s, sample in MODAL_SAMPLING.items():
        picked, _ = sample(shim, p, n_instances=k)
        mine = top_k(uncertainty_scores(p, s), np.arange(len(p)), k)
        overlap = len(set(mine.tolist()) & set(np.asarray(picked).tolist()))
        if s == "least_confidence":
            assert overlap == k, (p.dtype, s, overlap)
        lines.append(f"- {p.dtype.name} top-{k} {s}: modAL sampling picks {overlap}/{k} of ours")
    return lines


# ---------------------------------------------------------------------------------------------
# Memory


def peak_extra_bytes(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak - before


def memory_lines(p: np.ndarray) -> list[str]:
    shim = ProbaShim(p)
    rows = ["| dtype | strategy | ours | skactiveml | modAL |", "|---|---|---|---|---|"]
    mb = p.nbytes / 2**20

    def fmt(n: int) -> str:
        return f"{n / 2**20:.1f} MB ({n / p.nbytes:.2f}x)"

    for s in STRATEGIES:
        ours = fmt(peak_extra_bytes(lambda s=s: uncertainty_scores(p, s)))
        skal = (
            fmt(peak_extra_bytes(lambda s=s: skal_scores(p, method=SKAL_METHOD[s])))
            if s in SKAL_METHOD
            else "n/a"
        )
        mod = (
            fmt(peak_extra_bytes(lambda s=s: MODAL_SCORE[s](shim, p)))
            if s in MODAL_SCORE
            else "n/a"
        )
        rows.append(f"| {p.dtype.name} | {s} | {ours} | {skal} | {mod} |")
    return [
        f"Peak extra memory of one scoring call (tracemalloc), against the {mb:.0f} MB "
        f"{p.dtype.name} array (1.00x = one (n, C) temporary; the (n,) result alone is "
        f"{p.nbytes / p.shape[1] / 2**20:.1f} MB = {1 / p.shape[1]:.2f}x):",
        "",
        *rows,
    ]


# ---------------------------------------------------------------------------------------------
# Timing


def time_interleaved(contestants: list[Contestant], repeats: int) -> dict[int, list[float]]:
    for c in contestants:  # warm-up: imports, page faults, caches
        c.run()
    times: dict[int, list[float]] = {i: [] for i in range(len(contestants))}
    n = len(contestants)
    for rep in range(repeats):
        for j in range(n):
            i = (rep + j) % n  # round-robin, rotating start so no one always runs first
            gc.collect()
            t0 = time.perf_counter()
            contestants[i].run()
            times[i].append(time.perf_counter() - t0)
        print(f"  repetition {rep + 1}/{repeats} done", file=sys.stderr)
    return times


def table(contestants: list[Contestant], times: dict[int, list[float]]) -> list[str]:
    ms = {
        (c.dtype, c.task, c.who): 1000 * statistics.median(times[i])
        for i, c in enumerate(contestants)
    }
    lines = [
        "| dtype | task | floor ms | ours ms | ours / floor | skactiveml ms | skactiveml / ours "
        "| modAL ms | modAL / ours | target met | ours / column-max floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    seen = []
    for c in contestants:
        if c.who == "ours" and (c.dtype, c.task) not in seen:
            seen.append((c.dtype, c.task))
    for dtype, task in seen:
        floor = ms[(dtype, "floor", "floor")]
        ours = ms[(dtype, task, "ours")]
        cells = [dtype, task, f"{floor:.1f}", f"{ours:.1f}", f"{ours / floor:.2f}"]
        met = ours / floor <= TARGET_VS_FLOOR
        for who in ("skactiveml", "modAL"):
            peer = ms.get((dtype, task, who))
            if peer is None:
                cells += ["n/a", "n/a"]
            else:
                cells += [f"{peer:.1f}", f"{peer / ours:.2f}"]
                met = met and peer > ours
        cells.append("yes" if met else "**no**")
        cells.append(f"{ours / ms[(dtype, 'floor', 'column max')]:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def column_max_ms(contestants: list[Contestant], times: dict[int, list[float]]) -> dict[str, float]:
    return {
        c.dtype: 1000 * statistics.median(times[i])
        for i, c in enumerate(contestants)
        if c.who == "column max"
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7, help="repetitions (median; >= 5)")
    parser.add_argument("--dtype", choices=("both", "float32", "float64"), default="both")
    parser.add_argument("--k", type=int, default=1000, help="rows selected in the top-k rows")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error(f"--repeats must be >= 5 for a meaningful median, got {args.repeats}")
    if not 1 <= args.k <= args.rows:
        parser.error(f"--k must be in [1, --rows={args.rows}], got {args.k}")
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)

    arrays = {d: make_probabilities(args.rows, args.classes, d, args.seed) for d in dtypes}
    check = []
    memory = []
    contestants: list[Contestant] = []
    for d, p in arrays.items():
        print(f"checking rankings and memory ({d})", file=sys.stderr)
        check += check_rankings(p, args.k)
        memory += [*memory_lines(p), ""]
        contestants += contestants_for(p, args.k)
    print(f"timing {len(contestants)} contestants x {args.repeats} repetitions", file=sys.stderr)
    times = time_interleaved(contestants, args.repeats)

    print(
        f"## Scoring {args.rows:,} x {args.classes} (Dirichlet(1), seed {args.seed}), "
        f"median of {args.repeats} interleaved runs\n"
    )
    print(f"numpy {np.__version__}; target: ours / floor <= {TARGET_VS_FLOOR} and faster than both")
    print("peers (peer / ours > 1). floor = `p.max(axis=1)`.")
    floors = ", ".join(f"{d} {ms:.1f} ms" for d, ms in column_max_ms(contestants, times).items())
    print(
        "Last column: against a tighter floor, the same row maximum computed column-wise over "
        f"8,192-row blocks ({floors}).\n"
    )
    print("\n".join(table(contestants, times)))
    print()
    print("\n".join(memory))
    print("Rankings checked against the peers on the same data (asserted):\n")
    print("\n".join(check))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
