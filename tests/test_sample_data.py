"""The shipped sample data is consistent, unedited and rebuilt identically by its script."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
MNIST = SAMPLE_DATA / "mnist"
DETECT = SAMPLE_DATA / "mnist_detect"
MULTILABEL = SAMPLE_DATA / "mnist_multilabel"
RUNS = ("run_001", "run_002")
CLASSES = [str(k) for k in range(10)]


def load_builder() -> ModuleType:
    """Import sample_data/make_sample.py by path (sample_data is not a package)."""
    spec = importlib.util.spec_from_file_location("make_sample", SAMPLE_DATA / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses look their module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_ids(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def read_run(folder: Path) -> tuple[dict[str, object], pd.DataFrame]:
    run_json = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return run_json, pd.read_parquet(folder / str(run_json["predictions"]))


@pytest.fixture(scope="module")
def ground_truth() -> pd.DataFrame:
    return pd.read_csv(MNIST / "ground_truth.csv", dtype=str)


@pytest.mark.parametrize("run", RUNS)
def test_run_json_names_the_agreed_fields(run: str) -> None:
    run_json, _ = read_run(MNIST / run)
    assert run_json["task"] == "classification"
    assert run_json["classes"] == CLASSES
    for key in ("name", "model", "version", "image_root", "predictions", "created"):
        assert isinstance(run_json[key], str) and run_json[key]


@pytest.mark.parametrize("run", RUNS)
def test_every_referenced_image_exists_and_is_a_28px_png(run: str) -> None:
    run_json, predictions = read_run(MNIST / run)
    image_root = (MNIST / run / str(run_json["image_root"])).resolve()
    assert image_root.is_relative_to(SAMPLE_DATA)
    missing = [name for name in predictions["image"] if not (image_root / name).is_file()]
    assert missing == []
    first = (image_root / predictions["image"].iloc[0]).read_bytes()
    assert first.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("run", RUNS)
def test_probabilities_are_float32_and_sum_to_one(run: str) -> None:
    _, predictions = read_run(MNIST / run)
    probabilities = predictions[[f"prob_{c}" for c in CLASSES]].to_numpy()
    assert probabilities.dtype == np.float32
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert predictions["data_row_id"].is_unique


@pytest.mark.parametrize("run", RUNS)
def test_ground_truth_is_kept_out_of_the_predictions(run: str, ground_truth) -> None:
    _, predictions = read_run(MNIST / run)
    assert not {"ground_truth", "label", "labels", "target", "y"} & set(predictions.columns)
    assert set(predictions["data_row_id"]) <= set(ground_truth["data_row_id"])


def test_runs_follow_one_labeling_iteration(ground_truth) -> None:
    seed = read_ids(MNIST / "seed_ids.txt")
    labeled_1 = read_ids(MNIST / "run_001" / "labeled_ids.txt")
    labeled_2 = read_ids(MNIST / "run_002" / "labeled_ids.txt")
    queried = read_ids(MNIST / "run_002" / "queried_ids.txt")
    pool_1 = read_run(MNIST / "run_001")[1]
    pool_2 = read_run(MNIST / "run_002")[1]
    everything = set(ground_truth["data_row_id"])

    assert sorted(labeled_1) == sorted(seed)
    assert set(pool_1["data_row_id"]) == everything - set(seed)
    assert set(queried) <= set(pool_1["data_row_id"]) and len(set(queried)) == len(queried)
    assert set(labeled_2) == set(seed) | set(queried)
    assert set(pool_2["data_row_id"]) == set(pool_1["data_row_id"]) - set(queried)

    # Run 2's training set took run 1's least confident rows.
    confidence = pool_1.set_index("data_row_id")[[f"prob_{c}" for c in CLASSES]].max(axis=1)
    assert confidence[queried].max() <= confidence.drop(queried).min()


def test_shipped_batch_is_run_1s_top_300_under_least_confidence(ground_truth) -> None:
    """Submitting run 1's top 300 (least confidence, no exclusions) gives exactly the shipped
    batch, whose labels are the true ones that run 2 was trained with."""
    from labelnext import load_run, ranked

    shipped = read_ids(MNIST / "batch_001_ids.txt")
    top = ranked(load_run(MNIST / "run_001"), "least_confidence", k=300)
    assert len(shipped) == 300 and set(shipped) == set(top["data_row_id"])
    # The script sorts by the top probability, labelnext by 1 - p1 in float32, where two of
    # these rows tie: the order may differ within that tie, never the set.
    assert shipped == read_ids(MNIST / "run_002" / "queried_ids.txt")

    labels = pd.read_csv(MNIST / "batch_001_labels.csv", dtype=str)
    assert list(labels.columns) == ["data_row_id", "label", "labeled_by", "labeled_at"]
    assert labels["data_row_id"].tolist() == shipped
    truth = ground_truth.set_index("data_row_id")["label"]
    assert labels["label"].tolist() == truth[shipped].tolist()
    run_2_training = set(read_ids(MNIST / "run_002" / "labeled_ids.txt"))
    assert set(shipped) <= run_2_training
    assert not set(shipped) & set(read_run(MNIST / "run_002")[1]["data_row_id"])


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def test_detection_results_refer_to_shipped_images_and_categories() -> None:
    run_json = read_json(DETECT / "run.json")
    assert run_json["task"] == "detection" and run_json["classes"] == CLASSES
    coco = read_json(DETECT / str(run_json["coco"]))
    results = read_json(DETECT / str(run_json["predictions"]))
    assert "annotations" not in coco  # the true boxes live in ground_truth.json only
    assert [c["name"] for c in coco["categories"]] == CLASSES
    images = {image["id"]: image for image in coco["images"]}
    for image in images.values():
        assert (DETECT / str(run_json["image_root"]) / image["file_name"]).is_file()
    category_ids = {c["id"] for c in coco["categories"]}
    for result in results:
        image = images[result["image_id"]]
        x, y, w, h = result["bbox"]
        assert 0 <= x and 0 <= y and w > 0 and h > 0
        assert x + w <= image["width"] and y + h <= image["height"]
        assert result["category_id"] in category_ids and 0 <= result["score"] <= 1
        assert set(result) == {"image_id", "category_id", "bbox", "score"}
    truth = read_json(DETECT / str(run_json["ground_truth"]))
    assert {a["image_id"] for a in truth["annotations"]} == set(images)


def test_multilabel_run_scores_the_detection_canvases() -> None:
    run_json, predictions = read_run(MULTILABEL)
    assert run_json["task"] == "multilabel" and run_json["classes"] == CLASSES
    probabilities = predictions[[f"prob_{c}" for c in CLASSES]].to_numpy()
    assert probabilities.dtype == np.float32
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    image_root = MULTILABEL / str(run_json["image_root"])
    assert all((image_root / name).is_file() for name in predictions["image"])
    coco = read_json(DETECT / "coco.json")
    assert list(predictions["image"]) == [image["file_name"] for image in coco["images"]]
    truth = pd.read_csv(MULTILABEL / str(run_json["ground_truth"]))
    assert list(truth["data_row_id"]) == list(predictions["data_row_id"])
    assert not {"label", "ground_truth"} & set(predictions.columns)


def test_shipped_files_match_the_manifest() -> None:
    builder = load_builder()
    recorded = (SAMPLE_DATA / builder.MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    assert builder.manifest_lines(SAMPLE_DATA) == recorded


@pytest.mark.slow
def test_rebuild_gives_the_shipped_predictions(tmp_path: Path) -> None:
    builder = load_builder()
    builder.build(tmp_path, write_images=False)
    for run in RUNS:
        shipped = pd.read_parquet(MNIST / run / "predictions.parquet")
        rebuilt = pd.read_parquet(tmp_path / "mnist" / run / "predictions.parquet")
        # Exact on this machine; a tolerance keeps a different BLAS from failing the test.
        pd.testing.assert_frame_equal(
            shipped.drop(columns="embedding"), rebuilt.drop(columns="embedding"), atol=1e-6
        )
        np.testing.assert_allclose(
            np.stack(shipped["embedding"]), np.stack(rebuilt["embedding"]), atol=1e-4
        )
        assert (MNIST / run / "run.json").read_bytes() == (
            tmp_path / "mnist" / run / "run.json"
        ).read_bytes()
    for name in (
        "ground_truth.csv",
        "seed_ids.txt",
        "run_002/queried_ids.txt",
        "batch_001_ids.txt",
        "batch_001_labels.csv",
    ):
        assert (MNIST / name).read_bytes() == (tmp_path / "mnist" / name).read_bytes()

    shipped_results = read_json(DETECT / "results.json")
    rebuilt_results = read_json(tmp_path / "mnist_detect" / "results.json")
    assert [(r["image_id"], r["category_id"], r["bbox"]) for r in shipped_results] == [
        (r["image_id"], r["category_id"], r["bbox"]) for r in rebuilt_results
    ]
    np.testing.assert_allclose(
        [r["score"] for r in shipped_results], [r["score"] for r in rebuilt_results], atol=1e-5
    )
    for name in ("coco.json", "ground_truth.json"):
        assert (DETECT / name).read_bytes() == (tmp_path / "mnist_detect" / name).read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(MULTILABEL / "predictions.parquet").drop(columns="embedding"),
        pd.read_parquet(tmp_path / "mnist_multilabel" / "predictions.parquet").drop(
            columns="embedding"
        ),
        atol=1e-6,
    )
