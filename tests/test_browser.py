"""The whole review loop in real Chromium: load, inspect, select across pages, submit a batch.

Runs ``streamlit run app.py`` on a free port with its own LABELNEXT_HOME and drives Debian's
Chromium through Playwright's sync API. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("LABELNEXT_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A running dashboard: (base URL, its LABELNEXT_HOME)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    home = tmp_path / "home"
    port = _free_port()
    env = {**os.environ, "LABELNEXT_HOME": str(home)}
    env.pop("LABELNEXT_DB_URL", None)
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless=true",
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--server.fileWatcherType=none",
            "--browser.gatherUsageStats=false",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("streamlit did not start:\n" + (tmp_path / "streamlit.log").read_text())
            time.sleep(0.25)
        yield url, home
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _settle(page) -> None:  # type: ignore[no-untyped-def]
    """Let a rerun start, wait until the script is idle, then until every element is drawn.

    Streamlit loads each element type's code on first use and shows a skeleton until it
    arrives; on a loaded machine that takes seconds after the script is idle, and an element
    still a skeleton has no image or checkbox inside it yet.
    """
    page.wait_for_timeout(250)
    page.wait_for_selector(IDLE, timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000
    )


def _selected_count(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="stSidebar"] [data-testid="stMetricValue"]').inner_text()


def _grid_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    classes = page.eval_on_selector_all(
        '[class*="st-key-review_pick_"]', "els => els.map(e => e.className)"
    )
    ids = []
    for names in classes:
        match = re.search(r"st-key-review_pick_(\S+)", names)
        if match:
            ids.append(match.group(1))
    return ids


def _pick(page, rid: str, expected_count: int) -> None:  # type: ignore[no-untyped-def]
    page.locator(f".st-key-review_pick_{rid} label").click()
    page.wait_for_function(
        """n => document.querySelector('[data-testid="stSidebar"] [data-testid="stMetricValue"]')
               ?.innerText.trim() === String(n)""",
        arg=expected_count,
        timeout=30_000,
    )
    _settle(page)


def test_review_journey(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    from labelnext.ledger import Ledger
    from labelnext.readers import load_run
    from labelnext.select import ranked

    url, home = server
    ARTIFACTS.mkdir(exist_ok=True)
    run = load_run(REPO / "sample_data" / "mnist" / "run_001")
    order = list(ranked(run, "least_confidence")["data_row_id"])

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1700})
        try:
            # 1. the app opens on the sample run, no set-up
            page.goto(url)
            page.wait_for_selector(IDLE, timeout=60_000)
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar).to_contain_text(run.name)
            expect(page.get_by_text(f"{run.n_rows:,}", exact=True)).to_be_visible()
            page.wait_for_timeout(500)  # plotly draws after the script is idle
            page.screenshot(path=str(ARTIFACTS / "home.png"))

            # 2. the grid, least confident first
            page.get_by_role("link", name="Review").click()
            page.wait_for_selector(".st-key-review_pick_" + order[0], timeout=30_000)
            _settle(page)
            assert _grid_ids(page) == order[:24]
            expect(page.locator(f".st-key-review_card_{order[0]} img")).to_be_visible()
            page.wait_for_function(
                "() => [...document.querySelectorAll('[class*=st-key-review_card_] img')]"
                ".every(i => i.complete && i.naturalWidth > 0)",
                timeout=30_000,
            )
            page.screenshot(path=str(ARTIFACTS / "review-grid.png"))

            # 3. open a detail view and come back
            page.locator(f".st-key-review_open_{order[1]} button").first.click()
            expect(page.get_by_role("heading", name=f"Row {order[1]}")).to_be_visible(
                timeout=30_000
            )
            _settle(page)
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
            _settle(page)

            # 4. three rows on page 1, two on page 2
            first = _grid_ids(page)
            for n, rid in enumerate(first[:3], start=1):
                _pick(page, rid, n)
            page.locator(".st-key-review_next button").first.click()
            page.wait_for_selector(".st-key-review_pick_" + order[24], timeout=30_000)
            _settle(page)
            second = _grid_ids(page)
            assert second == order[24:48]
            for n, rid in enumerate(second[:2], start=4):
                _pick(page, rid, n)
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
            _settle(page)

            # 6. submit to a new project
            page.get_by_role("link", name="Batch").click()
            page.wait_for_selector(".st-key-batch_new_project input", timeout=30_000)
            _settle(page)
            assert _selected_count(page) == "5"
            page.wait_for_timeout(500)  # plotly draws after the script is idle
            page.screenshot(path=str(ARTIFACTS / "batch-selection.png"))
            page.locator(".st-key-batch_new_project input").fill("digit-audit")
            page.locator(".st-key-batch_submit button").first.dblclick()  # one batch, not two
            expect(page.get_by_text("Batch #1 stored in project")).to_be_visible(timeout=30_000)
            _settle(page)
            assert _selected_count(page) == "0"
            # 7. it is in the history
            expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
            expect(page.locator(".st-key-batch_export_pick input")).to_have_value(
                re.compile("^#1 · ")
            )
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "batch.png"))
            # 8. a CSV export of it, made when the button is clicked
            with page.expect_download() as download:
                page.locator(".st-key-batch_download_csv button").first.click()
            csv_text = Path(download.value.path()).read_text()
        finally:
            browser.close()

    assert sorted(line.split(",")[0] for line in csv_text.splitlines()[1:]) == sorted(chosen)
    # 9. the ledger holds exactly those five rows
    ledger = Ledger(url=f"sqlite:///{(home / 'ledger.db').resolve()}")
    batches = ledger.batches()
    assert list(batches["project"]) == ["digit-audit"]
    assert list(batches["created_by"]) == ["Grace"]
    assert list(batches["status"]) == ["exported"]
    stored = ledger.batch_rows(int(batches["batch_id"].iloc[0]))
    assert sorted(stored["data_row_id"]) == sorted(chosen)


def _css(data_row_id: str) -> str:
    """The class suffix Streamlit derives from a key (other characters become '-')."""
    return re.sub(r"[^a-zA-Z0-9_-]", "-", data_row_id)


def _images_loaded(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stImage] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=30_000,
    )


def test_detection_review_and_detail(server: tuple[str, Path]) -> None:
    """Boxes on the detection sample's thumbnails and in its detail view (screenshots kept)."""
    from playwright.sync_api import expect, sync_playwright

    from labelnext.readers import load_run
    from labelnext.select import ranked

    url, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    run = load_run(REPO / "sample_data" / "mnist_detect")
    order = list(ranked(run, "least_confidence")["data_row_id"])
    first = order[0]
    assert run.boxes is not None
    n_boxes = int(run.boxes.counts[run.row_index(first)])
    assert n_boxes > 0

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1500})
        try:
            page.goto(f"{url}/review?run=sample:mnist_detect")
            page.wait_for_selector(".st-key-review_pick_" + _css(first), timeout=60_000)
            _settle(page)
            assert _grid_ids(page) == [_css(i) for i in order[:24]]
            expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Combine boxes by")
            _images_loaded(page)
            # a picked card is highlighted even though its id holds a "." (canvas-0001.png)
            _pick(page, _css(order[1]), 1)
            expect(page.locator(f".st-key-review_card_{_css(order[1])}")).to_have_css(
                "border-top-width", "3px"
            )
            page.screenshot(path=str(ARTIFACTS / "detection-review.png"))

            page.locator(".st-key-review_open_" + _css(first) + " button").first.click()
            expect(page.get_by_role("heading", name=f"Row {first}")).to_be_visible(timeout=30_000)
            _settle(page)
            _images_loaded(page)
            expect(page.get_by_text(f"({n_boxes} shown)")).to_be_visible()
            expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
            page.wait_for_timeout(500)
            page.locator('[data-testid="stMain"]').screenshot(
                path=str(ARTIFACTS / "detection-detail.png")
            )
        finally:
            browser.close()
