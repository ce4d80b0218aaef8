"""Explore in real Chromium: drag a lasso on the plotly map, then the remove toggle.

The rows a lasso selects are computed here independently of the page: the pixel path the mouse
drew is turned into data coordinates with the axis ranges plotly reports for the drawn plot
(``_fullLayout.xaxis.range``) and the plot area's box on the screen, and matplotlib's
``Path.contains_points`` is applied to the coordinates cached on disk for the run. The selection
the page holds is read back three ways: the sidebar's count, the Review grid's ticked cards
(after "Show these in Review", then unfiltered), and the rows of the batch the Batch page
submits, read from the ledger. Screenshots of the map go to ``tests/artifacts/``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from browser_support import IDLE, REPO, StreamlitServer, css, grid_ids, selected_count, settle
from matplotlib.path import Path as MplPath
from numpy.typing import NDArray

from labelnext.ledger import Ledger
from labelnext.projection import map_coordinates
from labelnext.readers import load_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "tests" / "artifacts"
MAP = ".st-key-explore_map .js-plotly-plot"
# A concave lasso (an arrow head pointing left), in fractions of the plot area's width/height
# from its top-left corner; the second, smaller one overlaps the first and is used to remove.
ADD_SHAPE = [(0.22, 0.28), (0.62, 0.22), (0.48, 0.45), (0.70, 0.72), (0.25, 0.66), (0.36, 0.47)]
REMOVE_SHAPE = [(0.30, 0.35), (0.50, 0.33), (0.52, 0.60), (0.32, 0.58)]
# Points this close (in pixels) to a lasso's edge may fall either way between the browser's
# rounding of the mouse path and ours; they are reported, not asserted.
EDGE_PX = 1.0


def test_lasso_on_the_map_selects_exactly_the_rows_inside(  # type: ignore[no-untyped-def]
    page, app_server: StreamlitServer
) -> None:
    from playwright.sync_api import expect

    run = load_run(REPO / "sample_data" / "mnist" / "run_001")
    with Ledger(url=app_server.ledger_url) as ledger:
        project = ledger.last_project()  # the project the page's queue starts on
        taken = ledger.excluded_ids(project) if project is not None else frozenset()
    free = ~run.mask_of(taken)  # Review's default filter hides rows already in a batch

    page.goto(f"{app_server.url}/explore")
    _first_load(page)
    name = page.locator(".st-key-sidebar_user input")  # a batch records who submitted it
    name.fill("Explorer")
    name.press("Enter")
    area = _map_area(page)
    xy = map_coordinates(run, home=app_server.home).xy  # the page's cache, read back
    assert map_coordinates(run, home=app_server.home).from_cache

    # 1. a lasso adds the rows inside it
    inside, edge = _rows_inside(xy, area, ADD_SHAPE)
    expected = inside & free
    assert expected.sum() > 20, "the lasso should hold a fair number of rows"
    _drag_lasso(page, area, ADD_SHAPE)
    _wait_for_count(page, int(expected.sum()), edge & free)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("added to the selection")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".st-key-explore_map").screenshot(path=str(ARTIFACTS / "explore_lasso.png"))

    # 2. "Show these in Review": the grid holds only the lasso's rows, every card ticked
    page.locator(".st-key-explore_to_review button").first.click()
    settle(page)
    expect(main).to_contain_text(f"Showing only the {int(expected.sum()):,} rows")
    shown = grid_ids(page)
    lasso_ids = {css(str(i)) for i in run.ids[expected]}
    assert shown and set(shown) <= lasso_ids
    for rid in shown:
        expect(page.locator(f".st-key-review_pick_{rid} input")).to_be_checked()
    page.locator(".st-key-review_clear_only button").first.click()
    settle(page)

    # 3. with "Lasso removes rows" on, a second lasso takes its rows out again
    page.get_by_role("link", name="Explore").click()
    area = _map_area(page)
    page.locator(".st-key-explore_remove label").click()
    settle(page)
    removed, edge2 = _rows_inside(xy, area, REMOVE_SHAPE)
    assert (removed & expected).sum() > 5, "the second lasso should overlap the first"
    final = expected & ~removed
    _drag_lasso(page, area, REMOVE_SHAPE)
    _wait_for_count(page, int(final.sum()), (edge | edge2) & free)
    expect(main).to_contain_text("removed from the selection")
    page.locator(".st-key-explore_map").screenshot(path=str(ARTIFACTS / "explore_remove.png"))
    page.screenshot(path=str(ARTIFACTS / "explore_page.png"))

    # 4. Review, unfiltered: a card is ticked exactly when its row is in the selection
    page.get_by_role("link", name="Review").click()
    settle(page)
    final_ids = {str(i) for i in run.ids[final]}
    shown = grid_ids(page)
    assert len(shown) == 24
    by_css = {css(i): i for i in run.ids[free].astype(str)}
    unsure = {str(i) for i in run.ids[(edge | edge2) & free]}
    for rid in shown:
        box = expect(page.locator(f".st-key-review_pick_{rid} input"))
        if by_css[rid] in unsure:
            continue
        if by_css[rid] in final_ids:
            box.to_be_checked()
        else:
            box.not_to_be_checked()

    # 5. Batch submits exactly those rows
    page.get_by_role("link", name="Batch").click()
    settle(page)
    expect(page.locator(".st-key-batch_submit button")).to_have_text(
        re.compile(rf"Submit {len(final_ids):,} rows")
    )
    page.locator(".st-key-batch_project").click()
    page.get_by_role("option", name="New project…").click()
    settle(page)
    page.locator(".st-key-batch_new_project input").fill("explore-browser")
    page.locator(".st-key-batch_submit button").first.click()
    settle(page)
    expect(main).to_contain_text("stored in project")
    with Ledger(url=app_server.ledger_url) as ledger:
        newest = int(ledger.batches("explore-browser")["batch_id"].iloc[0])
        stored = set(ledger.batch_rows(newest)["data_row_id"])
    unsure = {str(i) for i in run.ids[(edge | edge2) & free]}
    assert stored - unsure == final_ids - unsure


# --- helpers -------------------------------------------------------------------------------------


def _first_load(page: Any) -> None:
    """The first page of a session on a cold server: Streamlit fetches each element type's code
    on first use (plotly's is large); on this shared 2-core machine that alone can take a
    minute, so the first wait is longer than settle()'s. Later pages use settle()."""
    page.wait_for_selector(IDLE, timeout=90_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=90_000
    )
    settle(page)


def _map_area(page: Any) -> dict[str, Any]:
    """The drawn plot area on the screen and the axis ranges plotly drew it with."""
    settle(page)
    page.wait_for_function(
        """sel => {
            const gd = document.querySelector(sel);
            return gd && gd._fullLayout && gd._fullLayout.xaxis && gd._fullLayout.xaxis.range
                && gd.querySelector('.nsewdrag');
        }""",
        arg=MAP,
        timeout=30_000,
    )
    page.locator(MAP).scroll_into_view_if_needed()
    found: dict[str, Any] = page.evaluate(
        """sel => {
            const gd = document.querySelector(sel);
            const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
            const lay = gd._fullLayout;
            return {
                left: box.left, top: box.top, width: box.width, height: box.height,
                x_range: lay.xaxis.range.slice(), y_range: lay.yaxis.range.slice(),
                x_length: lay.xaxis._length, y_length: lay.yaxis._length,
                dragmode: lay.dragmode,
            };
        }""",
        MAP,
    )
    assert found["dragmode"] == "lasso"
    # the drag rectangle is the axes' own extent (a sanity check of the conversion below)
    assert abs(found["width"] - found["x_length"]) < 1.0
    assert abs(found["height"] - found["y_length"]) < 1.0
    return found


def _pixels(area: dict[str, Any], shape: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Whole-pixel screen positions of a shape (the mouse moves in whole CSS pixels)."""
    return [
        (round(area["left"] + fx * area["width"]), round(area["top"] + fy * area["height"]))
        for fx, fy in shape
    ]


def _rows_inside(
    xy: NDArray[np.float32], area: dict[str, Any], shape: list[tuple[float, float]]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Rows inside the lasso (matplotlib), and rows within EDGE_PX pixels of its edge."""
    (x0, x1), (y0, y1) = area["x_range"], area["y_range"]
    per_px_x = (x1 - x0) / area["width"]
    per_px_y = (y1 - y0) / area["height"]

    def to_data(px: float, py: float) -> tuple[float, float]:
        return x0 + (px - area["left"]) * per_px_x, y1 - (py - area["top"]) * per_px_y

    polygon = np.array([to_data(px, py) for px, py in _pixels(area, shape)])
    path = MplPath(np.vstack([polygon, polygon[:1]]), closed=True)
    points = np.asarray(xy, dtype=np.float64)
    inside = path.contains_points(points)
    # distance of each point to the polygon's edges, in screen pixels
    pix = np.column_stack([(points[:, 0] - x0) / per_px_x, (y1 - points[:, 1]) / per_px_y])
    corners = np.column_stack([(polygon[:, 0] - x0) / per_px_x, (y1 - polygon[:, 1]) / per_px_y])
    nearest = np.full(len(pix), np.inf)
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        d = b - a
        t = np.clip(((pix - a) @ d) / max(float(d @ d), 1e-12), 0.0, 1.0)
        nearest = np.minimum(nearest, np.linalg.norm(pix - (a + t[:, None] * d), axis=1))
    return inside, nearest <= EDGE_PX


def _drag_lasso(page: Any, area: dict[str, Any], shape: list[tuple[float, float]]) -> None:
    """Press, move along the shape's edges (several mouse events per edge), close it, release."""
    corners = _pixels(area, shape)
    page.mouse.move(*corners[0])
    page.mouse.down()
    for x, y in [*corners[1:], corners[0]]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def _wait_for_count(page: Any, expected: int, edge: NDArray[np.bool_]) -> None:
    """Wait until the sidebar shows the selection count, allowing for rows on the lasso's edge."""
    slack = int(edge.sum())
    page.wait_for_function(
        """([lo, hi]) => {
            const el = document.querySelector(
                '[data-testid="stSidebar"] [data-testid="stMetricValue"]');
            if (!el) return false;
            const n = Number(el.innerText.replace(/,/g, '').trim());
            return n >= lo && n <= hi;
        }""",
        arg=[expected - slack, expected + slack],
        timeout=30_000,
    )
    settle(page)
    got = int(selected_count(page).replace(",", ""))
    assert abs(got - expected) <= slack, (got, expected, slack)
    if slack == 0:
        assert got == expected
