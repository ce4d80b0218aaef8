"""Foreign prediction files: COCO results, YOLO txt folders, Labelbox NDJSON.

Each reader is checked against its own tool where one exists (pycocotools' ``loadRes``; files
written by the labelbox SDK's serializer), against rankings worked out by hand, through the CLI,
and on the malformed corpus in ``tests/malformed_formats/``.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from readers_fixtures import (
    BOXES,
    CHECKLIST,
    COCO,
    COCO_RESULTS,
    LABELBOX_DIR,
    LABELBOX_KINDS,
    RADIO,
    serialize_labelbox,
    write_coco,
    write_yolo,
)

from labelnext.cli import main
from labelnext.errors import RunValidationError
from labelnext.readers import detect_format, load_run, locate_run
from labelnext.runs import ModelRun
from labelnext.scoring import Scoring, run_scores

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DETECT = ROOT / "sample_data" / "mnist_detect"
MALFORMED = Path(__file__).parent / "malformed_formats"
COCO_RUN_JSON = {"format": "coco", "coco": "coco.json", "predictions": "results.json"}


def _load(path: Path, tmp_path: Path | None = None) -> ModelRun:
    roots = [ROOT] + ([tmp_path] if tmp_path is not None else [])
    return load_run(path, allowed_roots=roots)


def _most_uncertain(run: ModelRun, scoring: Scoring) -> str:
    """The row to label first: highest score, ties by data_row_id."""
    scores = run_scores(run, scoring)
    order = np.lexsort((run.ids.astype(str), -scores))
    return str(run.ids[order[0]])


def _cli_top(capsys: pytest.CaptureFixture[str], path: Path, top: int = 1) -> pd.DataFrame:
    capsys.readouterr()
    assert main(["select", str(path), "--top", str(top)]) == 0
    return pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"data_row_id": str})


# --------------------------------------------------------------------------------------------
# COCO


def _pycocotools_boxes(coco_file: Path, results_file: Path) -> dict[str, list[tuple]]:
    """Per image file_name: (bbox, score, category name) of each result, as pycocotools reads."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO as PyCOCO

    gt = PyCOCO(str(coco_file))
    dt = gt.loadRes(str(results_file))
    out: dict[str, list[tuple]] = {}
    for image_id, image in gt.imgs.items():
        anns = dt.loadAnns(dt.getAnnIds(imgIds=[image_id]))
        out[image["file_name"]] = [
            (
                tuple(np.float32(a["bbox"])),
                np.float32(a["score"]),
                gt.cats[a["category_id"]]["name"],
            )
            for a in anns
        ]
    return out


def _our_boxes(run: ModelRun) -> dict[str, list[tuple]]:
    assert run.boxes is not None
    out = {}
    for i, row_id in enumerate(run.ids):
        part = run.boxes.of(i)
        out[str(row_id)] = [
            (tuple(xywh), score, run.classes[label])
            for xywh, score, label in zip(
                run.boxes.xywh[part], run.boxes.score[part], run.boxes.label[part], strict=True
            )
        ]
    return out


def test_sample_detection_run_loads() -> None:
    run = load_run(SAMPLE_DETECT)
    assert run.task == "detection"
    assert run.n_rows == 240 and run.classes == tuple("0123456789")
    assert run.boxes is not None and run.boxes.n_boxes == 725
    assert run.ids[0] == "canvas-0001.png"
    assert run.image_location(0) == (SAMPLE_DETECT / "images" / "canvas-0001.png").resolve()
    assert list(run.metadata.columns) == ["coco_image_id"]


def test_sample_matches_pycocotools(capsys: pytest.CaptureFixture[str]) -> None:
    expected = _pycocotools_boxes(SAMPLE_DETECT / "coco.json", SAMPLE_DETECT / "results.json")
    assert _our_boxes(load_run(SAMPLE_DETECT)) == expected


def test_coco_matches_pycocotools_with_unordered_categories(tmp_path: Path) -> None:
    folder = write_coco(tmp_path / "run", run_json=COCO_RUN_JSON)
    run = _load(folder, tmp_path)
    assert run.classes == ("person", "car", "dog")  # category ids 1, 3, 7
    assert list(run.ids) == ["a.jpg", "b.jpg", "c.jpg"]
    assert _our_boxes(run) == _pycocotools_boxes(folder / "coco.json", folder / "results.json")
    assert _our_boxes(run)["c.jpg"] == []  # an image without results has no boxes


def test_coco_folder_without_run_json(tmp_path: Path) -> None:
    folder = write_coco(tmp_path / "pair")
    assert detect_format(locate_run(folder)) == "coco"
    run = _load(folder, tmp_path)
    assert run.n_rows == len(COCO["images"]) and run.boxes is not None
    assert run.boxes.n_boxes == len(COCO_RESULTS)
    assert run.name == "pair"


def test_coco_content_hash_covers_both_files(tmp_path: Path) -> None:
    folder = write_coco(tmp_path / "run", run_json=COCO_RUN_JSON)
    first = _load(folder, tmp_path).content_hash
    coco = json.loads((folder / "coco.json").read_text())
    coco["categories"][0]["name"] = "truck"
    (folder / "coco.json").write_text(json.dumps(coco))
    assert _load(folder, tmp_path).content_hash != first


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        # per box 1 - score: a.jpg (0.1, 0.5), b.jpg (0.7, 0.4), c.jpg none (empty_score 0)
        ("max", "b.jpg"),
        ("mean", "b.jpg"),
        ("sum", "b.jpg"),
    ],
)
def test_coco_ranking_by_hand(tmp_path: Path, aggregation: str, expected: str) -> None:
    run = _load(write_coco(tmp_path / "run", run_json=COCO_RUN_JSON), tmp_path)
    assert _most_uncertain(run, Scoring(aggregation=aggregation)) == expected
    scores = run_scores(run, Scoring(aggregation=aggregation))
    assert scores[2] == 0.0
    # an image without boxes can rank first instead
    assert _most_uncertain(run, Scoring(aggregation=aggregation, empty_score=1.0)) == "c.jpg"


# --------------------------------------------------------------------------------------------
# YOLO


def test_yolo_folder_boxes_in_pixels(tmp_path: Path) -> None:
    folder = write_yolo(tmp_path / "yolo")
    assert detect_format(locate_run(folder)) == "yolo"
    run = _load(folder, tmp_path)
    assert run.task == "detection" and run.classes == ("cat", "dog")
    assert list(run.ids) == ["a.png", "c.png", "d.png", "sub/b.png"]
    assert run.boxes is not None
    assert run.boxes.counts.tolist() == [2, 0, 0, 1]  # no label file (c), empty file (d)
    # a.png is 200 x 100: (cx, cy, w, h) = (0.5, 0.5, 0.2, 0.4) -> x = (0.5 - 0.1) * 200 ...
    np.testing.assert_allclose(
        run.boxes.xywh, [[80, 30, 40, 40], [40, 70, 20, 10], [0, 0, 64, 64]], atol=1e-4
    )
    np.testing.assert_allclose(run.boxes.score, [0.9, 0.35, 0.6], rtol=1e-6)
    assert run.boxes.label.tolist() == [0, 1, 1]
    assert run.image_location(3) == (folder / "images" / "sub" / "b.png").resolve()


def test_yolo_ranking_by_hand(tmp_path: Path) -> None:
    run = _load(write_yolo(tmp_path / "yolo"), tmp_path)
    # 1 - conf: a.png (0.1, 0.65), sub/b.png (0.4); c.png and d.png have no boxes
    assert _most_uncertain(run, Scoring(aggregation="max")) == "a.png"
    assert _most_uncertain(run, Scoring(aggregation="mean")) == "sub/b.png"  # 0.375 < 0.4
    assert _most_uncertain(run, Scoring(aggregation="max", empty_score=1.0)) == "c.png"


def test_yolo_data_yaml_and_run_json(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    folder = write_yolo(tmp_path / "yolo", classes_txt=None)
    (folder / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n")
    (folder / "run.json").write_text(
        json.dumps(
            {"format": "yolo", "name": "yolo-v8", "model": "yolov8n", "predictions": "labels"}
        )
    )
    run = _load(folder, tmp_path)
    assert run.classes == ("cat", "dog") and run.name == "yolo-v8" and run.model == "yolov8n"
    (folder / "data.yaml").write_text("names: [cat, dog]\n")
    assert _load(folder, tmp_path).classes == ("cat", "dog")


def test_yolo_run_json_classes_must_match(tmp_path: Path) -> None:
    folder = write_yolo(tmp_path / "yolo")
    (folder / "run.json").write_text(
        json.dumps({"format": "yolo", "predictions": "labels", "classes": ["dog", "cat"]})
    )
    with pytest.raises(RunValidationError, match="do not match classes.txt"):
        _load(folder, tmp_path)


# --------------------------------------------------------------------------------------------
# Labelbox


@pytest.mark.parametrize("kind", LABELBOX_KINDS)
def test_labelbox_fixtures_are_what_the_sdk_writes(kind: str) -> None:
    pytest.importorskip("labelbox")
    committed = (LABELBOX_DIR / f"{kind}.ndjson").read_text(encoding="utf-8")
    assert serialize_labelbox(kind) == committed


def test_labelbox_radio_is_top1_classification() -> None:
    path = LABELBOX_DIR / "radio.ndjson"
    assert detect_format(locate_run(path)) == "labelbox"
    run = load_run(path)
    assert run.task == "classification" and run.top1_only
    assert list(run.ids) == [row for row, _, _ in RADIO]
    assert list(run.top1_labels) == [a for _, a, _ in RADIO]  # type: ignore[arg-type]
    assert run.classes == ("1", "3", "7")
    # Labelbox sorts by confidence ascending: 0.30, 0.55 (ck-b before ck-d by id), 0.91, 0.99
    frame = pd.DataFrame({"id": run.ids, "score": run_scores(run, "least_confidence")})
    ranked = frame.sort_values(["score", "id"], ascending=[False, True])["id"].tolist()
    assert ranked == ["ck-c", "ck-b", "ck-d", "ck-a", "ck-e"]
    assert run.metadata["labelbox_key"].tolist() == ["id"] * 5


def test_labelbox_checklist_is_multilabel() -> None:
    run = load_run(LABELBOX_DIR / "checklist.ndjson")
    assert run.task == "multilabel"
    assert list(run.ids) == [row for row, _ in CHECKLIST]
    assert run.classes == ("bird", "cat", "dog")
    np.testing.assert_allclose(
        run.probabilities, [[0, 0.9, 0.2], [0, 0, 0.55], [0.97, 0.03, 0]], rtol=1e-6
    )
    assert run.metadata["labelbox_key"].tolist() == ["globalKey"] * 3
    # 1 - |2p - 1| per class: a (0, 0.2, 0.6), b (0, 0, 0.9), c (0.06, 0.06, 0)
    for aggregation in ("max", "mean"):
        assert _most_uncertain(run, Scoring(aggregation=aggregation)) == "img/b.png"


def test_labelbox_boxes_are_detection() -> None:
    run = load_run(LABELBOX_DIR / "boxes.ndjson")
    assert run.task == "detection" and run.classes == ("cat", "dog")
    assert run.boxes is not None
    expected = [
        [x0, y0, x1 - x0, y1 - y0] for _, boxes in BOXES for _, (x0, y0, x1, y1), _ in boxes
    ]
    np.testing.assert_allclose(run.boxes.xywh, expected)
    # 1 - confidence: ck-1 (0.1, 0.6), ck-2 (0.2), ck-3 (0.35, 0.05, 0.4)
    assert _most_uncertain(run, Scoring(aggregation="max")) == "ck-1"
    assert _most_uncertain(run, Scoring(aggregation="mean")) == "ck-1"
    assert _most_uncertain(run, Scoring(aggregation="sum")) == "ck-3"
    assert _most_uncertain(run, Scoring(aggregation="topk", top_k=1)) == "ck-1"


def test_labelbox_mixed_file_needs_run_json_task(tmp_path: Path) -> None:
    with pytest.raises(RunValidationError, match=r"mixes kinds.*radio.*bbox"):
        load_run(LABELBOX_DIR / "mixed.ndjson")
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(LABELBOX_DIR / "mixed.ndjson", folder / "predictions.ndjson")
    (folder / "run.json").write_text(json.dumps({"format": "labelbox", "task": "detection"}))
    run = _load(folder, tmp_path)
    assert run.task == "detection" and list(run.ids) == ["ck-1", "ck-2", "ck-3", "ck-4"]
    assert run.boxes is not None and run.boxes.counts.tolist() == [2, 1, 3, 0]
    (folder / "run.json").write_text(json.dumps({"format": "labelbox", "task": "classification"}))
    run = _load(folder, tmp_path)
    assert run.task == "classification" and run.classes == ("bad", "good")
    assert _most_uncertain(run, Scoring()) == "ck-2"  # confidence 0.6


def test_labelbox_upload_bytes_and_global_key_images(tmp_path: Path) -> None:
    data = (LABELBOX_DIR / "checklist.ndjson").read_bytes()
    run = load_run(data, filename="predictions.ndjson")
    assert run.task == "multilabel" and run.images is None
    folder = tmp_path / "lb"
    (folder / "img").mkdir(parents=True)
    (folder / "predictions.ndjson").write_bytes(data)
    (folder / "run.json").write_text(json.dumps({"format": "labelbox", "image_root": "."}))
    run = _load(folder, tmp_path)
    assert run.images is not None and list(run.images) == [row for row, _ in CHECKLIST]
    assert run.image_location(0) == (folder / "img" / "a.png").resolve()


def test_ndjson_without_data_row_is_labelnext_own(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text('{"data_row_id": "a", "prob_x": 0.2, "prob_y": 0.8}\n')
    assert detect_format(locate_run(path)) is None
    assert load_run(path).task == "classification"


# --------------------------------------------------------------------------------------------
# The CLI reads every format


def test_cli_on_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    coco = write_coco(tmp_path / "coco", run_json=COCO_RUN_JSON)
    yolo = write_yolo(tmp_path / "yolo")
    cases = {
        coco: "b.jpg",
        yolo: "a.png",
        LABELBOX_DIR / "radio.ndjson": "ck-c",
        LABELBOX_DIR / "checklist.ndjson": "img/b.png",
        LABELBOX_DIR / "boxes.ndjson": "ck-1",
        SAMPLE_DETECT: _most_uncertain(load_run(SAMPLE_DETECT), Scoring()),
    }
    for path, first in cases.items():
        assert main(["validate", str(path)]) == 0, capsys.readouterr().err
        assert capsys.readouterr().out.startswith("OK")
        top = _cli_top(capsys, path)
        assert top["data_row_id"].tolist() == [first], path
        assert top["rank"].tolist() == [1]
    capsys.readouterr()
    assert main(["score", str(LABELBOX_DIR / "radio.ndjson")]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert scored["data_row_id"].tolist() == ["ck-c", "ck-b", "ck-d", "ck-a", "ck-e"]


def test_cli_reports_malformed_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(MALFORMED / "coco" / "bad_bbox")]) == 2
    err = capsys.readouterr().err
    assert "results.json, row 2, field 'bbox'" in err


# --------------------------------------------------------------------------------------------
# The malformed corpus: (file the problem names, row or line, field, words in the message)

MALFORMED_CASES = {
    "coco/bad_bbox": ("results.json", 2, "bbox", "must be [x, y, w, h]"),
    "coco/zero_width_bbox": ("results.json", 2, "bbox", "width and height must be > 0"),
    "coco/score_above_one": ("results.json", 1, "score", "must lie in [0, 1], got 1.5"),
    "coco/missing_score": ("results.json", 2, "score", "missing"),
    "coco/unknown_category": ("results.json", 2, "category_id", "unknown category_id 9"),
    "coco/unknown_image": ("results.json", 3, "image_id", "unknown image_id 99"),
    "coco/results_not_json": (
        "results.json",
        None,
        None,
        "not valid JSON: Expecting value (line 2",
    ),
    "coco/results_is_object": ("results.json", None, None, "holds a JSON object"),
    "coco/duplicate_file_name": (
        "coco.json",
        2,
        "images.file_name",
        "duplicate file_name 'a.png' (first on row 1)",
    ),
    "coco/category_without_name": ("coco.json", 2, "categories.name", "non-empty string"),
    "coco/missing_categories": ("coco.json", None, "categories", "needs a 'categories' array"),
    "coco/classes_mismatch": ("run.json", None, "classes", "do not match the COCO categories"),
    "coco/run_json_without_coco": ("run.json", None, "coco", "does not name the COCO file"),
    "coco/bare_results.json": ("bare_results.json", None, "coco", "need the COCO file"),
    "yolo/wrong_field_count": ("a.txt", 2, None, "expected 6 fields 'class cx cy w h conf', got 5"),
    "yolo/non_numeric": ("a.txt", 1, "cy", "not a number: 'abc'"),
    "yolo/class_out_of_range": ("a.txt", 2, "class", "class index 2 is not one of 0..1"),
    "yolo/coordinate_outside": ("a.txt", 1, "w", "normalised coordinate 1.2 outside [0, 1]"),
    "yolo/conf_outside": ("b.txt", 1, "conf", "confidence 1.3 outside [0, 1]"),
    "yolo/label_without_image": ("c.txt", None, "image", "no image for this label file"),
    "yolo/no_class_names": ("no_class_names", None, "classes", "no class names"),
    "yolo/classes_blank_line": ("classes.txt", 2, "classes", "empty class name"),
    "yolo/unreadable_image": ("a.png", None, "image", "cannot read the image size"),
    "yolo/data_yaml_bad_indices": ("data.yaml", None, "names", "indices must be 0..1"),
    "labelbox/bad_json_line.ndjson": ("bad_json_line.ndjson", 2, None, "not valid JSON"),
    "labelbox/missing_data_row.ndjson": ("missing_data_row.ndjson", 2, "dataRow", "dataRow"),
    "labelbox/empty_global_key.ndjson": (
        "empty_global_key.ndjson",
        2,
        "dataRow.globalKey",
        "non-empty string",
    ),
    "labelbox/both_id_and_global_key.ndjson": (
        "both_id_and_global_key.ndjson",
        2,
        "dataRow",
        'exactly one of "id" and "globalKey"',
    ),
    "labelbox/missing_name.ndjson": ("missing_name.ndjson", 2, "name", "needs a name"),
    "labelbox/radio_confidence_above_one.ndjson": (
        "radio_confidence_above_one.ndjson",
        3,
        "answer.confidence",
        "must lie in [0, 1], got 1.2",
    ),
    "labelbox/radio_without_confidence.ndjson": (
        "radio_without_confidence.ndjson",
        2,
        "answer.confidence",
        "missing",
    ),
    "labelbox/duplicate_radio.ndjson": (
        "duplicate_radio.ndjson",
        3,
        "dataRow",
        "a second answer to 'digit' for data row 'r1' (first on line 1)",
    ),
    "labelbox/two_questions.ndjson": ("two_questions.ndjson", None, "name", "digit, quality"),
    "labelbox/checklist_missing_confidence.ndjson": (
        "checklist_missing_confidence.ndjson",
        2,
        "answer[1].confidence",
        "missing",
    ),
    "labelbox/checklist_duplicate_answer.ndjson": (
        "checklist_duplicate_answer.ndjson",
        2,
        "answer[1].name",
        "'dog' listed twice",
    ),
    "labelbox/bbox_negative_width.ndjson": (
        "bbox_negative_width.ndjson",
        2,
        "bbox.width",
        "must be > 0",
    ),
    "labelbox/bbox_non_numeric_top.ndjson": (
        "bbox_non_numeric_top.ndjson",
        3,
        "bbox.top",
        "must be a finite number, got '1'",
    ),
    "labelbox/bbox_without_confidence.ndjson": (
        "bbox_without_confidence.ndjson",
        2,
        "confidence",
        "missing",
    ),
    "labelbox/mixed_kinds.ndjson": (
        "mixed_kinds.ndjson",
        None,
        "task",
        "radio (first on line 1), bbox (first on line 2)",
    ),
    "labelbox/polygon.ndjson": ("polygon.ndjson", 2, None, "polygon (first on line 2)"),
}


def test_malformed_corpus_is_complete() -> None:
    on_disk = {
        f"{kind}/{p.name}"
        for kind in ("coco", "yolo", "labelbox")
        for p in (MALFORMED / kind).iterdir()
    }
    assert on_disk == set(MALFORMED_CASES)


@pytest.mark.parametrize("case", sorted(MALFORMED_CASES))
def test_malformed_format_names_file_row_field(case: str) -> None:
    if case == "yolo/data_yaml_bad_indices":
        pytest.importorskip("yaml")
    file, row, field, words = MALFORMED_CASES[case]
    with pytest.raises(RunValidationError) as info:
        load_run(MALFORMED / case, allowed_roots=[ROOT])
    problems = info.value.problems
    assert len(problems) == 1, str(info.value)
    problem = problems[0]
    assert Path(problem.file).name == file
    assert (problem.row, problem.field) == (row, field), str(problem)
    assert words in problem.message
    assert words in str(info.value)


def test_problems_are_collected_up_to_the_limit(tmp_path: Path) -> None:
    bad = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 2}
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "coco.json").write_text(json.dumps(COCO | {"images": [{"id": 1, "file_name": "a"}]}))
    (folder / "results.json").write_text(json.dumps([bad] * 10))
    (folder / "run.json").write_text(json.dumps(COCO_RUN_JSON))
    with pytest.raises(RunValidationError) as info:
        load_run(folder, allowed_roots=[tmp_path], max_problems=5)
    assert len(info.value.problems) == 5 and info.value.truncated
    assert [p.row for p in info.value.problems] == [1, 1, 2, 2, 3]


def test_unknown_format_in_run_json(tmp_path: Path) -> None:
    folder = write_coco(tmp_path / "run", run_json={**COCO_RUN_JSON, "format": "pascal_voc"})
    with pytest.raises(RunValidationError, match="unknown format 'pascal_voc'") as info:
        _load(folder, tmp_path)
    assert info.value.problems[0].field == "format"
