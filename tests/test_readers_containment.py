"""Every path a run's files can name is contained: the corpus in tests/malformed_paths/.

A run folder may name its predictions, image root, COCO file and YOLO label folder, and hold
links; each must lie in the run folder or the allowed roots, checked before anything is opened or
stat'ed, with a message that does not say whether an outside file exists.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from labelnext.errors import PathNotAllowedError, RunValidationError
from labelnext.readers import check_upload_name, load_run

CORPUS = Path(__file__).parent / "malformed_paths"
OUTSIDE = "is outside the allowed roots"

# case -> (file the problem names, relative to the case folder (None: the case folder), field)
CASES: dict[str, tuple[str | None, str | None]] = {
    "predictions_absolute_existing": ("run.json", "predictions"),
    "predictions_absolute_missing": ("run.json", "predictions"),
    "predictions_climbs_out": ("run.json", "predictions"),
    "image_root_absolute_existing": ("run.json", "image_root"),
    "image_root_absolute_missing": ("run.json", "image_root"),
    "image_root_climbs_out": ("run.json", "image_root"),
    "coco_file_outside": ("run.json", "coco"),
    "coco_file_absolute_missing": ("run.json", "coco"),
    "yolo_labels_outside": ("run.json", "labels"),
    "labelbox_image_root_outside": ("run.json", "image_root"),
    "linked_predictions": ("run.json", "predictions"),
    "linked_run_json": ("run.json", None),
    "yolo_linked_image": ("images/a.png", None),
    "yolo_linked_label": ("labels/a.txt", None),
    "yolo_linked_image_folder": ("images", "image_root"),
    "coco_pair_linked_results": ("results.json", None),
}


def test_the_corpus_holds_every_case() -> None:
    assert {
        p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("outside")
    } == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_path_leaving_the_run_folder_is_refused_naming_file_and_field(name: str) -> None:
    file, field = CASES[name]
    with pytest.raises(RunValidationError, match=OUTSIDE) as caught:
        load_run(CORPUS / name, allowed_roots=[])
    problem = caught.value.problems[0]
    assert problem.file == str(CORPUS / name / file) if file else str(CORPUS / name)
    assert problem.field == field
    assert problem.row is None
    # the message names the path as written, never where it leads
    assert "/etc/passwd" not in problem.message or name == "predictions_absolute_existing"


def _message(name: str) -> str:
    with pytest.raises(RunValidationError) as caught:
        load_run(CORPUS / name, allowed_roots=[])
    return str(caught.value.problems[0])


@pytest.mark.parametrize(
    ("existing", "missing", "existing_path", "missing_path"),
    [
        (
            "predictions_absolute_existing",
            "predictions_absolute_missing",
            "/etc/passwd",
            "/nonexistent-labelnext-outside/secret.csv",
        ),
        (
            "image_root_absolute_existing",
            "image_root_absolute_missing",
            "/etc",
            "/nonexistent-labelnext-outside/images",
        ),
    ],
)
def test_the_message_is_the_same_for_an_existing_and_a_missing_outside_file(
    existing: str, missing: str, existing_path: str, missing_path: str
) -> None:
    assert Path(existing_path).exists() and not Path(missing_path).exists()
    one = _message(existing).replace(existing, "CASE").replace(existing_path, "PATH")
    other = _message(missing).replace(missing, "CASE").replace(missing_path, "PATH")
    assert one == other


def test_nothing_outside_is_opened_or_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    # the check comes before any read or probe (resolving the path, which follows links, is the
    # check itself): an open, exists, is_file or is_dir of an outside path would show here
    touched: list[str] = []
    for method in ("open", "read_bytes", "read_text", "exists", "is_file", "is_dir"):
        real = getattr(Path, method)

        def spying(self: Path, *args: object, _real: object = real, **kwargs: object) -> object:
            if str(self).startswith(("/etc", "/nonexistent-labelnext-outside")):
                touched.append(f"{self!s}")
            return _real(self, *args, **kwargs)  # type: ignore[operator]

        monkeypatch.setattr(Path, method, spying)
    for name in (
        "predictions_absolute_existing",
        "predictions_absolute_missing",
        "image_root_absolute_existing",
        "image_root_absolute_missing",
        "coco_file_absolute_missing",
        "labelbox_image_root_outside",
    ):
        with pytest.raises(RunValidationError, match=OUTSIDE):
            load_run(CORPUS / name, allowed_roots=[])
    assert touched == []


def test_the_same_files_load_once_their_folder_is_an_allowed_root(tmp_path: Path) -> None:
    # the refusals are about where the files are, not what they hold
    run = load_run(CORPUS / "predictions_climbs_out", allowed_roots=[CORPUS])
    assert run.ids.tolist() == ["a", "b"]
    run = load_run(CORPUS / "linked_predictions", allowed_roots=[CORPUS])
    assert run.n_rows == 2
    run = load_run(CORPUS / "coco_file_outside", allowed_roots=[CORPUS])
    assert run.task == "detection"
    run = load_run(CORPUS / "yolo_labels_outside", allowed_roots=[CORPUS])
    assert run.boxes is not None and len(run.boxes.score) == 1


def test_a_link_inside_the_run_folder_that_stays_inside_is_fine(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "real.csv").write_text("data_row_id,prob_a,prob_b\nx,0.5,0.5\n")
    (folder / "run.json").write_text(json.dumps({"predictions": "link.csv"}))
    (folder / "link.csv").symlink_to(folder / "real.csv")
    assert load_run(folder, allowed_roots=[]).ids.tolist() == ["x"]


def test_an_uploaded_run_json_is_refused() -> None:
    data = json.dumps({"predictions": "/etc/passwd"}).encode()
    with pytest.raises(RunValidationError, match="upload the predictions file; run.json belongs"):
        load_run(data, filename="run.json")
    with pytest.raises(RunValidationError, match="run.json belongs in a run folder on the server"):
        load_run(data, filename="uploads/RUN.JSON")
    with pytest.raises(RunValidationError, match="upload the predictions file"):
        check_upload_name("run.json")
    check_upload_name("predictions.csv")  # anything else passes


def test_a_saved_upload_named_run_json_is_refused_by_its_filename(tmp_path: Path) -> None:
    # the dashboard saves an upload before loading it: the name it came with still counts
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"predictions": "/etc/passwd"}))
    with pytest.raises(RunValidationError, match="upload the predictions file"):
        load_run(saved, filename="run.json")


def test_require_inside_refuses_a_source_outside_before_opening_it(tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "p.csv").write_text("data_row_id,prob_a,prob_b\nx,0.5,0.5\n")
    assert load_run(inside / "p.csv", require_inside=[inside]).n_rows == 1
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(inside / "p.csv", other / "p.csv")
    for source in (other / "p.csv", other, inside / ".." / "other" / "p.csv"):
        with pytest.raises(PathNotAllowedError, match=f"run '{re.escape(str(source))}' {OUTSIDE}"):
            load_run(source, require_inside=[inside])
    # existing or missing, the same words
    messages = []
    for source in (other / "p.csv", other / "missing.csv"):
        with pytest.raises(PathNotAllowedError) as caught:
            load_run(source, require_inside=[inside])
        messages.append(str(caught.value).replace(source.name, "NAME"))
    assert messages[0] == messages[1]


def test_require_inside_refuses_a_link_that_leads_out(tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("data_row_id,prob_a,prob_b\nx,0.5,0.5\n")
    (inside / "p.csv").symlink_to(secret)
    with pytest.raises(PathNotAllowedError, match=OUTSIDE):
        load_run(inside / "p.csv", require_inside=[inside])


def test_without_require_inside_the_cli_may_point_at_any_file(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("data_row_id,prob_a,prob_b\nx,0.5,0.5\n")
    assert load_run(tmp_path / "p.csv", allowed_roots=[]).n_rows == 1


def test_run_json_predictions_must_name_a_file(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"predictions": ["a.csv"]}))
    with pytest.raises(
        RunValidationError, match=r"run.json, field 'predictions': must name a file"
    ):
        load_run(tmp_path, allowed_roots=[])


def test_a_coco_file_name_that_climbs_out_is_not_stat_ed_to_find_the_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # file_name '../../etc/passwd' must be refused as an image, not probed with is_file()
    folder = tmp_path / "coco"
    folder.mkdir()
    coco = {
        "images": [{"id": 1, "file_name": "../../../../../../etc/passwd"}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    (folder / "coco.json").write_text(json.dumps(coco))
    (folder / "results.json").write_text(
        json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}])
    )
    probed: list[str] = []
    real_is_file = Path.is_file

    def spying_is_file(self: Path) -> bool:
        if "passwd" in str(self):
            probed.append(str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", spying_is_file)
    with pytest.raises(RunValidationError, match=f"row 1, field 'image': image .* {OUTSIDE}"):
        load_run(folder, allowed_roots=[])
    assert probed == []


def test_the_streaming_reader_contains_run_json_too(tmp_path: Path) -> None:
    from labelnext.streaming import stream_top_k

    with pytest.raises(RunValidationError, match=f"field 'predictions': predictions .* {OUTSIDE}"):
        stream_top_k(CORPUS / "predictions_climbs_out", "margin", 1, allowed_roots=[])
