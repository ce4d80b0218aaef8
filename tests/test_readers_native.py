"""Loading model runs: the canonical form, and the malformed corpus in tests/malformed/."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelnext.errors import LabelnextError, PathNotAllowedError, RunValidationError
from labelnext.readers import load_run

MALFORMED = Path(__file__).parent / "malformed"

# file -> (1-based row or None, field or None, words the message must contain)
CASES = {
    "missing_id_column.csv": (None, "data_row_id", "missing required column"),
    "empty_id.csv": (2, "data_row_id", "empty data_row_id"),
    "duplicate_id.csv": (3, "data_row_id", "duplicate data_row_id 'a' (first seen on row 1)"),
    "non_numeric_probability.csv": (2, "prob_cat", "not a number: 'abc'"),
    "nan_probability.csv": (3, "prob_cat", "missing or NaN value"),
    "nan_probability.parquet": (2, "prob_cat", "NaN value"),
    "infinite_probability.csv": (2, "prob_cat", "infinite value"),
    "negative_probability.csv": (2, "prob_cat", "negative value"),
    "rows_not_summing_to_one.csv": (2, "prob_cat,prob_dog", "probabilities sum to 1.3, not 1"),
    "empty.csv": (None, None, "the file is empty"),
    "header_only.csv": (None, None, "no data rows"),
    "latin1_encoding.csv": (None, None, "unreadable encoding: byte 0xe9 on line 3"),
    "bad_json_line.jsonl": (2, None, "line is not valid JSON"),
    "nan_in_jsonl.jsonl": (2, "prob_cat", "NaN value"),
    "no_predictions.csv": (None, None, "no predictions found"),
    "image_outside_roots.csv": (2, "image", "outside the allowed roots"),
    "missing_logit.csv": (2, "logit_cat", "missing or NaN value"),
    "top1_confidence_above_one.csv": (2, "confidence", "confidence above 1"),
    "ragged_row.csv": (3, None, "malformed CSV"),
    "corrupt.parquet": (None, None, "not a readable Parquet file"),
    "probabilities_wrong_length.parquet": (2, "probabilities", "holds 2 values, expected 3"),
    "class_count_mismatch": (None, "classes", "class-count mismatch: run.json names 3 classes"),
    "unknown_task": (None, "task", "unknown task 'segmentation'; known tasks: classification"),
    "broken_run_json": (2, None, "not valid JSON"),
    "duplicate_column.csv": (None, None, "duplicate column names: 'prob_a' (2 times)"),
    "duplicate_column.parquet": (None, None, "duplicate column names: 'prob_cat' (2 times)"),
    "duplicate_key.jsonl": (2, "prob_a", "the key 'prob_a' appears twice in this object"),
    "nul_in_id.csv": (2, "data_row_id", "contains a NUL character (\\x00), which the ledger"),
    "nul_in_id.parquet": (2, "data_row_id", "contains a NUL character (\\x00), which the ledger"),
    "long_id.csv": (
        1,
        "data_row_id",
        "data_row_id is 501 characters long; the ledger stores ids of at most 500 characters",
    ),
    "schema_classes_not_json.parquet": (
        None,
        "schema metadata 'labelnext.classes'",
        "not valid JSON (Expecting value",
    ),
    "schema_classes_not_strings.parquet": (
        None,
        "schema metadata 'labelnext.classes'",
        "must be a JSON list of class names (non-empty strings), got [1, 2]",
    ),
}


def test_the_corpus_has_at_least_fifteen_files() -> None:
    assert len(CASES) >= 15
    assert {p.name for p in MALFORMED.iterdir()} >= set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_names_file_row_and_field(name: str) -> None:
    row, field, words = CASES[name]
    with pytest.raises(RunValidationError) as caught:
        load_run(MALFORMED / name, allowed_roots=[MALFORMED])
    first = caught.value.problems[0]
    assert words in first.message
    assert first.row == row
    assert first.field == field
    assert name in first.file
    # the message a user sees carries all of it
    text = str(caught.value)
    assert name in text and words in text
    if row is not None:
        assert f"row {row}" in text


def test_several_problems_are_reported_at_once() -> None:
    with pytest.raises(RunValidationError) as caught:
        load_run(MALFORMED / "several_problems.csv")
    found = {(p.row, p.field) for p in caught.value.problems}
    assert (1, "data_row_id") in found  # empty id
    assert (2, "prob_dog") in found  # not a number
    assert len(caught.value.problems) >= 2


def test_problem_limit_truncates(tmp_path: Path) -> None:
    rows = "\n".join(f"r{i},abc,0.5" for i in range(100))
    path = tmp_path / "many.csv"
    path.write_text("data_row_id,prob_a,prob_b\n" + rows + "\n")
    with pytest.raises(RunValidationError, match=r"more not shown") as caught:
        load_run(path, max_problems=5)
    assert len(caught.value.problems) == 5
    assert caught.value.truncated


def test_sum_tolerance_renormalises_only_when_asked() -> None:
    path = MALFORMED / "rows_not_summing_to_one.csv"
    with pytest.raises(RunValidationError, match="sum to 1.3"):
        load_run(path)
    run = load_run(path, renormalize=True)
    assert run.probabilities is not None
    np.testing.assert_allclose(run.probabilities[1], [0.7 / 1.3, 0.6 / 1.3], rtol=1e-6)
    np.testing.assert_allclose(run.probabilities.sum(axis=1), 1.0, rtol=1e-6)


# -------------------------------------------------------------------------------------------
# Good files: every accepted form lands in the same canonical ModelRun


def _wide_csv(tmp_path: Path) -> Path:
    path = tmp_path / "wide.csv"
    path.write_text(
        "data_row_id,image,prob_cat,prob_dog,prob_bird,split,width,embedding\n"
        'r1,a.png,0.7,0.2,0.1,train,10,"[0.5, 1.0]"\n'
        'r2,b.png,0.1,0.3,0.6,val,20,"[1.5, -1.0]"\n'
        'r3,c.png,0.34,0.33,0.33,val,30,"[0, 0]"\n'
    )
    return path


def test_wide_csv_canonical_form(tmp_path: Path) -> None:
    run = load_run(_wide_csv(tmp_path))
    assert run.classes == ("cat", "dog", "bird")
    assert run.ids.tolist() == ["r1", "r2", "r3"]
    assert run.probabilities is not None and run.probabilities.dtype == np.float32
    assert run.predicted_labels.tolist() == ["cat", "bird", "cat"]
    assert run.embedding is not None and run.embedding.shape == (3, 2)
    assert list(run.metadata.columns) == ["split", "width"]
    assert run.metadata["width"].tolist() == [10, 20, 30]
    assert run.ground_truth is None
    assert len(run.content_hash) == 64


def test_numeric_looking_ids_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("data_row_id,prob_a,prob_b\n007,0.5,0.5\n10,0.2,0.8\n")
    run = load_run(path)
    assert run.ids.tolist() == ["007", "10"]


def test_same_run_from_bytes_parquet_and_jsonl(tmp_path: Path) -> None:
    csv_run = load_run(_wide_csv(tmp_path))
    table = pa.table(
        {
            "data_row_id": ["r1", "r2", "r3"],
            "image": ["a.png", "b.png", "c.png"],
            "probabilities": [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.34, 0.33, 0.33]],
        },
        metadata={"labelnext.classes": json.dumps(["cat", "dog", "bird"])},
    )
    pq.write_table(table, tmp_path / "list.parquet")
    parquet_run = load_run((tmp_path / "list.parquet").read_bytes(), filename="upload.parquet")
    lines = [
        json.dumps({"data_row_id": i, "prob_cat": p[0], "prob_dog": p[1], "prob_bird": p[2]})
        for i, p in zip(["r1", "r2", "r3"], table.column("probabilities").to_pylist(), strict=True)
    ]
    (tmp_path / "run.jsonl").write_text("\n".join(lines) + "\n")
    jsonl_run = load_run(tmp_path / "run.jsonl")
    for other in (parquet_run, jsonl_run):
        assert other.classes == csv_run.classes
        assert other.ids.tolist() == csv_run.ids.tolist()
        assert other.probabilities is not None and csv_run.probabilities is not None
        np.testing.assert_allclose(other.probabilities, csv_run.probabilities, rtol=1e-6)
    assert parquet_run.source == "upload.parquet"


def test_logits_use_a_safe_softmax(tmp_path: Path) -> None:
    path = tmp_path / "logits.csv"
    path.write_text("data_row_id,logit_a,logit_b\nx,1000,1000\ny,0,-1000\nz,2,0\n")
    run = load_run(path)
    assert run.probabilities is not None
    assert np.isfinite(run.probabilities).all()
    np.testing.assert_allclose(run.probabilities[0], [0.5, 0.5])
    np.testing.assert_allclose(run.probabilities[1], [1.0, 0.0], atol=1e-7)
    e = np.exp(2.0)
    np.testing.assert_allclose(run.probabilities[2], [e / (e + 1), 1 / (e + 1)], rtol=1e-6)


def test_top1_only_run(tmp_path: Path) -> None:
    path = tmp_path / "top1.csv"
    path.write_text("data_row_id,predicted_label,confidence\na,cat,0.9\nb,dog,0.55\n")
    run = load_run(path)
    assert run.top1_only
    assert run.classes == ("cat", "dog")
    assert run.predicted_labels.tolist() == ["cat", "dog"]


def test_run_folder_reads_run_json_and_resolves_images(tmp_path: Path) -> None:
    images = tmp_path / "run" / "imgs"
    images.mkdir(parents=True)
    (images / "a.png").write_bytes(b"x")
    (tmp_path / "run" / "run.json").write_text(
        json.dumps(
            {
                "name": "resnet-r7",
                "model": "resnet18",
                "version": "7",
                "task": "classification",
                "classes": ["dog", "cat"],
                "image_root": "imgs",
                "predictions": "p.csv",
            }
        )
    )
    (tmp_path / "run" / "p.csv").write_text(
        "data_row_id,image,prob_cat,prob_dog\na,a.png,0.9,0.1\nb,https://x.org/b.png,0.2,0.8\n"
    )
    run = load_run(tmp_path / "run", allowed_roots=[])
    assert (run.name, run.model, run.version) == ("resnet-r7", "resnet18", "7")
    assert run.classes == ("dog", "cat")  # run.json's order wins over the columns'
    assert run.probabilities is not None
    np.testing.assert_allclose(run.probabilities[0], [0.1, 0.9])
    assert run.image_location(0) == (images / "a.png").resolve()
    assert run.image_location(1) == "https://x.org/b.png"


def test_image_path_outside_roots_is_refused_at_read_time(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"predictions": "p.csv"}))
    (folder / "p.csv").write_text("data_row_id,image,prob_a,prob_b\na,ok.png,0.5,0.5\n")
    run = load_run(folder, allowed_roots=[])
    assert run.image_location(0) == (folder / "ok.png").resolve()
    # a symlink inside the image root that points outside must not escape
    (outside / "secret.png").write_bytes(b"x")
    (folder / "link.png").symlink_to(outside / "secret.png")
    (folder / "p.csv").write_text("data_row_id,image,prob_a,prob_b\na,link.png,0.5,0.5\n")
    run = load_run(folder, allowed_roots=[])
    with pytest.raises(PathNotAllowedError, match="outside the allowed roots"):
        run.image_location(0)
    # the same image is fine once its folder is an allowed root
    run = load_run(folder, allowed_roots=[outside])
    assert run.image_location(0) == (outside / "secret.png").resolve()


def test_unknown_row_and_bytes_without_name(tmp_path: Path) -> None:
    run = load_run(_wide_csv(tmp_path))
    assert run.row_index("r2") == 1
    with pytest.raises(LabelnextError, match="no data row 'nope'"):
        run.row_index("nope")
    with pytest.raises(ValueError, match="filename is required"):
        load_run(b"data_row_id,prob_a,prob_b\n")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "run.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(RunValidationError, match=r"unsupported file type '\.xlsx'"):
        load_run(path)


def test_missing_file() -> None:
    with pytest.raises(RunValidationError, match="nope.csv: file not found"):
        load_run("nope.csv")


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("missing_run_folder", "missing_run_folder: folder not found"),
        ("runs/missing/", "missing: folder not found"),
        ("missing.parquet", "missing.parquet: file not found"),
        ("folder/run.json", "run.json: file not found"),
    ],
)
def test_a_missing_path_says_not_found_not_unsupported_type(
    tmp_path: Path, given: str, words: str
) -> None:
    with pytest.raises(RunValidationError, match=words) as caught:
        load_run(str(tmp_path / given))
    assert "unsupported file type" not in str(caught.value)


def test_a_multilabel_run_may_have_one_class(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"task": "multilabel"}))
    (folder / "p.csv").write_text("data_row_id,prob_defect\na,0.9\nb,0.2\nc,0.5\n")
    run = load_run(folder)
    assert run.task == "multilabel" and run.classes == ("defect",)
    assert run.predicted_labels.tolist() == ["defect", "(none)", "defect"]


def test_the_class_count_message_names_the_task(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("data_row_id,prob_only\na,1.0\n")
    with pytest.raises(
        RunValidationError, match="field 'classes': a classification run needs >= 2 classes, got 1"
    ):
        load_run(tmp_path / "p.csv")
    (tmp_path / "run.json").write_text(json.dumps({"task": "multilabel", "classes": []}))
    (tmp_path / "p.csv").write_text("data_row_id,probabilities\na,[]\n")
    with pytest.raises(RunValidationError, match="a multi-label run needs >= 1 class, got 0"):
        load_run(tmp_path)


def test_the_schema_classes_key_is_read_when_well_formed(tmp_path: Path) -> None:
    table = pa.table(
        {"data_row_id": ["a"], "probabilities": [[0.2, 0.8]]},
        metadata={"labelnext.classes": json.dumps(["cat", "dog"])},
    )
    pq.write_table(table, tmp_path / "p.parquet")
    assert load_run(tmp_path / "p.parquet").classes == ("cat", "dog")


def test_every_duplicate_column_is_named(tmp_path: Path) -> None:
    data = b"data_row_id,prob_a,prob_b,prob_b,prob_a\nr,0.5,0.5,0.1,0.1\n"
    with pytest.raises(RunValidationError, match="'prob_a' \\(2 times\\), 'prob_b' \\(2 times\\)"):
        load_run(data, filename="upload.csv")


def test_ids_the_ledger_cannot_store_are_refused_from_every_reader(tmp_path: Path) -> None:
    # COCO: the ids are the images' file names
    folder = tmp_path / "coco"
    folder.mkdir()
    coco = {
        "images": [{"id": 1, "file_name": "ok.png"}, {"id": 2, "file_name": "b\u0000.png"}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    (folder / "coco.json").write_text(json.dumps(coco))
    (folder / "results.json").write_text("[]")
    with pytest.raises(
        RunValidationError, match="row 2, field 'data_row_id': data_row_id contains a NUL"
    ):
        load_run(folder)
    # Labelbox: data row ids and global keys
    line = {"name": "q", "answer": {"name": "a", "confidence": 0.5}, "dataRow": {"id": "x" * 600}}
    path = tmp_path / "p.ndjson"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(RunValidationError, match="data_row_id is 600 characters long"):
        load_run(path)


def test_ground_truth_is_kept_apart_from_metadata(tmp_path: Path) -> None:
    path = tmp_path / "gt.csv"
    path.write_text("data_row_id,prob_a,prob_b,ground_truth,camera\nx,0.5,0.5,a,left\n")
    run = load_run(path)
    assert run.ground_truth is not None and run.ground_truth.tolist() == ["a"]
    assert list(run.metadata.columns) == ["camera"]


def test_the_shipped_sample_run_loads() -> None:
    run = load_run(Path(__file__).parents[1] / "sample_data" / "mnist" / "run_001")
    assert run.n_rows > 1000
    assert run.classes == tuple(str(d) for d in range(10))
    location = run.image_location(0)
    assert isinstance(location, Path) and location.exists()


def test_a_folder_without_run_json_says_so(tmp_path: Path) -> None:
    with pytest.raises(RunValidationError, match="a folder without run.json"):
        load_run(tmp_path)


def test_a_parquet_file_hashes_the_same_read_from_disk_or_uploaded(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    pq.write_table(
        pa.table({"data_row_id": ["a", "b"], "prob_x": [0.2, 0.9], "prob_y": [0.8, 0.1]}), path
    )
    from_disk = load_run(path)  # memory-mapped, hashed in chunks
    uploaded = load_run(path.read_bytes(), filename="r.parquet")
    assert from_disk.content_hash == uploaded.content_hash
    (tmp_path / "empty.parquet").write_bytes(b"")
    with pytest.raises(RunValidationError, match="empty.parquet: the file is empty"):
        load_run(tmp_path / "empty.parquet")
