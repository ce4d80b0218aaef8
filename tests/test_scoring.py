"""Multi-label, detection and ensemble runs: loading and scores worked by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelnext.errors import RunValidationError, StrategyError
from labelnext.readers import load_run
from labelnext.scoring import Scoring, run_scores, scores_for_row, supported_strategies
from labelnext.select import Filter, ranked
from labelnext.uncertainty import aggregate_boxes, ensemble_scores, multilabel_scores

SAMPLES = Path(__file__).parents[1] / "sample_data"


# ---------------------------------------------------------------- multi-label


def test_multilabel_scores_by_hand() -> None:
    p = [[0.5, 0.9], [0.95, 0.05], [0.7, 0.7]]
    np.testing.assert_allclose(multilabel_scores(p, "margin"), [1.0, 0.1, 0.6])
    np.testing.assert_allclose(multilabel_scores(p, "margin", aggregation="mean"), [0.6, 0.1, 0.6])
    np.testing.assert_allclose(multilabel_scores(p, "least_confidence"), [1.0, 0.1, 0.6])
    np.testing.assert_allclose(multilabel_scores(p, "ratio"), [1.0, 0.05 / 0.95, 0.3 / 0.7])
    h = -(0.7 * math.log2(0.7) + 0.3 * math.log2(0.3))
    np.testing.assert_allclose(multilabel_scores(p, "entropy")[2], h)
    np.testing.assert_allclose(multilabel_scores([[0.0, 1.0]], "entropy"), [0.0], atol=1e-12)
    with pytest.raises(StrategyError, match="Unknown aggregation 'sum' for multi-label"):
        multilabel_scores(p, "margin", aggregation="sum")


def _multilabel_folder(tmp_path: Path, rows: str) -> Path:
    (tmp_path / "run.json").write_text(
        json.dumps({"task": "multilabel", "classes": ["cat", "dog"], "predictions": "p.csv"})
    )
    (tmp_path / "p.csv").write_text("data_row_id,prob_cat,prob_dog\n" + rows)
    return tmp_path


def test_multilabel_run_loads_without_a_sum_check(tmp_path: Path) -> None:
    run = load_run(_multilabel_folder(tmp_path, "a,0.9,0.8\nb,0.1,0.45\nc,0.6,0.2\n"))
    assert run.task == "multilabel"
    assert run.predicted_labels.tolist() == ["cat+dog", "(none)", "cat"]
    assert ranked(run, "margin")["data_row_id"].tolist() == ["b", "c", "a"]
    only_dog = Filter(classes=("dog",))
    assert ranked(run, "margin", flt=only_dog)["data_row_id"].tolist() == ["a"]


def test_multilabel_values_above_one_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RunValidationError, match=r"row 2, field 'prob_dog': probability above 1"):
        load_run(_multilabel_folder(tmp_path, "a,0.9,0.8\nb,0.1,1.5\n"))


def test_shipped_multilabel_sample() -> None:
    run = load_run(SAMPLES / "mnist_multilabel")
    assert run.task == "multilabel" and run.n_rows == 240
    scores = run_scores(run, Scoring("entropy", aggregation="mean"))
    assert ((scores >= 0) & (scores <= 1)).all()


# ---------------------------------------------------------------- detection


def test_aggregations_by_hand() -> None:
    values = np.array([0.2, 0.6, 0.4])
    rows = np.array([0, 0, 2])
    np.testing.assert_allclose(aggregate_boxes(values, rows, 4, how="max"), [0.6, 0, 0.4, 0])
    np.testing.assert_allclose(aggregate_boxes(values, rows, 4, how="mean"), [0.4, 0, 0.4, 0])
    np.testing.assert_allclose(
        aggregate_boxes(values, rows, 4, how="sum", max_count=2), [0.4, 0, 0.2, 0]
    )
    np.testing.assert_allclose(
        aggregate_boxes(values, rows, 4, how="topk", top_k=1), [0.6, 0, 0.4, 0]
    )
    np.testing.assert_allclose(
        aggregate_boxes(values, rows, 4, how="max", empty_score=1.0), [0.6, 1, 0.4, 1]
    )
    three = np.array([0.9, 0.1, 0.5])
    np.testing.assert_allclose(
        aggregate_boxes(three, np.array([1, 1, 1]), 2, how="topk", top_k=2), [0.0, 0.7]
    )


def _detection_file(tmp_path: Path) -> Path:
    lines = [
        {"data_row_id": "img1", "image": "1.png", "boxes": [
            {"x": 1, "y": 2, "w": 10, "h": 10, "label": "car", "score": 0.9},
            {"x": 20, "y": 2, "w": 5, "h": 5, "label": "person", "score": 0.3},
        ]},
        {"data_row_id": "img2", "image": "2.png", "boxes": []},
        {"data_row_id": "img3", "image": "3.png", "boxes": [
            {"bbox": [0, 0, 4, 4], "label": "car", "score": 0.55},
        ]},
    ]  # fmt: skip
    (tmp_path / "run.json").write_text(
        json.dumps({"task": "detection", "classes": ["car", "person"], "predictions": "p.jsonl"})
    )
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return tmp_path


def test_detection_run_scores_and_filters(tmp_path: Path) -> None:
    run = load_run(_detection_file(tmp_path))
    assert run.boxes is not None and run.boxes.n_boxes == 3
    assert run.boxes.counts.tolist() == [2, 0, 1]
    assert run.predicted_labels.tolist() == ["car", "(no boxes)", "car"]
    assert supported_strategies(run) == ("least_confidence",)
    np.testing.assert_allclose(run_scores(run, "least_confidence"), [0.7, 0.0, 0.45], rtol=1e-6)
    mean = Scoring(aggregation="mean")
    np.testing.assert_allclose(run_scores(run, mean), [0.4, 0.0, 0.45], rtol=1e-6)
    missed = Scoring(empty_score=1.0)
    assert ranked(run, missed)["data_row_id"].tolist() == ["img2", "img1", "img3"]
    cars = Scoring(classes=("car",))
    np.testing.assert_allclose(run_scores(run, cars), [0.1, 0.0, 0.45], rtol=1e-5)
    assert ranked(run, "least_confidence", flt=Filter(classes=("person",)))[
        "data_row_id"
    ].tolist() == ["img1"]
    with pytest.raises(StrategyError, match="without class probabilities.*not 'margin'"):
        run_scores(run, "margin")
    assert scores_for_row(run, 0) == pytest.approx({"least_confidence": 0.7})


def test_detection_with_box_probabilities_uses_classification_strategies(tmp_path: Path) -> None:
    line = {"data_row_id": "a", "boxes": [
        {"x": 0, "y": 0, "w": 1, "h": 1, "label": "car", "score": 0.8, "probabilities": [0.8, 0.2]},
        {"x": 0, "y": 0, "w": 1, "h": 1, "label": "car", "score": 0.6, "probabilities": [0.6, 0.4]},
    ]}  # fmt: skip
    (tmp_path / "run.json").write_text(
        json.dumps({"task": "detection", "classes": ["car", "person"], "predictions": "p.jsonl"})
    )
    (tmp_path / "p.jsonl").write_text(json.dumps(line) + "\n")
    run = load_run(tmp_path)
    np.testing.assert_allclose(run_scores(run, "margin"), [0.8], rtol=1e-6)  # 1 - (0.6 - 0.4)
    np.testing.assert_allclose(run_scores(run, Scoring("margin", aggregation="mean")), [0.6])


def test_bad_boxes_name_row_and_field(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(
        json.dumps({"task": "detection", "classes": ["car"], "predictions": "p.jsonl"})
    )
    box = {"x": 0, "y": 0, "w": 1, "h": 1, "label": "car", "score": 0.5}
    good = {"data_row_id": "a", "boxes": [box]}
    bad = {"data_row_id": "b", "boxes": [box, box | {"score": 1.5}]}
    (tmp_path / "p.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(RunValidationError, match=r"row 2, field 'boxes\[1\].score': must be a"):
        load_run(tmp_path)


# ---------------------------------------------------------------- ensembles


def test_ensemble_scores_by_hand() -> None:
    disagree = [[1.0, 0.0], [0.0, 1.0]]  # two sure members, different classes
    agree = [[0.9, 0.1], [0.9, 0.1]]
    s = np.array([disagree, agree])
    np.testing.assert_allclose(ensemble_scores(s, "bald"), [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(ensemble_scores(s, "vote_entropy"), [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(ensemble_scores(s, "variation_ratio"), [0.5, 0.0])
    np.testing.assert_allclose(ensemble_scores(s, "least_confidence"), [0.5, 0.1])
    # three members, three classes: votes 2:1:0
    t = np.array([[[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1]]])
    share = np.array([2 / 3, 1 / 3])
    vote_h = -(share * np.log(share)).sum() / math.log(3)
    np.testing.assert_allclose(ensemble_scores(t, "vote_entropy"), [vote_h])
    np.testing.assert_allclose(ensemble_scores(t, "variation_ratio"), [1 / 3])
    mean = t[0].mean(axis=0)
    h_mean = -(mean * np.log(mean)).sum()
    mean_h = np.mean([-(m * np.log(m)).sum() for m in t[0]])
    np.testing.assert_allclose(ensemble_scores(t, "bald"), [(h_mean - mean_h) / math.log(3)])


def test_ensemble_run_from_nested_parquet_and_wide_csv(tmp_path: Path) -> None:
    samples = [[[0.9, 0.1], [0.1, 0.9]], [[0.8, 0.2], [0.7, 0.3]]]
    pq.write_table(
        pa.table({"data_row_id": ["x", "y"], "probabilities": samples}), tmp_path / "e.parquet"
    )
    nested = load_run(tmp_path / "e.parquet")
    assert nested.samples is not None and nested.samples.shape == (2, 2, 2)
    assert "bald" in supported_strategies(nested)
    np.testing.assert_allclose(nested.probabilities, [[0.5, 0.5], [0.75, 0.25]])
    (tmp_path / "e.csv").write_text(
        "data_row_id,m0_prob_a,m0_prob_b,m1_prob_a,m1_prob_b,camera\n"
        "x,0.9,0.1,0.1,0.9,left\ny,0.8,0.2,0.7,0.3,right\n"
    )
    wide = load_run(tmp_path / "e.csv")
    assert wide.classes == ("a", "b")
    assert list(wide.metadata.columns) == ["camera"]
    np.testing.assert_allclose(run_scores(wide, "bald"), run_scores(nested, "bald"), rtol=1e-6)
    assert ranked(wide, "bald")["data_row_id"].tolist() == ["x", "y"]


def test_ensemble_member_rows_are_checked(tmp_path: Path) -> None:
    samples = [[[0.9, 0.1], [0.1, 0.9]], [[0.8, 0.2], [0.7, 0.7]]]
    pq.write_table(
        pa.table({"data_row_id": ["x", "y"], "probabilities": samples}), tmp_path / "e.parquet"
    )
    with pytest.raises(RunValidationError, match=r"row 2, field .*member 1: probabilities sum"):
        load_run(tmp_path / "e.parquet")


def test_classification_run_refuses_ensemble_strategies(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("data_row_id,prob_a,prob_b\nx,0.5,0.5\n")
    with pytest.raises(StrategyError, match="no ensemble members or MC-dropout samples"):
        run_scores(load_run(path), "bald")


def test_scoring_is_plain_data() -> None:
    scoring = Scoring("margin", aggregation="topk", top_k=2, classes=("car",), empty_score=1.0)
    assert scoring == Scoring(**scoring.params() | {"classes": ("car",)})
    assert json.loads(json.dumps(scoring.params()))["top_k"] == 2
    assert scoring.describe("detection") == "margin, mean of top 2 over boxes, classes car"
    with pytest.raises(StrategyError, match="empty_score must be in \\[0, 1\\], got 2"):
        Scoring(empty_score=2)
    with pytest.raises(StrategyError, match="Unknown aggregation 'median'"):
        Scoring(aggregation="median")


@pytest.mark.parametrize(
    ("options", "scoring"),
    [
        ([], Scoring()),
        (["--aggregation", "mean"], Scoring(aggregation="mean")),
        (["--empty-score", "1"], Scoring(empty_score=1.0)),
        (["--box-class", "person"], Scoring(classes=("person",))),
    ],
)
@pytest.mark.parametrize(
    "command", [["score"], ["select", "--top", "3"], ["select", "--top", "3", "--stream"]]
)
def test_cli_aggregation_options_match_the_library(
    tmp_path: Path, capsys, options: list[str], scoring: Scoring, command: list[str]
) -> None:
    """score, select in memory and select --stream all honour every scoring option.

    (select in memory once scored by the strategy name alone: a nightly job got other rows
    than the dashboard.)
    """
    from io import StringIO

    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labelnext.cli import main

    folder = _detection_file(tmp_path)
    if "--stream" in command:  # the streaming path reads Parquet: the same rows, as Parquet
        records = [json.loads(line) for line in (folder / "p.jsonl").read_text().splitlines()]
        for record in records:
            record["boxes"] = [
                {"x": b.get("x", (b.get("bbox") or [0])[0]), "y": b.get("y", 0),
                 "w": b.get("w", 4), "h": b.get("h", 4), "label": b["label"], "score": b["score"]}
                for b in record["boxes"]
            ]  # fmt: skip
        pq.write_table(pa.Table.from_pylist(records), folder / "p.parquet")
        (folder / "p.jsonl").unlink()
        config = json.loads((folder / "run.json").read_text())
        (folder / "run.json").write_text(json.dumps({**config, "predictions": "p.parquet"}))
    assert main([command[0], str(folder), *command[1:], *options]) == 0
    printed = pd.read_csv(StringIO(capsys.readouterr().out))
    expected = ranked(load_run(folder), scoring)
    assert printed["data_row_id"].tolist() == expected["data_row_id"].tolist()
    np.testing.assert_allclose(printed["score"], expected["score"], atol=1e-6)


def test_box_uncertainty_and_row_scores_honour_the_options(tmp_path: Path) -> None:
    from labelnext.scoring import box_uncertainty

    run = load_run(_detection_file(tmp_path))
    np.testing.assert_allclose(box_uncertainty(run), [0.1, 0.7, 0.45], rtol=1e-6)
    with pytest.raises(StrategyError, match="without class probabilities"):
        box_uncertainty(run, "entropy")
    mean = scores_for_row(run, 0, Scoring(aggregation="mean"))
    assert mean == pytest.approx({"least_confidence": 0.4})
    assert scores_for_row(run, 1, Scoring(empty_score=1.0)) == pytest.approx(
        {"least_confidence": 1.0}
    )
