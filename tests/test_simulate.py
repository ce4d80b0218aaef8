"""labelnext.simulate: the protocol, its statistics, its verdicts and its errors."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from labelnext import load_run
from labelnext.errors import SimulationCancelledError, SimulationError
from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.simulate import (
    Progress,
    RoundContext,
    SimulationData,
    SimulationResult,
    draw_seed,
    paired_bootstrap,
    parse_strategy,
    simulate,
    simulation_data,
)

MNIST = SAMPLE_DATA_DIR / "mnist"


def blobs(n_per: tuple[int, ...] = (240, 30, 30, 30, 30), seed: int = 0) -> SimulationData:
    """Five 2-D Gaussian classes, one common and four rare."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [4, 0], [0, 4], [-4, 0], [0, -4]], dtype=float)
    x = np.concatenate([rng.normal(c, 1.0, (n, 2)) for c, n in zip(centres, n_per, strict=False)])
    y = np.concatenate([[f"c{i}"] * n for i, n in enumerate(n_per)])
    return SimulationData.from_arrays(x, y)


def oracle(context: RoundContext) -> np.ndarray:
    """Told the labels: each pick goes to the true class with the fewest labels so far."""
    n_classes = int(context.pool_labels.max()) + 1
    counts = np.bincount(context.pool_labels[context.labeled], minlength=n_classes).astype(float)
    truth = context.pool_labels[context.unlabeled]
    taken = np.zeros(len(truth), dtype=bool)
    picked = []
    for _ in range(context.k):
        for c in np.argsort(counts, kind="stable"):
            rows = np.flatnonzero((truth == c) & ~taken)
            if len(rows):
                picked.append(rows[0])
                taken[rows[0]] = True
                counts[c] += 1
                break
    return np.array(picked)


SMALL = {"seeds": 6, "batch": 5, "budget": 50, "initial": 5}


def hand_rolled_random(data: SimulationData, seed: int, *, batch: int, budget: int, initial: int):
    """The documented protocol, written out: split once, draw, label in order, refit."""
    classes, y = np.unique(data.labels.astype(str), return_inverse=True)
    n_test = max(len(classes), round(0.2 * data.n_rows))
    pool, test = train_test_split(
        np.arange(data.n_rows),
        test_size=n_test,
        stratify=y,
        random_state=int(np.random.default_rng([0, 0]).integers(2**31)),
    )
    pool, test = np.sort(pool), np.sort(test)
    rng = np.random.default_rng([0, 1, seed])
    first = rng.choice(len(pool), initial, replace=False)
    assert len(np.unique(y[pool][first])) >= 2  # else the protocol swaps a draw
    order = rng.permutation(np.setdiff1d(np.arange(len(pool)), first))
    labeled = list(first)
    accuracy = []
    while True:
        model = LogisticRegression(C=1.0, max_iter=1000).fit(
            data.features[pool][labeled], y[pool][labeled]
        )
        accuracy.append(float((model.predict(data.features[test]) == y[test]).mean()))
        k = min(batch, budget - len(labeled))
        if k <= 0:
            return accuracy
        labeled += list(order[len(labeled) - initial :][:k])


def test_random_curve_equals_a_hand_rolled_loop() -> None:
    data = blobs()
    result = simulate(data, strategies=["random"], warm_start=False, **SMALL | {"seeds": 2})
    for seed in (0, 1):
        ours = result.curves[result.curves["seed"] == seed]
        expected = hand_rolled_random(data, seed, batch=5, budget=50, initial=5)
        assert ours["labels"].tolist() == list(range(5, 51, 5))
        assert ours["accuracy"].tolist() == pytest.approx(expected, abs=1e-12)


def test_the_simulation_is_deterministic_under_its_seeds() -> None:
    data = blobs()
    one = simulate(
        data, strategies=["random", "margin", "auto"], seeds=2, batch=5, budget=25, initial=5
    )
    two = simulate(
        data, strategies=["random", "margin", "auto"], seeds=2, batch=5, budget=25, initial=5
    )
    pd.testing.assert_frame_equal(one.curves, two.curves)
    other = simulate(
        data,
        strategies=["random", "margin", "auto"],
        seeds=2,
        batch=5,
        budget=25,
        initial=5,
        root_seed=1,
    )
    assert not one.curves["accuracy"].equals(other.curves["accuracy"])


def test_an_oracle_beats_random_and_the_verdict_says_so() -> None:
    result = simulate(blobs(), strategies=["random", ("oracle", oracle)], **SMALL)
    row = result.summary().set_index("strategy").loc["oracle"]
    assert row["savings_low"] > 0
    assert row["verdict"].startswith("saves ")
    assert result.winner() == "oracle"
    assert result.verdict().startswith("oracle saves ")
    assert "95% interval" in result.verdict()


def test_a_strategy_identical_to_random_gets_no_reliable_difference() -> None:
    data = blobs()

    def same_as_random(context: RoundContext) -> np.ndarray:
        _, order = draw_seed(context.pool_labels, SMALL["initial"], seed=context.repetition)
        start = len(context.labeled) - SMALL["initial"]
        return np.searchsorted(context.unlabeled, order[start:][: context.k])

    result = simulate(data, strategies=["random", ("copy", same_as_random)], **SMALL)
    curves = result.curves.set_index(["seed", "round"])
    pd.testing.assert_series_equal(
        curves[curves["strategy"] == "copy"]["accuracy"],
        curves[curves["strategy"] == "random"]["accuracy"],
    )
    row = result.summary().set_index("strategy").loc["copy"]
    assert (row["savings"], row["savings_low"], row["savings_high"]) == (0.0, 0.0, 0.0)
    assert row["verdict"].startswith("no reliable difference from random at this budget")
    assert result.winner() is None
    assert result.verdict().startswith("No reliable difference from random at this budget")


def test_cancel_stops_within_one_round() -> None:
    cancel = threading.Event()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.done == 3:
            cancel.set()

    with pytest.raises(SimulationCancelledError, match="cancelled after 4 round") as caught:
        simulate(
            blobs(), strategies=["random", "margin"], progress=progress, cancel=cancel, **SMALL
        )
    assert caught.value.rounds_done == 4
    assert [p.done for p in seen] == [0, 1, 2, 3]
    assert seen[0] == Progress(seed=0, strategy="random", round=0, n_rounds=10, done=0, total=120)


def test_progress_reaches_the_total_and_names_seed_and_strategy() -> None:
    seen: list[Progress] = []
    simulate(
        blobs(),
        strategies=["random", "margin"],
        seeds=2,
        batch=5,
        budget=15,
        initial=5,
        progress=seen.append,
    )
    assert seen[-1].fraction == 1.0
    assert {(p.seed, p.strategy) for p in seen} == {
        (s, n) for s in (0, 1) for n in ("random", "margin")
    }


def test_every_batch_method_and_uncertainty_strategy_runs() -> None:
    strategies = [
        "random",
        "least_confidence",
        "margin",
        "ratio",
        "entropy",
        "top",
        "diverse",
        "cluster",
        "typical",
        "auto",
        "diverse:entropy",
    ]
    result = simulate(blobs(), strategies=strategies, seeds=2, batch=5, budget=20, initial=5)
    assert result.strategies == tuple(strategies)
    table = result.summary()
    assert table["strategy"].tolist() == strategies
    assert set(result.curves["method"]) >= {"initial", "random", "top", "diverse", "cluster"}
    auto = result.curves[(result.curves["strategy"] == "auto") & (result.curves["round"] > 0)]
    assert set(auto["method"]) <= {"typical", "cluster"}


def test_bands_hold_median_and_quantiles_over_seeds() -> None:
    result = simulate(
        blobs(), strategies=["random", "margin"], seeds=4, batch=5, budget=15, initial=5
    )
    bands = result.bands()
    one = result.curves[(result.curves["strategy"] == "margin") & (result.curves["labels"] == 10)]
    row = bands[(bands["strategy"] == "margin") & (bands["labels"] == 10)].iloc[0]
    assert row["n_seeds"] == 4
    assert row["accuracy_median"] == pytest.approx(one["accuracy"].median())
    assert row["accuracy_low"] == pytest.approx(one["accuracy"].quantile(0.25))
    assert row["accuracy_high"] == pytest.approx(one["accuracy"].quantile(0.75))
    assert row["accuracy_low"] <= row["accuracy_median"] <= row["accuracy_high"]
    assert 0 <= row["macro_f1_median"] <= 1


def test_a_target_never_reached_is_said_with_the_numbers() -> None:
    result = simulate(
        blobs(), strategies=["random"], seeds=2, batch=5, budget=10, initial=5, target=1.0
    )
    table = result.summary().set_index("strategy")
    if table.loc["random", "reached"] == 2:
        pytest.skip("both seeds happened to reach full-pool accuracy")
    assert "Not reached within 10 labels in some seeds: random " in result.verdict()
    assert "within 10 labels" in result.verdict()


def test_any_estimator_with_predict_proba() -> None:
    result = simulate(
        blobs(),
        strategies=["random", "margin"],
        seeds=2,
        batch=5,
        budget=15,
        initial=5,
        estimator=GaussianNB(),
    )
    assert result.settings.estimator == "GaussianNB()"
    assert result.curves["accuracy"].between(0, 1).all()
    with pytest.raises(SimulationError, match=r"estimator object has no fit\(\); simulate needs"):
        simulate(blobs(), seeds=1, batch=5, budget=15, initial=5, estimator=object())


def test_warm_start_gives_the_same_curves_within_the_solver_tolerance() -> None:
    data = blobs()
    cold = simulate(
        data, strategies=["random"], seeds=2, batch=5, budget=30, initial=5, warm_start=False
    )
    warm = simulate(
        data, strategies=["random"], seeds=2, batch=5, budget=30, initial=5, warm_start=True
    )
    assert np.abs(cold.curves["accuracy"] - warm.curves["accuracy"]).max() <= 0.02


def test_parallel_runs_give_the_serial_results() -> None:
    data = blobs()
    serial = simulate(data, strategies=["random", "margin"], seeds=2, batch=5, budget=15, initial=5)
    parallel = simulate(
        data, strategies=["random", "margin"], seeds=2, batch=5, budget=15, initial=5, n_jobs=2
    )
    pd.testing.assert_frame_equal(serial.curves, parallel.curves)


def test_a_result_survives_its_json_form() -> None:
    result = simulate(
        blobs(), strategies=["random", "margin"], seeds=2, batch=5, budget=15, initial=5
    )
    again = SimulationResult.from_dict(result.to_dict())
    pd.testing.assert_frame_equal(result.curves, again.curves, check_dtype=False)
    assert again.verdict() == result.verdict()
    assert again.settings == result.settings


def test_paired_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = [0.1, 0.3, 0.2, 0.5, 0.4]
    mean, low, high = paired_bootstrap(values, seed=3)
    assert (mean, low, high) == paired_bootstrap(values, seed=3)
    assert low <= mean <= high
    assert mean == pytest.approx(0.3)
    assert all(np.isnan(paired_bootstrap([])))  # nothing to estimate


# -- strategies and parameters ------------------------------------------------------------------


def test_strategy_names_parse() -> None:
    assert parse_strategy("random") == ("random", "")
    assert parse_strategy("margin") == ("top", "margin")
    assert parse_strategy("auto") == ("auto", "margin")
    assert parse_strategy("cluster:entropy") == ("cluster", "entropy")
    with pytest.raises(SimulationError, match=r"unknown strategy 'bald'; valid: random, "):
        parse_strategy("bald")
    with pytest.raises(SimulationError, match="unknown strategy 'diverse:nope'"):
        parse_strategy("diverse:nope")


def test_random_is_always_the_baseline() -> None:
    result = simulate(blobs(), strategies=["margin"], seeds=2, batch=5, budget=15, initial=5)
    assert result.strategies == ("random", "margin")
    with pytest.raises(SimulationError, match="strategy 'margin' is listed twice"):
        simulate(blobs(), strategies=["margin", "margin"], seeds=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 1000}, r"budget 1,000 is larger than the pool of 288 rows \(360 labeled"),
        ({"budget": 20, "initial": 20}, "budget 20 leaves no round: it must be at least"),
        ({"seeds": 0}, "seeds must be an integer >= 1, got 0"),
        ({"batch": 0}, "batch must be an integer >= 1, got 0"),
        ({"initial": 1}, "initial must be an integer >= 2, got 1"),
        ({"target": 1.5}, r"target must be in \(0, 1\]"),
        ({"band": (0.8, 0.2)}, "band must be two quantiles"),
        ({"test_fraction": 1.0}, r"test_fraction must be in \(0, 1\)"),
    ],
)
def test_bad_parameters_are_refused_with_the_numbers(kwargs: dict, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        simulate(blobs(), **{"seeds": 1, "batch": 5, "budget": 20, "initial": 5} | kwargs)


def test_one_class_is_refused() -> None:
    data = SimulationData.from_arrays(np.zeros((50, 2)), ["a"] * 50)
    with pytest.raises(SimulationError, match="All 50 labeled rows of 'arrays' are of one class"):
        simulate(data, seeds=1)


def test_too_few_labeled_rows_are_refused_with_the_numbers() -> None:
    data = blobs((10, 10))
    with pytest.raises(
        SimulationError,
        match=r"Too few labeled rows: 20 labeled rows give a test set of 4 and a pool of 16, but "
        r"the initial set \(20\) and one batch \(50\) need 70",
    ):
        simulate(data, seeds=1)


def test_a_class_with_one_row_is_named() -> None:
    data = SimulationData.from_arrays(
        np.arange(40.0).reshape(20, 2), ["a"] * 10 + ["b"] * 9 + ["c"]
    )
    with pytest.raises(SimulationError, match=r"at least 2 labeled rows per class; 'c' \(1\) has"):
        simulate(data, seeds=1)


def test_a_custom_strategy_that_returns_nonsense_is_named() -> None:
    with pytest.raises(SimulationError, match=r"strategy 'bad' returned 1 position\(s\); it must"):
        simulate(
            blobs(), strategies=[("bad", lambda c: [0])], seeds=1, batch=5, budget=15, initial=5
        )


# -- from a run ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_run():
    return load_run(MNIST / "run_001")


def test_the_shipped_mnist_run_simulates_out_of_the_box(mnist_run) -> None:
    data = simulation_data(mnist_run)
    assert data.n_rows == 4875 and data.features.shape == (4875, 16)
    assert data.source == "run"
    truth = pd.read_csv(MNIST / "ground_truth.csv", dtype=str).set_index("data_row_id")["label"]
    assert (truth[data.ids].to_numpy() == data.labels).all()
    result = simulate(data, strategies=["random", "margin"], seeds=2, batch=100, budget=220)
    assert result.n_pool == 3900 and result.n_test == 975
    assert 0.8 < result.full_accuracy < 0.95


def test_labels_given_as_a_mapping_win_and_unknown_ids_are_counted(mnist_run) -> None:
    labels = {str(i): "even" if int(i[-1]) % 2 == 0 else "odd" for i in mnist_run.ids[:300]}
    labels["not-a-row"] = "odd"
    data = simulation_data(mnist_run, labels)
    assert data.n_rows == 300 and data.unmatched == 1
    assert set(data.labels) == {"even", "odd"}


def test_the_ground_truth_column_is_used(mnist_run) -> None:
    truth = np.array(["x" if i % 2 else "y" for i in range(mnist_run.n_rows)], dtype=object)
    truth[:10] = None
    data = simulation_data(dataclasses.replace(mnist_run, ground_truth=truth))
    assert data.n_rows == mnist_run.n_rows - 10


def test_a_run_without_labels_says_how_to_add_them(mnist_run, tmp_path: Path) -> None:
    bare = dataclasses.replace(mnist_run, source=str(tmp_path))
    with pytest.raises(
        SimulationError, match=r"has no labels to simulate with: add a 'ground_truth'"
    ):
        simulation_data(bare)
    with pytest.raises(SimulationError, match=r"None of the 1 labels .* is for a row of run"):
        simulation_data(bare, {"elsewhere": "1"})


def test_a_run_without_embedding_or_images_says_what_is_missing(mnist_run) -> None:
    bare = dataclasses.replace(mnist_run, embedding=None, images=None)
    with pytest.raises(SimulationError, match=r"no 'embedding' column and no 'image' column.*"):
        simulation_data(bare)


def test_the_pixel_fallback_stands_in_for_a_missing_embedding(mnist_run, tmp_path: Path) -> None:
    n = 60
    small = dataclasses.replace(
        mnist_run,
        ids=mnist_run.ids[:n],
        probabilities=mnist_run.probabilities[:n],
        metadata=mnist_run.metadata.iloc[:n],
        images=mnist_run.images[:n],
        embedding=None,
        content_hash="small-" + mnist_run.content_hash,
        presorted_id_rank=None,
    )
    data = simulation_data(small, home=tmp_path)
    assert data.source.startswith("pixels-16x16-pca")
    assert data.features.shape[0] == n


def test_a_multilabel_run_is_refused() -> None:
    run = load_run(SAMPLE_DATA_DIR / "mnist_multilabel")
    with pytest.raises(SimulationError, match="is a multilabel run; simulate replays single-label"):
        simulation_data(run)
