"""The whole review loop in real Chromium: load, inspect, select across pages, submit a batch.

One dashboard server and one Chromium per test session (tests/browser_support.py); each test
opens its own browser session. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import (
    ARTIFACTS,
    IDLE,
    REPO,
    StreamlitServer,
    css,
    grid_ids,
    images_loaded,
    pick,
    selected_count,
    settle,
)

from labelnext_app.session import DEFAULT_STRATEGY

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_review_journey(page, app_server: StreamlitServer) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from labelnext.ledger import Ledger
    from labelnext.readers import load_run
    from labelnext.select import ranked

    url = app_server.url
    ARTIFACTS.mkdir(exist_ok=True)
    run = load_run(REPO / "sample_data" / "mnist" / "run_001")
    order = list(ranked(run, DEFAULT_STRATEGY)["data_row_id"])
    ledger = Ledger(url=app_server.ledger_url)
    before = set(ledger.batches()["batch_id"])
    # 1. the app opens on the sample run, no set-up
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=60_000)
    settle(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text(run.name)
    expect(page.get_by_text(f"{run.n_rows:,}", exact=True)).to_be_visible()
    page.wait_for_timeout(500)  # plotly draws after the script is idle
    page.screenshot(path=str(ARTIFACTS / "home.png"))

    # 2. the grid, least confident first
    page.get_by_role("link", name="Review").click()
    page.wait_for_selector(".st-key-review_pick_" + order[0], timeout=30_000)
    settle(page)
    assert grid_ids(page) == order[:24]
    expect(page.locator(f".st-key-review_card_{order[0]} img")).to_be_visible()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[class*=st-key-review_card_] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=30_000,
    )
    page.screenshot(path=str(ARTIFACTS / "review-grid.png"))

    # 3. open a detail view and come back
    page.locator(f".st-key-review_open_{order[1]} button").first.click()
    expect(page.get_by_role("heading", name=f"Row {order[1]}")).to_be_visible(timeout=30_000)
    settle(page)
    assert f"row={order[1]}" in page.url
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stImage] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=30_000,
    )
    page.wait_for_timeout(500)  # plotly draws after the script is idle
    page.screenshot(path=str(ARTIFACTS / "detail.png"))
    page.locator(".st-key-detail_back button").first.click()
    page.wait_for_selector(".st-key-review_pick_" + order[0], timeout=30_000)
    settle(page)

    # 4. three rows on page 1, two on page 2
    first = grid_ids(page)
    for n, rid in enumerate(first[:3], start=1):
        pick(page, rid, n)
    page.locator(".st-key-review_next button").first.click()
    page.wait_for_selector(".st-key-review_pick_" + order[24], timeout=30_000)
    settle(page)
    second = grid_ids(page)
    assert second == order[24:48]
    for n, rid in enumerate(second[:2], start=4):
        pick(page, rid, n)
    chosen = first[:3] + second[:2]
    # the selected state is obvious: a checked box in a highlighted card
    card = page.locator(f".st-key-review_card_{second[0]}")
    expect(card).to_have_css("border-top-width", "3px")
    expect(card.locator("input[type=checkbox]")).to_be_checked()
    page.screenshot(path=str(ARTIFACTS / "review-selected.png"))

    # 5. who is working (asked once per session)
    name = page.locator(".st-key-sidebar_user input")
    name.fill("Grace")
    name.press("Enter")
    settle(page)

    # 6. submit to a new project
    page.get_by_role("link", name="Batch").click()
    page.wait_for_selector(".st-key-batch_new_project input", timeout=30_000)
    settle(page)
    assert selected_count(page) == "5"
    page.wait_for_timeout(500)  # plotly draws after the script is idle
    page.screenshot(path=str(ARTIFACTS / "batch-selection.png"))
    page.locator(".st-key-batch_new_project input").fill("digit-audit")
    page.locator(".st-key-batch_submit button").first.dblclick()  # one batch, not two
    expect(page.get_by_text(re.compile(r"Batch #\d+ stored in project"))).to_be_visible(
        timeout=30_000
    )
    settle(page)
    assert selected_count(page) == "0"
    # 7. it is in the history
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
    expect(page.locator(".st-key-batch_export_pick input")).to_have_value(re.compile(r"^#\d+ · "))
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "batch.png"))
    # 8. a CSV export of it, made when the button is clicked
    with page.expect_download() as download:
        page.locator(".st-key-batch_download_csv button").first.click()
    csv_text = Path(download.value.path()).read_text()

    assert sorted(line.split(",")[0] for line in csv_text.splitlines()[1:]) == sorted(chosen)
    # 9. the ledger holds exactly those five rows, in one new batch
    batches = ledger.batches()
    batches = batches[~batches["batch_id"].isin(before)]
    assert list(batches["project"]) == ["digit-audit"]
    assert list(batches["created_by"]) == ["Grace"]
    assert list(batches["status"]) == ["exported"]
    stored = ledger.batch_rows(int(batches["batch_id"].iloc[0]))
    assert sorted(stored["data_row_id"]) == sorted(chosen)


def test_detection_review_and_detail(page, app_server: StreamlitServer) -> None:  # type: ignore[no-untyped-def]
    """Boxes on the detection sample's thumbnails and in its detail view (screenshots kept)."""
    from playwright.sync_api import expect

    from labelnext.readers import load_run
    from labelnext.select import ranked

    url = app_server.url
    ARTIFACTS.mkdir(exist_ok=True)
    run = load_run(REPO / "sample_data" / "mnist_detect")
    order = list(ranked(run, "least_confidence")["data_row_id"])
    first = order[0]
    assert run.boxes is not None
    n_boxes = int(run.boxes.counts[run.row_index(first)])
    assert n_boxes > 0

    page.goto(f"{url}/review?run=sample:mnist_detect")
    page.wait_for_selector(".st-key-review_pick_" + css(first), timeout=60_000)
    settle(page)
    assert grid_ids(page) == [css(i) for i in order[:24]]
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Combine boxes by")
    images_loaded(page)
    # a picked card is highlighted even though its id holds a "." (canvas-0001.png)
    pick(page, css(order[1]), 1)
    expect(page.locator(f".st-key-review_card_{css(order[1])}")).to_have_css(
        "border-top-width", "3px"
    )
    page.screenshot(path=str(ARTIFACTS / "detection-review.png"))

    page.locator(".st-key-review_open_" + css(first) + " button").first.click()
    expect(page.get_by_role("heading", name=f"Row {first}")).to_be_visible(timeout=30_000)
    settle(page)
    images_loaded(page)
    expect(page.get_by_text(f"({n_boxes} shown)")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    page.wait_for_timeout(500)
    page.locator('[data-testid="stMain"]').screenshot(path=str(ARTIFACTS / "detection-detail.png"))
