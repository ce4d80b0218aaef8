"""The Simulate page in real Chromium: a small simulation on the shipped run, from the controls
to the drawn learning curves (median lines and bands) and the verdict."""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, IDLE, StreamlitServer, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _set_number(page, key: str, value: int) -> None:  # type: ignore[no-untyped-def]
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def test_a_small_simulation_draws_the_curves_and_the_verdict(
    page, app_server: StreamlitServer
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{app_server.url}/simulate")
    page.wait_for_selector(IDLE, timeout=60_000)
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("4,875 labeled rows", timeout=30_000)
    _set_number(page, "simulate_seeds", 2)
    _set_number(page, "simulate_budget", 70)
    page.locator(".st-key-simulate_run button").click()
    # the progress panel, then the result: poll the server too, so a dead one fails at once
    chart = page.locator(".st-key-simulate_chart .js-plotly-plot")
    for _ in range(360):
        app_server.check_alive()
        if chart.count():
            break
        page.wait_for_timeout(500)
    expect(chart).to_be_visible(timeout=10_000)
    settle(page)
    page.wait_for_timeout(500)  # plotly draws after the script is idle
    names = page.evaluate(
        "() => document.querySelector('.st-key-simulate_chart .js-plotly-plot').data"
        ".map(t => [t.name, t.fill || '', t.x.length])"
    )
    medians = [(n, length) for n, fill, length in names if fill != "toself"]
    bands = [n for n, fill, _ in names if fill == "toself"]
    assert [n for n, _ in medians] == ["random", "margin", "diverse", "cluster", "typical", "auto"]
    assert all(length == 2 for _, length in medians)  # 20 and 70 labels
    assert len(bands) == 6
    expect(page.locator(".st-key-simulate_chart .scatterlayer .trace")).to_have_count(12)
    verdict = main.locator('[data-testid="stAlertContainer"]').filter(has_text="budget 70")
    expect(verdict).to_have_count(1)
    assert "2 seed(s), batches of 50" in verdict.inner_text()
    expect(main).to_contain_text("labels to target (median)")
    page.screenshot(path=str(ARTIFACTS / "simulate.png"))
