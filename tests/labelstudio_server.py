"""A real Label Studio server for the export tests, in its own virtual environment.

Label Studio pins libraries the project does not (numpy, Django, ...), so it never goes into the
project's environment: :func:`ensure_venv` installs it from PyPI (with uv, from requirements-
dev.txt, else pip) into a venv cached outside the repository (``$LABELNEXT_TEST_CACHE``, default
``~/.cache/labelnext-test``), reused while its marker file names the same requirement. A fresh
Label Studio database takes minutes of migrations, so they run once into a template database
(also cached) that each session copies.

:class:`LabelStudioServer` starts ``label_studio.server start`` on loopback with strict
prediction validation on, polls ``/health/``, notices a dead process within half a second (and
reports its exit code and the end of its log), and stops it (its own process group) at the end.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIREMENT = "label-studio>=1.23,<1.24"
# 1.23 keeps strict prediction validation behind this flag; without it an invalid prediction is
# stored with HTTP 201 and only logged.
STRICT_VALIDATION_FLAG = "fflag_feat_utc_210_prediction_validation_15082025"
USERNAME = "labelnext-test@example.org"
PASSWORD = "labelnext-test-password"
TOKEN = "labelnext-test-token-0123456789abcdef"
INSTALL_TIMEOUT_S = 1800
MIGRATE_TIMEOUT_S = 900
START_TIMEOUT_S = 300


class Unavailable(Exception):
    """Label Studio cannot be installed or started here (the reason is the message)."""


def cache_dir() -> Path:
    return Path(os.environ.get("LABELNEXT_TEST_CACHE", "~/.cache/labelnext-test")).expanduser()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (two test runs must not build one venv at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _base_env() -> dict[str, str]:
    """A clean environment for Label Studio's processes (nothing of this test process)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(
        {
            "LATEST_VERSION_CHECK": "false",  # no call to PyPI at start
            "COLLECT_ANALYTICS": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


_INSTALL_PASS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _install_env() -> dict[str, str]:
    """The installer's environment: the clean one plus how this machine reaches the registry
    (its certificates, proxies, pip and uv settings)."""
    env = _base_env()
    for key, value in os.environ.items():
        proxy = key.lower() in ("http_proxy", "https_proxy", "no_proxy")
        if key in _INSTALL_PASS or proxy or key.startswith(("PIP_", "UV_")):
            env[key] = value
    return env


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Costs:
    """Seconds spent on each step this session (None: reused from the cache)."""

    install_s: float | None = None
    migrate_s: float | None = None
    start_s: float | None = None

    def describe(self) -> str:
        def show(value: float | None) -> str:
            return "cached" if value is None else f"{value:.0f} s"

        return (
            f"Label Studio fixture: install {show(self.install_s)}, template database "
            f"{show(self.migrate_s)}, start {show(self.start_s)}"
        )


def _installer(python: Path) -> list[str]:
    """uv when the project has it (about 1 minute for Label Studio), else pip (about 10)."""
    try:
        import uv
    except ImportError:
        return [str(python), "-m", "pip", "install", "-q"]
    return [uv.find_uv_bin(), "pip", "install", "-q", "--python", str(python)]


def ensure_venv(costs: Costs) -> Path:
    """The Python of a venv holding :data:`REQUIREMENT`, installing it if needed."""
    venv = cache_dir() / "label-studio-venv"
    marker = venv / ".labelnext-ready"
    python = venv / "bin" / "python"
    with _locked(cache_dir() / ".label-studio.lock"):
        if marker.is_file() and marker.read_text() == REQUIREMENT and python.exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        started = time.perf_counter()
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
            subprocess.run(
                [*_installer(python), REQUIREMENT],
                check=True,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                env=_install_env(),
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(venv, ignore_errors=True)
            raise Unavailable(
                f"installing {REQUIREMENT!r} failed (exit {exc.returncode}):\n"
                f"{_tail(exc.stdout + exc.stderr)}"
            ) from None
        except (subprocess.TimeoutExpired, OSError) as exc:
            shutil.rmtree(venv, ignore_errors=True)
            raise Unavailable(f"installing {REQUIREMENT!r} failed: {exc}") from None
        costs.install_s = time.perf_counter() - started
        marker.write_text(REQUIREMENT)
        # A new install gets a new template database too.
        shutil.rmtree(cache_dir() / "label-studio-template", ignore_errors=True)
        return python


def template_database(python: Path, costs: Costs) -> Path:
    """A migrated, empty Label Studio database (made once per install)."""
    folder = cache_dir() / "label-studio-template"
    database = folder / "label_studio.sqlite3"
    ready = folder / ".labelnext-ready"
    with _locked(cache_dir() / ".label-studio.lock"):
        if ready.is_file() and database.is_file():
            return database
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        # Every command applies the migrations first; `version` then prints and exits.
        done = subprocess.run(
            [str(python), "-m", "label_studio.server", "version"],
            capture_output=True,
            text=True,
            timeout=MIGRATE_TIMEOUT_S,
            env={**_base_env(), "LABEL_STUDIO_BASE_DATA_DIR": str(folder)},
            cwd=folder,
        )
        if done.returncode != 0 or not database.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            raise Unavailable(
                f"Label Studio migrations failed (exit {done.returncode}):\n"
                f"{_tail(done.stdout + done.stderr)}"
            )
        costs.migrate_s = time.perf_counter() - started
        ready.write_text(REQUIREMENT)
        return database


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LabelStudioServer:
    """A running server: its URL, token, document root and log."""

    python: Path
    data_dir: Path
    document_root: Path
    costs: Costs
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "label-studio.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self, template: Path) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(template, self.data_dir / "label_studio.sqlite3")
        self.port = _free_port()
        env = {
            **_base_env(),
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_dir),
            "LABEL_STUDIO_USERNAME": USERNAME,
            "LABEL_STUDIO_PASSWORD": PASSWORD,
            "LABEL_STUDIO_USER_TOKEN": TOKEN,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LOCAL_FILES_SERVING_ENABLED": "true",
            "LOCAL_FILES_DOCUMENT_ROOT": str(self.document_root),
            STRICT_VALIDATION_FLAG: "true",
        }
        command = [
            str(self.python),
            "-m",
            "label_studio.server",
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.data_dir,
                start_new_session=True,  # its own process group, stopped as a whole
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            code = self.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"Label Studio exited with code {code} while starting; its log ends:\n"
                    f"{_tail(self.log())}"
                )
            if self._healthy():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"Label Studio did not answer {self.url}/health/ within {START_TIMEOUT_S} s; "
                    f"its log ends:\n{_tail(self.log())}"
                )
            time.sleep(0.5)
        self.costs.start_s = time.perf_counter() - started

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/", timeout=2) as answer:
                return bool(json.loads(answer.read()).get("status") == "UP")
        except (OSError, ValueError):
            return False

    def alive(self) -> None:
        """Fail at once, with the exit code and the log, if the server has died."""
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(
                f"Label Studio died (exit {code}); its log ends:\n{_tail(self.log())}"
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def call(self, method: str, path: str, body: Any = None) -> Response:
        """An API call with the token; a URL path (``/api/...``) or a full URL."""
        self.alive()
        url = path if path.startswith("http") else self.url + path
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url,
            method=method,
            data=data,
            headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return Response(
                    answer.status, answer.headers.get("Content-Type", ""), answer.read()
                )
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers.get("Content-Type", ""), error.read())
