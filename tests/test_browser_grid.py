"""The Review grid as one component, in real Chromium: picks by click, keyboard and shift-click
range; the selection is the same one the rest of the app reads; rows queued in another project
carry a badge and can be hidden; strings from the run stay text.

Its own server (``LABELNEXT_REVIEW_GRID=component``) and ledger: two projects' batches are
seeded before it starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_support import ARTIFACTS, REPO, StreamlitServer, make_server, settle

from labelnext_app.session import DEFAULT_STRATEGY

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GRID = "[data-row-id]"


@pytest.fixture(scope="module")
def order() -> list[str]:
    from labelnext.readers import load_run
    from labelnext.select import ranked

    run = load_run(REPO / "sample_data" / "mnist" / "run_001")
    return list(ranked(run, DEFAULT_STRATEGY)["data_row_id"])


@pytest.fixture(scope="module")
def grid_server(
    tmp_path_factory: pytest.TempPathFactory, order: list[str]
) -> Iterator[StreamlitServer]:
    from browser_support import require_chromium

    from labelnext.ledger import Ledger

    require_chromium()
    server = make_server(tmp_path_factory.mktemp("grid"), LABELNEXT_REVIEW_GRID="component")
    server.home.mkdir(parents=True, exist_ok=True)
    with Ledger(url=server.ledger_url) as ledger:
        # page 1's rows 3 and 4 are queued in another project; the newest batch (row 30) makes
        # "mine" the project Review hides for
        for project, rows in (("other", order[3:5]), ("mine", order[30:31])):
            ledger.submit(
                project=project,
                name=f"{project} batch",
                rows=pd.DataFrame({"data_row_id": rows}),
                created_by="test",
                strategy="least_confidence",
                run_id=None,
            )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def grid_page(chromium, grid_server: StreamlitServer) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    context = chromium.new_context(viewport={"width": 1600, "height": 1700})
    try:
        page = context.new_page()
        page.goto(f"{grid_server.url}/review?run=sample:mnist/run_001")
        page.wait_for_selector(GRID, timeout=60_000)
        settle(page)
        yield page
    finally:
        context.close()
        grid_server.check_alive()


def _card(page: Any, rid: str) -> Any:
    return page.locator(f'[data-row-id="{rid}"]')


def _count_is(page: Any, n: int) -> None:
    page.wait_for_function(
        """n => document.querySelector('[data-testid="stSidebar"] [data-testid="stMetricValue"]')
               ?.innerText.trim() === String(n)""",
        arg=n,
        timeout=30_000,
    )
    settle(page)


def _shown(page: Any) -> list[str]:
    return [str(x) for x in page.locator(GRID).evaluate_all("els => els.map(e => e.dataset.rowId)")]


def test_click_keyboard_and_range_picks_reach_the_session_selection(
    grid_page: Any, order: list[str]
) -> None:
    from playwright.sync_api import expect

    page = grid_page
    shown = _shown(page)
    # the chosen project's row (order[30]) is hidden, the other project's are shown
    assert order[30] not in shown and shown[:3] == order[:3]
    assert len(shown) == 24
    expect(page.locator(f'{GRID} img[loading="lazy"]').first).to_be_visible()

    # a click on the card picks it, at once in the browser and then in the sidebar count
    _card(page, shown[0]).click()
    expect(_card(page, shown[0])).to_have_class("ln-card ln-picked ln-focus")
    _count_is(page, 1)
    expect(_card(page, shown[0]).locator("input[type=checkbox]")).to_be_checked()

    # keyboard: j moves the focus ring, x picks, k back, x un-picks
    _card(page, shown[0]).focus()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("x")
    _count_is(page, 2)
    expect(_card(page, shown[2])).to_have_class("ln-card ln-picked ln-focus")
    page.keyboard.press("k")
    page.keyboard.press("k")
    page.keyboard.press("x")
    _count_is(page, 1)

    # shift-click picks the range between the last card clicked and this one
    _card(page, shown[5]).click()
    _count_is(page, 2)
    _card(page, shown[9]).click(modifiers=["Shift"])
    _count_is(page, 6)
    picked = page.locator(f"{GRID}.ln-picked").evaluate_all("els => els.map(e => e.dataset.rowId)")
    assert picked == shown[2:3] + shown[5:10]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-grid-component.png"))

    # the sidebar's count is the session's selection, the one Batch submits
    assert _shown(page) == shown  # picking never reordered or redrew another page


def test_o_opens_the_focused_card_in_detail(grid_page: Any, order: list[str]) -> None:
    from playwright.sync_api import expect

    page = grid_page
    shown = _shown(page)
    _card(page, shown[1]).focus()
    page.keyboard.press("o")
    expect(page.get_by_role("heading", name=f"Row {shown[1]}")).to_be_visible(timeout=30_000)
    assert f"row={shown[1]}" in page.url


def test_rows_of_another_project_carry_a_badge_and_can_be_hidden(
    grid_page: Any, order: list[str]
) -> None:
    from playwright.sync_api import expect

    page = grid_page
    for rid in order[3:5]:
        expect(_card(page, rid).locator(".ln-badge")).to_have_text("in another project")
    assert page.locator(".ln-badge").count() == 2
    page.get_by_text("Hide other projects").click()
    expect(_card(page, order[3])).to_have_count(0, timeout=30_000)
    settle(page)
    shown = _shown(page)
    assert order[3] not in shown and order[4] not in shown
    assert shown[:3] == order[:3] and shown[3] == order[5]
    assert page.locator(".ln-badge").count() == 0


def test_the_grid_sets_strings_as_text(tmp_path: Path) -> None:
    # no innerHTML, insertAdjacentHTML or document.write anywhere in the component's code
    source = (REPO / "labelnext_app" / "assets" / "review_grid.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in source
