"""Image references rewritten for the labeling tool: templates, presets, preview and warnings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from export_support import REPO, make_info, sample_batch

from labelnext.errors import ExportError
from labelnext.export import (
    ExportBatch,
    image_url_template,
    image_url_warnings,
    preview_image_url,
    render,
)
from labelnext.export.images import ImageReferences


def _batch(tmp_path: Path, images: list[str | None], paths: list[str | None]) -> ExportBatch:
    ids = [f"row-{k}" for k in range(len(images))]
    records = [
        {"task": "classification", "label": "1", "confidence": 0.5, "image_path": p} for p in paths
    ]
    rows = pd.DataFrame({"data_row_id": ids, "image": images, "prediction": records})
    return ExportBatch(make_info(1), rows, "classification", ("1",))


@pytest.mark.parametrize(
    ("spec", "template"),
    [
        ("as-written", "{image}"),
        ("label-studio", "/data/local-files/?d={relpath}"),
        ("s3://bucket/prefix", "s3://bucket/prefix/{relpath}"),
        ("gs://bucket/prefix/", "gs://bucket/prefix/{relpath}"),
        ("azure-blob://container", "azure-blob://container/{relpath}"),
        ("https://cdn.test/a", "https://cdn.test/a/{relpath}"),
        ("https://cdn.test/{data_row_id}.jpg", "https://cdn.test/{data_row_id}.jpg"),
        ("{image}", "{image}"),
    ],
)
def test_presets_prefixes_and_templates(spec: str, template: str) -> None:
    assert image_url_template(spec) == template


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", r"image_url: expected a preset \(as-written, label-studio\), a bucket or web prefix"),
        (
            "images/",
            r"image_url: 'images/' is neither a preset .* nor a prefix starting with s3://",
        ),
        ("https://x/{name}", r"image_url: 'https://x/\{name\}' uses \{name\}; allowed: \{image\}"),
        ("https://x/{image!r}", r"image_url: .* has a format spec or conversion; allowed"),
        ("https://x/{", r"image_url: 'https://x/\{' is not a valid template"),
    ],
)
def test_bad_templates_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        image_url_template(spec)


def test_relpath_needs_a_files_root() -> None:
    with pytest.raises(ExportError, match=r"files_root: required by \{relpath\} in image_url"):
        ImageReferences("label-studio")


def test_each_placeholder_by_hand(tmp_path: Path) -> None:
    (tmp_path / "sub dir").mkdir()
    local = str(tmp_path / "sub dir" / "é#1.png")
    batch = _batch(
        tmp_path,
        ["sub dir/é#1.png", "https://x.test/b.png", None, str(tmp_path / "abs.png")],
        [local, None, None, None],
    )

    def refs(template: str) -> list[str | None]:
        return ImageReferences(template, tmp_path).references(batch)

    assert refs("{image}") == [
        "sub dir/é#1.png",
        "https://x.test/b.png",
        None,
        str(tmp_path / "abs.png"),
    ]
    assert refs("https://cdn.test/{data_row_id}.png") == [
        "https://cdn.test/row-0.png",
        "https://cdn.test/row-1.png",
        None,
        "https://cdn.test/row-3.png",
    ]
    # {relpath}: percent-encoded in URLs and server paths, raw in bucket keys; a URL is kept;
    # an absolute reference without a recorded path is taken as it is written
    assert refs("label-studio") == [
        "/data/local-files/?d=sub%20dir/%C3%A9%231.png",
        "https://x.test/b.png",
        None,
        "/data/local-files/?d=abs.png",
    ]
    assert refs("https://cdn.test/b7") == [
        "https://cdn.test/b7/sub%20dir/%C3%A9%231.png",
        "https://x.test/b.png",
        None,
        "https://cdn.test/b7/abs.png",
    ]
    assert refs("s3://bucket/p") == [
        "s3://bucket/p/sub dir/é#1.png",
        "https://x.test/b.png",
        None,
        "s3://bucket/p/abs.png",
    ]


def test_images_outside_the_files_root_or_without_a_path_are_named(tmp_path: Path) -> None:
    root = tmp_path / "root"
    batch = _batch(
        tmp_path,
        ["a.png", "b.png", "c.png", "d.png", "e.png"],
        [str(tmp_path / "a.png"), None, str(root / "c.png"), None, None],
    )
    with pytest.raises(ExportError) as raised:
        ImageReferences("label-studio", root).references(batch)
    message = str(raised.value)
    assert message.startswith(
        "image_url: 4 image reference(s) cannot be rewritten with '/data/local-files/?d={relpath}'"
    )
    assert f"row 'row-0': image {str(tmp_path / 'a.png')!r} is not inside files_root" in message
    assert "row 'row-1': image 'b.png' has no resolved path" in message
    assert "(and 1 more)" in message and "row-2" not in message


def test_preview_shows_the_first_rewritten_reference() -> None:
    batch = sample_batch("mnist/run_001", k=3)
    first = batch.rows["image"].iloc[0]
    assert preview_image_url(batch) == first
    assert preview_image_url(batch, "label-studio", files_root=REPO) == (
        f"/data/local-files/?d=sample_data/mnist/images/{first}"
    )
    with pytest.raises(ExportError, match=r"row '.*': image '.*' is not inside files_root"):
        preview_image_url(batch, "label-studio", files_root=REPO / "benchmarks")


def test_preview_of_a_batch_without_images(tmp_path: Path) -> None:
    assert preview_image_url(_batch(tmp_path, [None, ""], [None, None])) is None


def test_warnings_name_what_the_tool_cannot_load(tmp_path: Path) -> None:
    batch = sample_batch("mnist/run_001", k=5)
    # as written: bare file names, which neither Label Studio nor Labelbox can fetch
    (ls,) = image_url_warnings(batch, "labelstudio")
    assert ls.startswith("5 image reference(s) are not URLs Label Studio can load ('mnist-")
    assert "label-studio preset" in ls
    # Labelbox: the SDK uploads local files, so the same batch is loadable there
    assert image_url_warnings(batch, "labelbox") == []
    # manifests and COCO (matched by file name) are not loaded from the reference
    assert image_url_warnings(batch, "csv") == image_url_warnings(batch, "coco") == []
    assert image_url_warnings(batch, "labelstudio", "label-studio", files_root=REPO) == []
    assert image_url_warnings(batch, "labelstudio", "s3://b/p", files_root=REPO) == []
    # s3:// is a Label Studio source, but the labelbox SDK refuses it
    (lb,) = image_url_warnings(batch, "labelbox", "s3://b/p", files_root=REPO)
    assert lb.startswith("5 image reference(s) are not URLs Labelbox fetches ('s3://b/p/sample_")
    assert lb.endswith("data_rows.json names the local files instead, which the SDK uploads")
    assert image_url_warnings(batch, "labelbox", "gs://b/p", files_root=REPO) == []
    # an absolute file path is not a URL either
    absolute = image_url_warnings(batch, "labelstudio", str(REPO) + "/{relpath}", files_root=REPO)
    assert len(absolute) == 1 and "not URLs Label Studio can load" in absolute[0]


def test_labelbox_warns_when_there_is_neither_a_url_nor_a_local_file(tmp_path: Path) -> None:
    batch = _batch(tmp_path, ["a.png", "https://x.test/b.png"], [None, None])
    (message,) = image_url_warnings(batch, "labelbox")
    assert message.startswith("1 image reference(s) are not URLs Labelbox can load ('a.png'):")


def test_warnings_include_the_errors_the_export_would_raise(tmp_path: Path) -> None:
    batch = _batch(tmp_path, ["a.png", None, "https://x.test/c.png"], [None, None, None])
    warnings = image_url_warnings(batch, "labelstudio", "label-studio", files_root=tmp_path)
    assert warnings == [
        "image_url: 1 image reference(s) cannot be rewritten with "
        "'/data/local-files/?d={relpath}': row 'row-0': image 'a.png' has no resolved path "
        "(the batch was stored without one), so {relpath} cannot be made",
        "1 row(s) have no image reference, so Label Studio shows no image for them: 'row-1'",
    ]
    assert image_url_warnings(batch, "labelstudio", "label-studio") == [
        "files_root: required by {relpath} in image_url '/data/local-files/?d={relpath}': give the "
        "folder the paths are relative to (for Label Studio: its LOCAL_FILES_DOCUMENT_ROOT)"
    ]
    with pytest.raises(ExportError, match=r"row 'row-0': image 'a.png' has no resolved path"):
        render(batch, "labelstudio", image_url="label-studio", files_root=tmp_path)
