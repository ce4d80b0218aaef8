"""Run comparison on a tiny pair of hand-made runs, every figure worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelnext import load_run
from labelnext.compare import MOVED_COLUMNS, NO_BOXES, compare_runs
from labelnext.errors import StrategyError
from labelnext.runs import ModelRun

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def run_from_csv(text: str, name: str) -> ModelRun:
    return load_run(text.encode(), filename=f"{name}.csv")


# Run A: r1 cat .6 | r2 dog .7 | r3 cat .4 (tie with dog: the first class wins) | r4 bird .8 |
# r5 cat .5 (only in A). Run B: r1 cat .9 | r2 cat .5 | r3 dog .8 | r4 bird .8 | r6 bird .6.
RUN_A = """data_row_id,prob_cat,prob_dog,prob_bird
r1,0.6,0.3,0.1
r2,0.2,0.7,0.1
r3,0.4,0.4,0.2
r4,0.1,0.1,0.8
r5,0.5,0.25,0.25
"""
RUN_B = """data_row_id,prob_cat,prob_dog,prob_bird
r6,0.2,0.2,0.6
r4,0.1,0.1,0.8
r3,0.1,0.8,0.1
r2,0.5,0.4,0.1
r1,0.9,0.05,0.05
"""
LABELS = {"r1": "cat", "r2": "dog", "r3": "dog", "r5": "cat", "r6": "bird"}


@pytest.fixture(scope="module")
def pair() -> tuple[ModelRun, ModelRun]:
    return run_from_csv(RUN_A, "iter1"), run_from_csv(RUN_B, "iter2")


def test_per_row_confidence_and_change_on_shared_rows(pair: tuple[ModelRun, ModelRun]) -> None:
    c = compare_runs(*pair)
    assert c.shared_ids.tolist() == ["r1", "r2", "r3", "r4"]
    np.testing.assert_allclose(c.confidence_a, [0.6, 0.7, 0.4, 0.8], atol=1e-6)
    np.testing.assert_allclose(c.confidence_b, [0.9, 0.5, 0.8, 0.8], atol=1e-6)
    np.testing.assert_allclose(c.change, [0.3, -0.2, 0.4, 0.0], atol=1e-6)
    assert (c.only_in_a, c.only_in_b) == (1, 1)
    assert c.predicted_a.tolist() == ["cat", "dog", "cat", "bird"]
    assert c.predicted_b.tolist() == ["cat", "cat", "dog", "bird"]
    assert c.notes == (
        "4 shared rows; 1 only in 'iter1', 1 only in 'iter2'",
        "no labels given and neither run has a ground_truth column: no accuracy",
    )


def test_rows_that_moved_are_ranked_by_the_change(pair: tuple[ModelRun, ModelRun]) -> None:
    c = compare_runs(*pair)
    assert tuple(c.became_confident.columns) == MOVED_COLUMNS
    assert c.became_confident["data_row_id"].tolist() == ["r3", "r1"]
    np.testing.assert_allclose(c.became_confident["change"], [0.4, 0.3], atol=1e-6)
    assert c.became_uncertain["data_row_id"].tolist() == ["r2"]
    assert c.became_uncertain[["predicted_a", "predicted_b"]].values.tolist() == [["dog", "cat"]]


def test_confusion_of_old_and_new_prediction_lists_every_class(
    pair: tuple[ModelRun, ModelRun],
) -> None:
    c = compare_runs(*pair)
    expected = pd.DataFrame(
        [[1, 1, 0], [1, 0, 0], [0, 0, 1]],
        index=pd.Index(["cat", "dog", "bird"], name="predicted_a"),
        columns=pd.Index(["cat", "dog", "bird"], name="predicted_b"),
    )
    pd.testing.assert_frame_equal(c.confusion, expected)
    assert c.changed_prediction == 2


def test_per_class_mean_confidence_and_share(pair: tuple[ModelRun, ModelRun]) -> None:
    table = compare_runs(*pair).per_class
    assert table.index.tolist() == ["cat", "dog", "bird"]
    assert table["rows_a"].tolist() == [2, 1, 1] and table["rows_b"].tolist() == [2, 1, 1]
    np.testing.assert_allclose(table["share_a"], [0.5, 0.25, 0.25])
    np.testing.assert_allclose(table["mean_confidence_a"], [0.5, 0.7, 0.8], atol=1e-6)
    np.testing.assert_allclose(table["mean_confidence_b"], [0.7, 0.8, 0.8], atol=1e-6)


def test_accuracy_of_both_runs_on_labeled_rows(pair: tuple[ModelRun, ModelRun]) -> None:
    acc = compare_runs(*pair, labels=LABELS).accuracy
    assert acc.loc["a", "run"] == "iter1" and acc.loc["b", "run"] == "iter2"
    # A labeled: r1 right, r2 right, r3 wrong, r5 right; shared: r1, r2, r3
    assert acc.loc["a", "labeled_rows"] == 4 and acc.loc["a", "accuracy"] == 0.75
    assert acc.loc["a", "shared_labeled_rows"] == 3
    assert acc.loc["a", "shared_accuracy"] == pytest.approx(2 / 3)
    # B labeled: r1 right, r2 wrong, r3 right, r6 right
    assert acc.loc["b", "labeled_rows"] == 4 and acc.loc["b", "accuracy"] == 0.75
    assert acc.loc["b", "shared_accuracy"] == pytest.approx(2 / 3)


def test_how_a_batchs_rows_moved(pair: tuple[ModelRun, ModelRun]) -> None:
    c = compare_runs(*pair, labels=LABELS, batches={"b1": ["r2", "r3", "r5"], "empty": []})
    b1 = c.batches.loc["b1"]
    assert (b1["rows"], b1["in_a"], b1["in_b"], b1["in_both"], b1["labeled"]) == (3, 3, 2, 2, 3)
    assert b1["mean_confidence_a"] == pytest.approx((0.7 + 0.4 + 0.5) / 3, abs=1e-6)
    assert b1["mean_confidence_b"] == pytest.approx((0.5 + 0.8) / 2, abs=1e-6)
    assert b1["mean_change"] == pytest.approx((-0.2 + 0.4) / 2, abs=1e-6)
    assert b1["accuracy_a"] == pytest.approx(2 / 3) and b1["accuracy_b"] == 0.5
    assert c.batches.loc["empty", "rows"] == 0 and np.isnan(c.batches.loc["empty", "accuracy_a"])


def test_ground_truth_columns_stand_in_for_labels() -> None:
    with_truth = RUN_A.replace("prob_bird\n", "prob_bird,ground_truth\n")
    lines = with_truth.splitlines()
    truth = ["", "cat", "", "dog", "", ""]  # r1 cat (A right), r3 dog (A wrong)
    a = run_from_csv(
        "\n".join(
            f"{ln},{t}" if i else ln for i, (ln, t) in enumerate(zip(lines, truth, strict=True))
        )
        + "\n",
        "gt",
    )
    c = compare_runs(a, run_from_csv(RUN_B, "iter2"))
    assert c.accuracy.loc["a", "labeled_rows"] == 2 and c.accuracy.loc["a", "accuracy"] == 0.5
    assert c.accuracy.loc["b", "labeled_rows"] == 2 and c.accuracy.loc["b", "accuracy"] == 1.0


def test_runs_with_no_shared_rows_say_so_and_compare_per_class() -> None:
    a = run_from_csv(RUN_A, "iter1")
    other = run_from_csv(RUN_B.replace("\nr", "\ns"), "other")
    c = compare_runs(a, other)
    assert len(c.shared_ids) == 0 and len(c.change) == 0
    assert c.became_confident.empty and c.became_uncertain.empty
    assert int(c.confusion.to_numpy().sum()) == 0
    assert any("share no data rows" in note for note in c.notes)
    # per class over every row of each run: A predicts cat for r1, r3, r5
    assert c.per_class.loc["cat", "rows_a"] == 3
    assert c.per_class.loc["cat", "mean_confidence_a"] == pytest.approx(0.5, abs=1e-6)


def test_runs_with_different_classes_compare_over_every_class() -> None:
    a = run_from_csv(RUN_A, "iter1")
    fish = run_from_csv(RUN_B.replace("prob_bird", "prob_fish"), "fishy")
    c = compare_runs(a, fish, labels=LABELS)
    assert c.shared_classes == ("cat", "dog")
    assert c.confusion.index.tolist() == ["cat", "dog", "bird", "fish"]
    assert c.confusion.loc["bird", "fish"] == 1  # r4: bird in A, fish in B
    assert any("only in 'iter1': bird; only in 'fishy': fish" in note for note in c.notes)
    assert np.isnan(c.per_class.loc["fish", "mean_confidence_a"])


def test_a_strategy_one_run_lacks_falls_back_to_least_confidence() -> None:
    top1 = run_from_csv("data_row_id,predicted_label,confidence\nr1,cat,0.9\n", "top1")
    c = compare_runs(run_from_csv(RUN_A, "iter1"), top1, scoring="margin")
    assert c.scoring.strategy == "least_confidence"
    assert any("margin is not defined for 'top1'" in note for note in c.notes)
    np.testing.assert_allclose(c.change, [0.3], atol=1e-6)
    with pytest.raises(StrategyError, match="Unknown strategy 'sure'"):
        compare_runs(run_from_csv(RUN_A, "a"), top1, scoring="sure")
    with pytest.raises(TypeError, match="run_b must be a ModelRun, got str"):
        compare_runs(run_from_csv(RUN_A, "a"), "run_002")  # type: ignore[arg-type]


def test_multilabel_accuracy_is_an_exact_match_of_the_label_set(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(
        '{"task": "multilabel", "classes": ["cat", "dog"], "predictions": "p.csv"}'
    )
    (tmp_path / "p.csv").write_text("data_row_id,prob_cat,prob_dog\nm1,0.9,0.8\nm2,0.9,0.1\n")
    a = load_run(tmp_path)
    # at threshold 0.5: m1 predicts {cat, dog} (right), m2 {cat} (wrong)
    c = compare_runs(a, a, labels={"m1": ("cat", "dog"), "m2": ("cat", "dog")})
    assert c.accuracy.loc["a", "accuracy"] == 0.5
    assert c.changed_prediction == 0 and not c.change.any()


def test_detection_runs_count_images_without_boxes() -> None:
    run = load_run(SAMPLE / "mnist_detect")
    c = compare_runs(run, run)
    assert NO_BOXES in c.confusion.index
    assert int(np.trace(c.confusion.to_numpy())) == run.n_rows
    assert c.changed_prediction == 0


def test_the_sample_iterations() -> None:
    r1, r2 = load_run(SAMPLE / "mnist" / "run_001"), load_run(SAMPLE / "mnist" / "run_002")
    batch = (SAMPLE / "mnist" / "batch_001_ids.txt").read_text().split()
    truth = pd.read_csv(SAMPLE / "mnist" / "ground_truth.csv", dtype=str)
    c = compare_runs(
        r1,
        r2,
        labels=dict(zip(truth["data_row_id"], truth["label"], strict=True)),
        batches={"batch 1": batch},
    )
    assert (len(c.shared_ids), c.only_in_a, c.only_in_b) == (4575, 300, 0)
    # run 2 learned from 300 more labels: more accurate and surer on the rows both predict
    assert c.accuracy.loc["b", "shared_accuracy"] > c.accuracy.loc["a", "shared_accuracy"]
    assert c.change.mean() > 0
    assert c.batches.loc["batch 1", "in_b"] == 0
    assert c.batches.loc["batch 1", "accuracy_a"] == pytest.approx(0.37)
    assert any("none of its 300 rows is in 'mnist-logreg-r2'" in note for note in c.notes)
