"""labelnext.access: who is acting and who may change the ledger, worked out by hand."""

from __future__ import annotations

import pytest

from labelnext.access import (
    Identity,
    identify,
    is_trusted_proxy,
    may_edit,
    parse_editors,
    parse_networks,
    trusted_header_user,
)
from labelnext.config import settings

HEADER = "X-Forwarded-Email"
PROXIES = parse_networks("10.0.0.0/24, 2001:db8::/32, 127.0.0.2")


@pytest.mark.parametrize(
    ("address", "trusted"),
    [
        ("10.0.0.7", True),
        ("10.0.1.7", False),
        ("127.0.0.2", True),
        ("127.0.0.1", False),
        ("::ffff:10.0.0.9", True),  # a dual-stack socket's view of 10.0.0.9
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("fe80::1%eth0", False),
        ("", False),
        (None, False),
        ("proxy.internal", False),  # a name is not an address: never trusted
    ],
)
def test_only_listed_addresses_are_trusted(address: str | None, trusted: bool) -> None:
    assert is_trusted_proxy(address, PROXIES) is trusted


def test_unparseable_proxy_entries_are_dropped_not_guessed() -> None:
    assert [str(n) for n in parse_networks("10.0.0.1/8 host.example 300.1.1.1, ::1")] == [
        "10.0.0.0/8",
        "::1/128",
    ]
    assert parse_networks("") == ()


def test_the_header_is_believed_only_from_a_trusted_proxy() -> None:
    headers = {"x-forwarded-email": "ada@lab.org"}
    assert trusted_header_user(headers, "10.0.0.5", header=HEADER, proxies=PROXIES) == (
        "ada@lab.org"
    )
    assert trusted_header_user(headers, "192.0.2.1", header=HEADER, proxies=PROXIES) is None
    assert trusted_header_user(headers, "10.0.0.5", header=None, proxies=PROXIES) is None
    assert trusted_header_user(headers, "10.0.0.5", header=HEADER, proxies=()) is None
    assert trusted_header_user({HEADER: "  "}, "10.0.0.5", header=HEADER, proxies=PROXIES) is None
    assert trusted_header_user({}, "10.0.0.5", header=HEADER, proxies=PROXIES) is None


def test_identify_prefers_sign_in_then_the_proxy_then_the_typed_name() -> None:
    proxied = {"headers": {HEADER: "bob@lab.org"}, "address": "10.0.0.5"}
    common = {"header": HEADER, "proxies": PROXIES, "typed": "Eve"}
    assert identify(signed_in="ada@lab.org", **proxied, **common) == Identity("ada@lab.org", "oidc")
    assert identify(**proxied, **common) == Identity("bob@lab.org", "proxy")
    spoofed = {"headers": {HEADER: "bob@lab.org"}, "address": "192.0.2.9"}
    assert identify(**spoofed, **common) == Identity("Eve", "typed")
    assert identify() == Identity(None, "typed")
    assert not Identity("ada@lab.org", "typed").authenticated
    assert Identity("ada@lab.org", "proxy").authenticated
    assert not Identity(None, "oidc").authenticated


def test_without_an_editors_list_everyone_may_act() -> None:
    assert may_edit(Identity("Ada"), ()).allowed
    assert may_edit(Identity(None), ()).allowed  # as on a laptop: the ledger records no actor


@pytest.mark.parametrize(
    ("identity", "allowed", "reason"),
    [
        (Identity("ada@lab.org", "oidc"), True, "ada@lab.org is an editor"),
        (Identity("ADA@Lab.org", "proxy"), True, "ADA@Lab.org is an editor"),
        (Identity("cy@lab.org", "oidc"), True, "cy@lab.org is an editor"),  # by domain
        (Identity("cy@sub.lab.org", "oidc"), False, "is not an editor"),  # no subdomains
        (Identity("cy@lab.org.evil.com", "oidc"), False, "is not an editor"),
        (Identity("bob@x.io", "oidc"), True, "bob@x.io is an editor"),
        (Identity("eve@x.io", "oidc"), False, "eve@x.io is not an editor (LABELNEXT_EDITORS)"),
        (Identity("ada@lab.org", "typed"), False, "your name was typed, not signed in"),
        (Identity(None, "typed"), False, "only signed-in editors"),
        (Identity("a@b@lab.org", "oidc"), False, "is not an editor"),
    ],
)
def test_editors_by_email_and_domain(identity: Identity, allowed: bool, reason: str) -> None:
    decision = may_edit(identity, parse_editors("@lab.org, Bob@X.io"))
    assert decision.allowed is allowed
    assert bool(decision) is allowed
    assert reason in decision.reason


def test_editors_list_parsing() -> None:
    assert parse_editors("Ada@Example.com,, @lab.org  not-an-email bob@x.io") == (
        "ada@example.com",
        "@lab.org",
        "bob@x.io",
    )


def test_settings_read_the_three_variables() -> None:
    s = settings(
        {
            "LABELNEXT_TRUSTED_USER_HEADER": " X-Forwarded-Email ",
            "LABELNEXT_TRUSTED_PROXIES": "10.0.0.0/8 oops",
            "LABELNEXT_EDITORS": "@Lab.org",
        }
    )
    assert s.trusted_user_header == "X-Forwarded-Email"
    assert [str(n) for n in s.trusted_proxies] == ["10.0.0.0/8"]
    assert s.editors == ("@lab.org",)
    empty = settings({})
    assert (empty.trusted_user_header, empty.trusted_proxies, empty.editors) == (None, (), ())


def test_describe_says_how_sure_we_are() -> None:
    assert Identity("ada@lab.org", "oidc").describe() == "ada@lab.org (signed in)"
    assert "not authenticated" in Identity("Ada").describe()
    assert "not authenticated" in Identity(None).describe()
