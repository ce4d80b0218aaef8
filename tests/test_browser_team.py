"""A team on one URL, in real Chromium (issue 17): sign-in through a real OpenID Connect provider,
editors, a trusted proxy's header, and two app replicas on one PostgreSQL ledger.

Every server starts once for this module: the provider (``oidc-provider-mock`` on loopback), a
dashboard with ``st.login`` pointed at it, a dashboard behind header-setting relays
(tests/tcp_proxy.py), and two dashboards sharing one PostgreSQL schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import (
    ARTIFACTS,
    IDLE,
    StreamlitServer,
    css,
    free_port,
    grid_ids,
    make_server,
    require_chromium,
    settle,
)
from conftest import new_pg_schema
from oidc_provider import OidcProvider, require_oidc_mock, secrets_toml
from tcp_proxy import HeaderProxy

from labelnext.ledger import Ledger

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HEADER = "X-Forwarded-Email"
EDITORS = "@lab.org"


# -- servers, once per module --------------------------------------------------------------------


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    require_chromium()
    require_oidc_mock()
    provider = OidcProvider(tmp_path_factory.mktemp("oidc") / "oidc.log").start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def signin_app(
    oidc: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StreamlitServer]:
    """A dashboard whose ``[auth]`` block points at the local provider; editors: @lab.org."""
    root = tmp_path_factory.mktemp("signin")
    server = make_server(root, LABELNEXT_EDITORS=EDITORS)
    server.port = free_port()
    secrets = secrets_toml(root / "secrets.toml", oidc, server.port)
    server.args = (f"--secrets.files={secrets}",)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxied_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StreamlitServer, HeaderProxy, HeaderProxy]]:
    """A dashboard that believes ``X-Forwarded-Email`` from 127.0.0.2 only, and two relays
    that set it: one connecting from 127.0.0.2 (the proxy), one from 127.0.0.3 (not)."""
    require_chromium()
    server = make_server(
        tmp_path_factory.mktemp("proxied"),
        LABELNEXT_TRUSTED_USER_HEADER=HEADER,
        LABELNEXT_TRUSTED_PROXIES="127.0.0.2/32",
        LABELNEXT_EDITORS=EDITORS,
    ).start()
    port = int(server.url.rsplit(":", 1)[1])
    trusted = HeaderProxy(("127.0.0.1", port), HEADER, "ada@lab.org", source="127.0.0.2")
    other = HeaderProxy(("127.0.0.1", port), HEADER, "ada@lab.org", source="127.0.0.3")
    trusted.start()
    other.start()
    try:
        yield server, trusted, other
    finally:
        trusted.stop()
        other.stop()
        server.stop()


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StreamlitServer, StreamlitServer]]:
    """Two dashboards, two processes, one PostgreSQL ledger."""
    require_chromium()
    with new_pg_schema() as url:
        first = make_server(tmp_path_factory.mktemp("replica_a"), LABELNEXT_DB_URL=url)
        second = make_server(tmp_path_factory.mktemp("replica_b"), LABELNEXT_DB_URL=url)
        first.start()
        try:
            second.start()
            try:
                yield first, second
            finally:
                second.stop()
        finally:
            first.stop()


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    made: list[Any] = []

    def new(**options: Any) -> Any:
        ctx = chromium.new_context(viewport={"width": 1600, "height": 1500}, **options)
        made.append(ctx)
        return ctx

    yield new
    for ctx in made:
        ctx.close()


# -- steps ---------------------------------------------------------------------------------------


def _goto(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(IDLE, timeout=60_000)
    settle(page)


def _main(page: Any) -> Any:
    return page.locator('[data-testid="stMain"]')


def _sidebar(page: Any) -> Any:
    return page.locator('[data-testid="stSidebar"]')


def _sign_in(page: Any, server: StreamlitServer, email: str) -> None:
    """Through the provider's own authorization page, as a person would."""
    from playwright.sync_api import expect

    _goto(page, server.url)
    expect(_main(page)).to_contain_text("Sign in to see which rows to label next")
    page.locator(".st-key-auth_login_default button").first.click()
    page.wait_for_selector('input[name="sub"]', timeout=30_000)
    page.fill('input[name="sub"]', email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server.url}/**", timeout=30_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    settle(page)
    expect(_sidebar(page)).to_contain_text(f"Signed in as {email}")


def _select_first_page(page: Any, base_url: str) -> list[str]:
    _goto(page, f"{base_url}/review")
    page.locator(".st-key-review_select_page button").first.click()
    settle(page)
    return grid_ids(page)


def _type_name(page: Any, name: str) -> None:
    box = page.locator(".st-key-sidebar_user input")
    box.fill(name)
    box.press("Enter")
    settle(page)


def _fill_batch_form(page: Any, project: str) -> None:
    page.get_by_role("link", name="Batch").click()
    settle(page)
    page.locator(".st-key-batch_new_project input").fill(project)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"team_{name}.png"))


# -- sign-in through a real provider -------------------------------------------------------------


def test_sign_in_submit_as_that_email_and_sign_out(
    context: Any, oidc: OidcProvider, signin_app: StreamlitServer
) -> None:
    from playwright.sync_api import expect

    page = context().new_page()
    _sign_in(page, signin_app, "ada@lab.org")
    assert page.locator(".st-key-sidebar_user").count() == 0  # no name box when signed in
    _select_first_page(page, signin_app.url)
    _fill_batch_form(page, "signed-in")
    main = _main(page)
    expect(main).not_to_contain_text("Actions are not authenticated")
    page.locator(".st-key-batch_submit button").first.click()
    settle(page)
    expect(main).to_contain_text("stored in project")
    _shot(page, "signed_in_batch")
    with Ledger(signin_app.ledger_url) as ledger:
        batch_id = int(ledger.batches("signed-in")["batch_id"].iloc[0])
        assert ledger.batch(batch_id).created_by == "ada@lab.org"
        assert list(ledger.actions(batch_id=batch_id)["actor"]) == ["ada@lab.org"]

    page.locator(".st-key-sidebar_logout button").first.click()
    # Streamlit forgets the session, then sends us to the provider's end of session, which asks
    # to confirm and sends us back to the app
    page.wait_for_url(f"{oidc.url}/**", timeout=30_000)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{signin_app.url}/**", timeout=30_000)
    page.wait_for_selector(IDLE, timeout=60_000)
    expect(_main(page)).to_contain_text("Sign in to see which rows to label next")
    _goto(page, f"{signin_app.url}/batch")  # a deep link signed out: the same sign-in page
    expect(_main(page)).to_contain_text("Sign in to see which rows to label next")
    assert page.locator(".st-key-batch_submit").count() == 0
    assert page.get_by_text("Page not found").count() == 0
    _shot(page, "signed_out")


def test_a_signed_in_non_editor_can_look_but_is_refused(
    context: Any, signin_app: StreamlitServer
) -> None:
    from playwright.sync_api import expect

    page = context().new_page()
    _sign_in(page, signin_app, "eve@elsewhere.com")
    _select_first_page(page, signin_app.url)
    _fill_batch_form(page, "not-allowed")
    main = _main(page)
    expect(main).to_contain_text("View only:")
    expect(main).to_contain_text("eve@elsewhere.com is not an editor")
    expect(page.locator(".st-key-batch_submit button").first).to_be_disabled()
    _shot(page, "non_editor")
    with Ledger(signin_app.ledger_url) as ledger:
        assert "not-allowed" not in ledger.projects()


# -- a trusted proxy's header --------------------------------------------------------------------


def test_the_header_is_honoured_from_the_proxy_and_ignored_from_elsewhere(
    context: Any, proxied_app: tuple[StreamlitServer, HeaderProxy, HeaderProxy]
) -> None:
    from playwright.sync_api import expect

    server, trusted, other = proxied_app
    via_proxy = context().new_page()
    _goto(via_proxy, f"http://127.0.0.1:{trusted.port}/batch")
    expect(_sidebar(via_proxy)).to_contain_text("Signed in as ada@lab.org")
    assert via_proxy.locator(".st-key-sidebar_user").count() == 0
    assert via_proxy.locator(".st-key-sidebar_logout").count() == 0  # the proxy signs out
    _select_first_page(via_proxy, f"http://127.0.0.1:{trusted.port}")
    _fill_batch_form(via_proxy, "via-proxy")
    via_proxy.locator(".st-key-batch_submit button").first.click()
    settle(via_proxy)
    expect(_main(via_proxy)).to_contain_text("stored in project")
    with Ledger(server.ledger_url) as ledger:
        batch_id = int(ledger.batches("via-proxy")["batch_id"].iloc[0])
        assert ledger.batch(batch_id).created_by == "ada@lab.org"

    # the same header from an address that is not the proxy's: a typed name, not an editor
    elsewhere = context().new_page()
    _goto(elsewhere, f"http://127.0.0.1:{other.port}/batch")
    expect(_sidebar(elsewhere)).not_to_contain_text("Signed in as")
    _type_name(elsewhere, "ada@lab.org")
    expect(_sidebar(elsewhere)).to_contain_text("View only")
    # and straight from the browser, bypassing any proxy
    direct = context(extra_http_headers={HEADER: "ada@lab.org"}).new_page()
    _goto(direct, f"{server.url}/batch")
    expect(_sidebar(direct)).not_to_contain_text("Signed in as")
    expect(direct.locator(".st-key-sidebar_user input")).to_be_visible()
    assert trusted.connections > 0 and other.connections > 0


# -- two replicas, one PostgreSQL ledger ---------------------------------------------------------


@pytest.mark.postgres
def test_two_replicas_share_the_queue_and_never_queue_a_row_twice(
    context: Any, replicas: tuple[StreamlitServer, StreamlitServer]
) -> None:
    first, second = replicas
    pages = []
    for server, name in ((first, "Ada"), (second, "Bo")):
        page = context().new_page()
        ids = _select_first_page(page, server.url)
        _type_name(page, name)  # after the last page load: a load starts a new session
        _fill_batch_form(page, "shared")
        pages.append((page, ids))
    (a, a_ids), (b, b_ids) = pages
    assert a_ids == b_ids and a_ids  # the same run, the same order: the same rows
    # both submit at the same moment: exactly one batch gets the rows. dispatch_event sends the
    # click without waiting for the page to be in front (a background page's animation frames,
    # which Playwright's click waits on, are throttled)
    for page in (a, b):
        page.locator(".st-key-batch_submit button").first.dispatch_event("click")
    for page in (a, b):
        page.bring_to_front()
        settle(page)
    texts = [_main(p).inner_text() for p in (a, b)]
    stored = [t for t in texts if "stored in project" in t]
    refused = [t for t in texts if "Not submitted" in t]
    assert len(stored) == 1 and len(refused) == 1, texts
    with Ledger(first.ledger_url) as ledger:
        batches = ledger.batches("shared")
        assert len(batches) == 1
        batch_id = int(batches["batch_id"].iloc[0])
        queued = set(ledger.batch_rows(batch_id)["data_row_id"])
    assert f"(batch {batch_id})" in refused[0]  # the refusal names the rows' batch
    # each replica's Review hides the rows the other queued (within the exclusion cache's life)
    for page, server in ((a, first), (b, second)):
        page.bring_to_front()
        _goto(page, f"{server.url}/review")
        counts = re.search(r"([\d,]+) of ([\d,]+) rows", _main(page).inner_text())
        assert counts is not None
        shown_rows, all_rows = (int(g.replace(",", "")) for g in counts.groups())
        assert all_rows - shown_rows == len(queued)
        shown = set(grid_ids(page))
        assert shown and not shown & {css(i) for i in queued}
    _shot(b, "replica_review")
