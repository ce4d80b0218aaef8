"""Who is acting, and whether they may change the ledger: the shared URL's policy, as plain data.

The dashboard finds out *who* from one of three places, strongest first, and this module decides
what that person may do; it never imports streamlit, so the whole policy is tested without a
server:

``oidc``
    Signed in through ``st.login`` (an OpenID Connect provider in ``.streamlit/secrets.toml``):
    the provider's verified e-mail.
``proxy``
    An authenticating reverse proxy (oauth2-proxy and the like) put the user in a header
    (``LABELNEXT_TRUSTED_USER_HEADER``). The header is believed only when the request came from
    one of ``LABELNEXT_TRUSTED_PROXIES``: anyone can send any header, but only the proxy can
    connect from the proxy's address (see :func:`trusted_header_user`).
``typed``
    Neither is configured: the name typed in the sidebar, recorded as given and **not
    authenticated**.

Who may act (:func:`may_edit`): without ``LABELNEXT_EDITORS`` everyone may, as on a laptop. With
it, only an authenticated identity whose e-mail is listed, or whose domain is listed as
``@example.com``, may submit, import labels, mark, cancel, undo or reopen; everyone else may look
and download. A typed name never matches the list: typing someone's e-mail proves nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "METHODS",
    "Decision",
    "Identity",
    "Network",
    "identify",
    "is_trusted_proxy",
    "may_edit",
    "parse_editors",
    "parse_networks",
    "trusted_header_user",
]

Method = Literal["oidc", "proxy", "typed"]
#: How an identity was established, strongest first.
METHODS: tuple[Method, ...] = ("oidc", "proxy", "typed")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Identity:
    """Who is acting.

    Attributes
    ----------
    name : str or None
        What the ledger records as the actor (an e-mail when authenticated); None when nobody
        has said who they are yet.
    method : {"oidc", "proxy", "typed"}
        How it was established (see the module docstring).
    """

    name: str | None
    method: Method = "typed"

    @property
    def authenticated(self) -> bool:
        """Whether something other than the user's own typing vouches for the name."""
        return self.method != "typed" and bool(self.name)

    def describe(self) -> str:
        """One line for the screen: who, and how sure we are."""
        if not self.name:
            return "Nobody has said who they are: actions are not authenticated."
        how = {
            "oidc": "signed in",
            "proxy": "signed in through the proxy",
            "typed": "name typed in the sidebar, not authenticated",
        }[self.method]
        return f"{self.name} ({how})"


@dataclass(frozen=True)
class Decision:
    """Whether an identity may change the ledger, and why (the words the refusal shows).

    ``template`` holds ``{who}`` where the name goes, so a page can quote the name (text that
    came from a user or a provider) without quoting our words: see :meth:`text`.
    """

    allowed: bool
    template: str
    who: str | None = None

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def reason(self) -> str:
        """The reason as plain text."""
        return self.text()

    def text(self, quote: Callable[[str], str] = str) -> str:
        """The reason, with the name passed through ``quote`` (e.g. a Markdown escaper)."""
        return self.template.format(who=quote(self.who or ""))


def parse_networks(raw: str | Iterable[str]) -> tuple[Network, ...]:
    """IP addresses and CIDR blocks, separated by commas or spaces; unparseable entries dropped.

    A bare address is a one-address network. Entries that are not addresses (a host name, a
    typo) are left out rather than guessed at: a proxy list must never grow by accident.

    Examples
    --------
    >>> [str(n) for n in parse_networks("10.0.0.0/8, 127.0.0.2 nonsense ::1")]
    ['10.0.0.0/8', '127.0.0.2/32', '::1/128']
    """
    parts = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    networks: list[Network] = []
    for part in parts:
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


def parse_editors(raw: str | Iterable[str]) -> tuple[str, ...]:
    """E-mails and ``@domain`` entries, separated by commas or spaces, lower-cased.

    Examples
    --------
    >>> parse_editors("Ada@Example.com, @lab.org  bob@x.io")
    ('ada@example.com', '@lab.org', 'bob@x.io')
    """
    parts = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    return tuple(p.strip().lower() for p in parts if "@" in p.strip())


def is_trusted_proxy(address: str | None, proxies: Sequence[Network]) -> bool:
    """Whether ``address`` (the connecting peer) lies in one of ``proxies``.

    An unknown address (None, or text that is not an IP address) is never trusted.

    Examples
    --------
    >>> nets = parse_networks("10.1.0.0/16")
    >>> is_trusted_proxy("10.1.2.3", nets), is_trusted_proxy("10.2.0.1", nets)
    (True, False)
    >>> is_trusted_proxy(None, nets)
    False
    """
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip().split("%")[0])  # drop an IPv6 zone
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.1.2.3 is 10.1.2.3 on a dual-stack socket
    return any(ip.version == net.version and ip in net for net in proxies)


def trusted_header_user(
    headers: Mapping[str, str],
    address: str | None,
    *,
    header: str | None,
    proxies: Sequence[Network],
) -> str | None:
    """The user a trusted proxy named in ``header``, or None.

    None unless a header name is configured, ``address`` is one of ``proxies`` and the header
    holds a non-empty value; the value is stripped. Header names match case-insensitively.

    Examples
    --------
    >>> nets = parse_networks("10.0.0.5")
    >>> h = {"x-forwarded-email": " ada@lab.org "}
    >>> trusted_header_user(h, "10.0.0.5", header="X-Forwarded-Email", proxies=nets)
    'ada@lab.org'
    >>> trusted_header_user(h, "10.0.0.6", header="X-Forwarded-Email", proxies=nets) is None
    True
    """
    if not header or not is_trusted_proxy(address, proxies):
        return None
    wanted = header.strip().lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value).strip() or None
    return None


def identify(
    *,
    signed_in: str | None = None,
    headers: Mapping[str, str] | None = None,
    address: str | None = None,
    header: str | None = None,
    proxies: Sequence[Network] = (),
    typed: str | None = None,
) -> Identity:
    """Who is acting, from the strongest source that answers (see the module docstring).

    Parameters
    ----------
    signed_in : str, optional
        The e-mail of the user ``st.login`` signed in, if any.
    headers, address : optional
        The request's headers and its peer address (``st.context.headers``, ``.ip_address``).
    header, proxies : optional
        ``LABELNEXT_TRUSTED_USER_HEADER`` and ``LABELNEXT_TRUSTED_PROXIES``.
    typed : str, optional
        The name typed in the sidebar.

    Examples
    --------
    >>> identify(typed=" Ada ")
    Identity(name='Ada', method='typed')
    >>> nets = parse_networks("10.0.0.5")
    >>> h = {"X-Forwarded-Email": "ada@lab.org"}
    >>> identify(headers=h, address="10.0.0.5", header="X-Forwarded-Email", proxies=nets)
    Identity(name='ada@lab.org', method='proxy')
    >>> identify(headers=h, address="192.0.2.1", header="X-Forwarded-Email", proxies=nets,
    ...          typed="Eve")
    Identity(name='Eve', method='typed')
    """
    if signed_in and signed_in.strip():
        return Identity(signed_in.strip(), "oidc")
    proxied = trusted_header_user(headers or {}, address, header=header, proxies=proxies)
    if proxied is not None:
        return Identity(proxied, "proxy")
    return Identity((typed or "").strip() or None, "typed")


def _listed(name: str, editors: Sequence[str]) -> bool:
    email = name.strip().lower()
    if email.count("@") != 1 or email.startswith("@") or email.endswith("@"):
        return False
    domain = "@" + email.split("@", 1)[1]
    return any(entry == email or entry == domain for entry in editors)


def may_edit(identity: Identity, editors: Sequence[str]) -> Decision:
    """Whether ``identity`` may submit, import labels, mark, cancel, undo or reopen.

    ``editors`` as :func:`parse_editors` returns them: empty means everyone may (the laptop
    default); otherwise only an authenticated e-mail that is listed, or whose ``@domain`` is.

    Examples
    --------
    >>> editors = parse_editors("@lab.org")
    >>> may_edit(Identity("ada@lab.org", "oidc"), editors).allowed
    True
    >>> may_edit(Identity("ada@lab.org", "typed"), editors).reason
    'only signed-in editors may change the ledger, and your name was typed, not signed in'
    >>> may_edit(Identity("eve@elsewhere.com", "proxy"), editors).reason
    'eve@elsewhere.com is not an editor (LABELNEXT_EDITORS); you can look and download'
    """
    if not editors:
        return Decision(True, "anyone may change the ledger (LABELNEXT_EDITORS is not set)")
    if not identity.authenticated or identity.name is None:
        return Decision(
            False,
            "only signed-in editors may change the ledger, and your name was typed, not signed in",
        )
    if _listed(identity.name, editors):
        return Decision(True, "{who} is an editor", identity.name)
    return Decision(
        False,
        "{who} is not an editor (LABELNEXT_EDITORS); you can look and download",
        identity.name,
    )
