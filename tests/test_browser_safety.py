"""Hostile strings in a run, a batch and a project, in real Chromium: nothing runs, nothing is
fetched, and the text shows as typed (issue: data rendered as HTML and Markdown)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_support import ARTIFACTS, IDLE, StreamlitServer, choose_new_project, free_port, settle
from hostile import write_hostile_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    """A local web server that records every request it gets: nothing may reach it."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()


def _no_harm(page, hits: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("() => window.__pwned") is None, "hostile script ran"
    assert hits == [], f"the canary was fetched: {hits}"
    main = page.locator('[data-testid="stAppViewContainer"]')
    assert main.locator("iframe[srcdoc]").count() == 0
    assert main.locator("a[href^='javascript:']").count() == 0
    assert main.locator("a[href*='127.0.0.1'][href*='link']").count() == 0


def test_hostile_strings_are_text_on_every_page(
    page, app_server: StreamlitServer, canary: tuple[str, list[str]]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    url, hits = canary
    folder = app_server.data / "hostile"
    texts = write_hostile_run(folder, url)
    key = f"path:{folder}"
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(f"{app_server.url}/?run={key}")
    page.wait_for_selector(IDLE, timeout=60_000)
    settle(page)
    # the run name, with its markup, shows as typed
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(texts["iframe"])
    _no_harm(page, hits)
    page.screenshot(path=str(ARTIFACTS / "hostile-home.png"))

    page.get_by_role("link", name="Review").click()
    page.wait_for_selector('[class*="st-key-review_pick_"]', timeout=30_000)
    settle(page)
    _no_harm(page, hits)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text(texts["html_img"])  # a class name under a thumbnail
    # as typed, icon names included (an invisible word joiner keeps Streamlit's icons out)
    assert texts["directives"] in main.inner_text().replace("\u2060", "")
    assert main.locator('[data-testid="stIconMaterial"]:text-is("home")').count() == 0
    page.screenshot(path=str(ARTIFACTS / "hostile-review.png"))

    # pick the page, then submit it to a hostile project under a hostile batch name
    page.locator(".st-key-review_select_page button").first.click()
    settle(page)
    name = page.locator(".st-key-sidebar_user input")
    name.fill(texts["md_link"])
    name.press("Enter")
    settle(page)
    page.get_by_role("link", name="Batch").click()
    page.wait_for_selector(".st-key-batch_new_project input", timeout=30_000)
    settle(page)
    choose_new_project(page)
    page.locator(".st-key-batch_new_project input").fill(texts["md_image"])
    page.locator(".st-key-batch_name input").fill(texts["directives"])
    page.locator(".st-key-batch_submit button").first.click()
    settle(page)
    expect(main).to_contain_text("stored in project")
    expect(main).to_contain_text(texts["md_image"])
    assert texts["directives"] in main.inner_text().replace("\u2060", "")
    _no_harm(page, hits)
    page.screenshot(path=str(ARTIFACTS / "hostile-batch.png"))
