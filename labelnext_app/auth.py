"""Who is acting in this browser session, and whether they may change the ledger.

The policy is :mod:`labelnext.access` (plain functions, tested without streamlit); this module
only gathers what it needs from Streamlit:

- ``st.login`` (OpenID Connect, an ``[auth]`` block in ``.streamlit/secrets.toml``): signed out,
  :func:`sign_in_page` is drawn instead of the app; signed in, the provider's e-mail is the
  actor of every batch and action, and the sidebar's name box is gone.
- ``LABELNEXT_TRUSTED_USER_HEADER`` from ``st.context.headers``, believed only when
  ``st.context.ip_address`` is one of ``LABELNEXT_TRUSTED_PROXIES``.
- Neither: the name typed once per session in the sidebar, recorded as given (not authenticated).

:func:`refusal` is what every write callback asks first (submit, mark, cancel, undo, reopen,
label import): ``None`` when the user may act, else the sentence that says why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from labelnext import access
from labelnext.config import settings

from . import safe_text, session

__all__ = [
    "identity",
    "oidc_configured",
    "oidc_providers",
    "permission",
    "refusal",
    "sign_in_page",
    "sign_in_pages",
    "signed_out",
]


def _user_info() -> dict[str, Any]:
    try:
        return dict(st.user.to_dict())
    except Exception:  # st.user outside a script run, or an auth setup Streamlit refuses
        return {}


def oidc_configured() -> bool:
    """Whether ``st.login`` is set up (Streamlit then tells signed-in from signed-out)."""
    return "is_logged_in" in _user_info()


def oidc_providers() -> list[str | None]:
    """The providers of the ``[auth]`` block: ``[None]`` for one unnamed provider, else the
    names of its ``[auth.NAME]`` sections."""
    try:
        section = st.secrets.get("auth") or {}
    except Exception:  # no secrets file
        return [None]
    named: list[str | None] = [
        str(k) for k, v in section.items() if isinstance(v, Mapping) and "client_id" in v
    ]
    return [None] if "client_id" in section or not named else named


def _request() -> tuple[Mapping[str, str], str | None]:
    """The request's headers and peer address (both empty outside a browser session)."""
    try:
        return dict(st.context.headers), st.context.ip_address
    except Exception:  # AppTest or no session: no request to read
        return {}, None


def identity() -> access.Identity:
    """Who is acting now (see :func:`labelnext.access.identify`)."""
    info = _user_info()
    signed_in = None
    if info.get("is_logged_in") is True:
        signed_in = str(info.get("email") or info.get("sub") or "") or None
    config = settings()
    headers, address = _request() if config.trusted_user_header else ({}, None)
    return access.identify(
        signed_in=signed_in,
        headers=headers,
        address=address,
        header=config.trusted_user_header,
        proxies=config.trusted_proxies,
        typed=str(st.session_state.get(session.USER) or ""),
    )


def permission() -> access.Decision:
    """Whether the current identity may change the ledger (``LABELNEXT_EDITORS``)."""
    return access.may_edit(identity(), settings().editors)


def refusal() -> str | None:
    """``None`` if the user may change the ledger, else why not: Markdown (the name quoted by
    :func:`labelnext_app.safe_text.md`), a clause without a full stop."""
    decision = permission()
    return None if decision.allowed else decision.text(safe_text.md)


def sign_in_page() -> None:
    """What a signed-out visitor sees when ``st.login`` is configured."""
    st.title("labelnext")
    st.markdown(
        "Sign in to see which rows to label next. Your e-mail is recorded on the batches you "
        "submit and every change you make."
    )
    for provider in oidc_providers():
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        st.button(
            label,
            key=f"auth_login_{provider or 'default'}",
            type="primary",
            icon=":material/login:",
            on_click=st.login,
            args=() if provider is None else (provider,),
        )


def sign_in_pages(pages: list[Any]) -> list[Any]:
    """The sign-in page once per page of the app, at that page's address."""
    return [
        st.Page(
            sign_in_page,
            title="Sign in",
            url_path=page.url_path or None,
            default=not page.url_path,
        )
        for page in pages
    ]


def signed_out() -> bool:
    """Whether ``st.login`` is configured and nobody is signed in (the app then shows only
    :func:`sign_in_page`)."""
    info = _user_info()
    return "is_logged_in" in info and info["is_logged_in"] is not True
