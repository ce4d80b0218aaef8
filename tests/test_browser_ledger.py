"""The ledger's bad days, in real Chromium: down at start-up, dropped mid-session, back again;
and the confirmation and undo of a cancel (issue 10, classes 7 and 8).

The dashboard talks to PostgreSQL through a relay (tests/tcp_proxy.py) that the test stops and
starts: the shared server itself is never stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from browser_support import IDLE, StreamlitServer, make_server, settle, submit_review_page
from tcp_proxy import TcpProxy

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def relayed_app(pg_schema_url: str, tmp_path: Path) -> Iterator[tuple[StreamlitServer, TcpProxy]]:
    """A dashboard whose PostgreSQL ledger is reached through a relay (started, then stopped)."""
    url = sa.make_url(pg_schema_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    via = url.set(port=proxy.port).render_as_string(hide_password=False)
    server = make_server(tmp_path, LABELNEXT_DB_URL=via).start()
    try:
        yield server, proxy
    finally:
        server.stop()
        proxy.stop()


def _goto(page, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=60_000)
    settle(page)


def test_the_ledger_down_is_said_plainly_and_the_app_recovers(
    chromium, relayed_app: tuple[StreamlitServer, TcpProxy]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    server, proxy = relayed_app
    context = chromium.new_context(viewport={"width": 1600, "height": 1400})
    page = context.new_page()
    main = page.locator('[data-testid="stMain"]')
    try:
        # 1. down at start-up: Home says so, Review shows no row as free
        _goto(page, server.url)
        expect(main).to_contain_text("The ledger cannot be read")
        expect(main).to_contain_text("unknown")
        page.get_by_role("link", name="Review").click()
        settle(page)
        expect(main).to_contain_text("rows already in a batch cannot be hidden")
        assert page.locator('[class*="st-key-review_pick_"]').count() == 0
        # 2. it comes back: the same page works again, on the next action
        proxy.start()
        page.locator(".st-key-review_retry button").first.click()
        settle(page)
        expect(page.locator('[class*="st-key-review_pick_"]').first).to_be_visible()
        # 3. pick the page, name ourselves, submit a batch
        page.locator(".st-key-review_select_page button").first.click()
        settle(page)
        name = page.locator(".st-key-sidebar_user input")
        name.fill("Ada")
        name.press("Enter")
        settle(page)
        page.get_by_role("link", name="Batch").click()
        settle(page)
        page.locator(".st-key-batch_new_project input").fill("outage")
        page.locator(".st-key-batch_submit button").first.click()
        settle(page)
        expect(main).to_contain_text("stored in project")
        # 4. dropped mid-session: Batch refuses writes and says why; no redacted error
        proxy.stop()
        page.reload()
        page.wait_for_selector(IDLE, timeout=60_000)
        settle(page)
        expect(main).to_contain_text("cannot be read")
        assert "This app has encountered an error" not in main.inner_text()
        # 5. back again: history and writes return
        proxy.start()
        page.reload()
        page.wait_for_selector(IDLE, timeout=60_000)
        settle(page)
        expect(page.locator(".st-key-batch_cancel button").first).to_be_enabled()
    finally:
        context.close()
        server.check_alive()


def test_cancel_asks_first_and_can_be_undone(page, app_server: StreamlitServer) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from labelnext.ledger import Ledger

    submit_review_page(page, app_server.url, user="Grace", project="undo-check")
    ledger = Ledger(app_server.ledger_url)
    batch = int(ledger.batches("undo-check")["batch_id"].iloc[0])
    page.locator(".st-key-batch_cancel button").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Cancel batch #{batch}")
    expect(dialog).to_contain_text("24 open row(s) are freed")
    assert ledger.batch(batch).status == "queued"  # nothing happens before the confirmation
    dialog.locator(".st-key-batch_confirm_yes button").first.click()
    settle(page)
    assert ledger.batch(batch).status == "cancelled"
    page.locator(".st-key-batch_undo button").first.click()
    settle(page)
    expect(page.locator('[data-testid="stMain"]')).to_contain_text(f"Undone: batch #{batch}")
    assert ledger.batch(batch).status == "queued"
