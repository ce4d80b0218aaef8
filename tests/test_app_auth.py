"""Sign-in and editors in the dashboard, through AppTest (``at.user`` stands for ``st.login``).

What AppTest cannot do (a real provider's redirects, a request's headers and address) is in
tests/test_browser_team.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import assert_clean, ledger_for, make_app, sample_run
from streamlit.testing.v1 import AppTest

from labelnext.select import ranked

NEW = "New project…"


def _ids(k: int = 4) -> list[str]:
    return list(ranked(sample_run(), "least_confidence", k=k)["data_row_id"])


def _signed_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, email: str) -> AppTest:
    at = make_app(tmp_path, monkeypatch)
    at.user = {"is_logged_in": True, "email": email, "sub": "sub-1"}
    return at.run()


def _submit_new(at: AppTest, project: str) -> None:
    at.switch_page("pages/batch.py").run()
    at.selectbox(key="batch_project").set_value(NEW)
    at.text_input(key="batch_new_project").input(project)
    at.button(key="batch_submit").click().run()


def test_signed_out_sees_only_the_sign_in_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch)
    at.user = {"is_logged_in": False}
    at.run()
    assert_clean(at)
    assert at.button(key="auth_login_default").label == "Sign in"
    assert not [t for t in at.text_input if t.key == "sidebar_user"]
    assert "Sign in to see which rows to label next" in at.markdown[0].value
    assert not at.metric  # no run, no counts: nothing of the ledger or the data is shown


def test_signed_in_email_is_recorded_and_the_name_box_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _signed_in(tmp_path, monkeypatch, "ada@lab.org")
    assert_clean(at)
    assert not [t for t in at.sidebar.text_input if t.key == "sidebar_user"]
    assert "Signed in as `ada@lab.org`" in at.sidebar.caption[-1].value
    assert at.sidebar.button(key="sidebar_logout").label == "Sign out"
    at.session_state["selection"] = set(_ids())
    _submit_new(at, "signed")
    assert_clean(at)
    assert "Actions are not authenticated" not in " ".join(c.value for c in at.caption)
    ledger = ledger_for(tmp_path)
    assert ledger.batch(1).created_by == "ada@lab.org"
    at.button(key="batch_cancel").click().run()
    at.button(key="batch_confirm_yes").click().run()
    assert_clean(at)
    actors = ledger.actions(batch_id=1)[["kind", "actor", "origin"]].to_dict("records")
    assert actors == [
        {"kind": "cancel", "actor": "ada@lab.org", "origin": "app"},
        {"kind": "submit", "actor": "ada@lab.org", "origin": "app"},
    ]


def test_without_sign_in_batch_says_actions_are_not_authenticated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(tmp_path, monkeypatch).run()
    at.switch_page("pages/batch.py").run()
    assert_clean(at)
    assert "Actions are not authenticated" in " ".join(c.value for c in at.caption)
    assert at.sidebar.text_input(key="sidebar_user")  # today's laptop behaviour: a typed name


def test_a_non_editor_can_look_but_not_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELNEXT_EDITORS", "@lab.org")
    at = _signed_in(tmp_path, monkeypatch, "eve@elsewhere.com")
    at.session_state["selection"] = set(_ids())
    at.switch_page("pages/batch.py").run()
    assert_clean(at)
    assert at.button(key="batch_submit").disabled
    view_only = next(i.value for i in at.info if "View only" in i.value)
    assert "`eve@elsewhere.com` is not an editor" in view_only
    assert "View only" in at.sidebar.caption[-1].value


def test_a_page_drawn_for_an_editor_refuses_once_they_are_not_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The callbacks check again: a stale page (the list changed since) writes nothing."""
    monkeypatch.setenv("LABELNEXT_EDITORS", "ada@lab.org")
    at = _signed_in(tmp_path, monkeypatch, "ada@lab.org")
    at.session_state["selection"] = set(_ids())
    _submit_new(at, "first")
    assert_clean(at)
    at.session_state["selection"] = set(_ids(8)[4:])
    at.run()
    monkeypatch.setenv("LABELNEXT_EDITORS", "bob@lab.org")
    at.button(key="batch_cancel").click().run()
    assert "**Not cancelled:** `ada@lab.org` is not an editor" in at.error[0].value
    assert "Nothing was changed" in at.error[0].value
    assert at.button(key="batch_cancel").disabled  # and the page now says so
    monkeypatch.setenv("LABELNEXT_EDITORS", "ada@lab.org")
    at.run()
    monkeypatch.setenv("LABELNEXT_EDITORS", "bob@lab.org")
    at.button(key="batch_submit").click().run()
    assert "**Not submitted:**" in at.error[0].value
    assert "`ada@lab.org` is not an editor" in at.error[0].value
    ledger = ledger_for(tmp_path)
    assert len(ledger.batches()) == 1
    assert ledger.batch(1).status == "queued"
    assert list(ledger.actions()["kind"]) == ["submit"]


def test_a_typed_email_is_not_an_editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELNEXT_EDITORS", "ada@lab.org")
    at = make_app(tmp_path, monkeypatch).run()
    at.sidebar.text_input(key="sidebar_user").input("ada@lab.org").run()
    at.switch_page("pages/batch.py").run()
    assert "your name was typed, not signed in" in " ".join(i.value for i in at.info)
    assert at.button(key="batch_submit").disabled


def test_a_trusted_proxys_header_signs_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest has no request; the real headers and addresses are in the browser tests."""
    from labelnext_app import auth

    monkeypatch.setenv("LABELNEXT_TRUSTED_USER_HEADER", "X-Forwarded-Email")
    monkeypatch.setenv("LABELNEXT_TRUSTED_PROXIES", "10.0.0.5")
    request = ({"X-Forwarded-Email": "bob@lab.org"}, "10.0.0.5")
    monkeypatch.setattr(auth, "_request", lambda: request)
    at = make_app(tmp_path, monkeypatch).run()
    assert "Signed in as `bob@lab.org`" in at.sidebar.caption[-1].value
    assert not [t for t in at.sidebar.button if t.key == "sidebar_logout"]  # the proxy signs out
    request = ({"X-Forwarded-Email": "bob@lab.org"}, "10.0.0.6")
    at.run()
    assert at.sidebar.text_input(key="sidebar_user")
