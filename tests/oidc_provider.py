"""A local OpenID Connect provider for the sign-in tests: ``oidc-provider-mock`` on loopback.

It signs anyone in: its authorization page asks for a subject (``sub``) and issues an ID token
whose ``email`` claim is that subject. :func:`secrets_toml` writes the ``[auth]`` block that
points ``st.login`` at it. Started once per test session; a provider that dies is reported with
its exit code and log.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from browser_support import ServedProcess, free_port


def require_oidc_mock() -> None:
    """Skip without the package (a laptop), fail under CI=true."""
    import importlib.util
    import os

    if importlib.util.find_spec("oidc_provider_mock") is not None:
        return
    message = "oidc-provider-mock is not installed (pip install -r requirements-dev.txt)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


@dataclass
class OidcProvider(ServedProcess):
    """One ``python -m oidc_provider_mock`` process."""

    what = "the OIDC provider"
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def start(self, timeout: float = 60.0) -> OidcProvider:
        self._spawn(
            [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port",
             str(self.port)]
        )  # fmt: skip
        self._wait_for(self.metadata_url, lambda body: b'"issuer"' in body, timeout)
        return self


def secrets_toml(path: Path, provider: OidcProvider, app_port: int) -> Path:
    """Write the ``[auth]`` block of a generic provider, as docs/team.md shows it."""
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-of-more-than-32-characters"\n'
        'client_id = "labelnext-tests"\n'
        'client_secret = "not-a-secret"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n',
        encoding="utf-8",
    )
    return path
