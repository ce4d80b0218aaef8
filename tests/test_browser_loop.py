"""The loop in real Chromium: submit a batch, import its labels on the Batch page, see it
labeled, download the training set, open Compare and read its figures (issue 13)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from browser_support import (
    ARTIFACTS,
    StreamlitServer,
    images_loaded,
    settle,
    submit_review_page,
)

from labelnext.labels import read_labels

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MNIST = Path(__file__).resolve().parents[1] / "sample_data" / "mnist"


def _truth() -> dict[str, str]:
    with (MNIST / "ground_truth.csv").open(encoding="utf-8") as handle:
        return {row["data_row_id"]: row["label"] for row in csv.DictReader(handle)}


def test_labels_back_training_set_out_and_compare(
    page, app_server: StreamlitServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from labelnext.ledger import Ledger

    main = page.locator('[data-testid="stMain"]')
    submit_review_page(page, app_server.url, user="Lin", project="loop-journey")
    expect(main).to_contain_text("stored in project")

    # the labeling team's answer: the true MNIST labels of the batch's rows
    ledger = Ledger(app_server.ledger_url)
    batch = int(ledger.batches("loop-journey")["batch_id"].iloc[0])
    ids = ledger.batch_rows(batch)["data_row_id"].tolist()
    truth = _truth()
    answer = tmp_path / "labeled.csv"
    answer.write_text(
        "data_row_id,label,labeled_by\n" + "".join(f"{i},{truth[i]},lin\n" for i in ids),
        encoding="utf-8",
    )
    page.locator(
        '.st-key-batch_labels [data-testid="stFileUploaderDropzoneInput"]'
    ).set_input_files(str(answer))
    # the upload reaches the server, then the rerun draws the preview
    expect(page.locator(".st-key-batch_labels_import button")).to_be_visible(timeout=30_000)
    settle(page)
    expect(main).to_contain_text(f"would import {len(ids)} label(s)")
    expect(main).to_contain_text(f"batch {batch}: queued -> labeled")
    assert ledger.labels("loop-journey").empty  # the preview stored nothing
    page.locator(".st-key-batch_labels_import button").first.click()
    settle(page)
    expect(main).to_contain_text(f"imported {len(ids)} label(s)")
    assert ledger.batch(batch).status == "labeled"
    expect(page.locator(".st-key-batch_history")).to_contain_text("labeled")

    with page.expect_download() as download:
        page.locator(".st-key-batch_training_csv button").first.click()
    saved = tmp_path / "training.csv"
    download.value.save_as(saved)
    assert read_labels(saved).mapping() == {i: truth[i] for i in ids}

    page.get_by_role("link", name="Compare").click()
    settle(page)
    expect(main).to_contain_text("Shared rows")
    expect(main).to_contain_text("4,575")
    expect(main).to_contain_text("0.769 → 0.837")
    expect(main).to_contain_text("Became uncertain")
    images_loaded(page)
    assert "This app has encountered an error" not in main.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    main.screenshot(path=str(ARTIFACTS / "loop_compare.png"))
