"""Real-browser test support: a Streamlit server and Chromium, each started once per session.

``streamlit run app.py`` runs on a free port with its own LABELNEXT_HOME (and an allowed data
folder for runs a test writes); Playwright drives Debian's Chromium. A server that dies is
noticed within a second and the test fails with its exit code and log, never a long wait.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("LABELNEXT_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def require_chromium() -> None:
    """Skip without Chromium (a laptop), fail under CI=true (CI must run the browser tests)."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but there is no Chromium at {CHROMIUM}", pytrace=False)
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedProcess:
    """A child process a test talks to over HTTP: its output goes to ``log_path``; ``start``
    polls a URL until it answers, and a process that dies is reported at once, with its exit
    code and log, never after a long wait."""

    #: what messages call the process
    what = "process"
    log_path: Path
    proc: subprocess.Popen[bytes] | None

    def _spawn(self, command: list[str], **popen: Any) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
        log.close()

    def _wait_for(self, url: str, answered: Callable[[bytes], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answered(answer.read()):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{self.what} did not answer in {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.25)

    def check_alive(self) -> None:
        """Fail at once, with the exit code and the log, if the process has died."""
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail(f"{self.what} exited with code {self.proc.returncode}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@dataclass
class StreamlitServer(ServedProcess):
    """One ``streamlit run app.py`` process: its URL, data folder and environment."""

    what = "streamlit"
    home: Path
    data: Path
    env: dict[str, str]
    log_path: Path
    url: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: a port chosen beforehand (a sign-in redirect URI names it), else a free one at start
    port: int | None = None
    #: more ``streamlit run`` options (``--secrets.files=...``)
    args: tuple[str, ...] = ()

    @property
    def ledger_url(self) -> str:
        return (
            self.env.get("LABELNEXT_DB_URL") or f"sqlite:///{(self.home / 'ledger.db').resolve()}"
        )

    def start(self, timeout: float = 90.0) -> StreamlitServer:
        port = self.port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._spawn(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless=true",
                f"--server.port={port}",
                "--server.address=127.0.0.1",
                "--server.fileWatcherType=none",
                "--browser.gatherUsageStats=false",
                *self.args,
            ],
            cwd=REPO,
            env=self.env,
        )
        self._wait_for(f"{self.url}/_stcore/health", lambda body: body.strip() == b"ok", timeout)
        return self


def make_server(root: Path, **env: str) -> StreamlitServer:
    """A server (not started) whose home and allowed data folder lie under ``root``."""
    home, data = root / "home", root / "data"
    data.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "LABELNEXT_HOME": str(home), "LABELNEXT_ALLOWED_ROOTS": str(data)}
    full.pop("LABELNEXT_DB_URL", None)
    full.update(env)
    return StreamlitServer(home=home, data=data, env=full, log_path=root / "streamlit.log")


def settle(page: Any) -> None:
    """Let a rerun start, wait until the script is idle, then until every element is drawn.

    Streamlit loads each element type's code on first use and shows a skeleton until it
    arrives; on a loaded machine that takes seconds after the script is idle, and an element
    still a skeleton has no image or checkbox inside it yet.
    """
    page.wait_for_timeout(250)
    page.wait_for_selector(IDLE, timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=30_000
    )


def css(data_row_id: str) -> str:
    """The class suffix Streamlit derives from a key (other characters become '-')."""
    return re.sub(r"[^a-zA-Z0-9_-]", "-", data_row_id)


def grid_ids(page: Any) -> list[str]:
    """The Review grid's ids (as CSS class suffixes), in grid order."""
    classes = page.eval_on_selector_all(
        '[class*="st-key-review_pick_"]', "els => els.map(e => e.className)"
    )
    ids = []
    for names in classes:
        match = re.search(r"st-key-review_pick_(\S+)", names)
        if match:
            ids.append(match.group(1))
    return ids


def selected_count(page: Any) -> str:
    return str(page.locator('[data-testid="stSidebar"] [data-testid="stMetricValue"]').inner_text())


def pick(page: Any, rid: str, expected_count: int) -> None:
    page.locator(f".st-key-review_pick_{rid} label").click()
    page.wait_for_function(
        """n => document.querySelector('[data-testid="stSidebar"] [data-testid="stMetricValue"]')
               ?.innerText.trim() === String(n)""",
        arg=expected_count,
        timeout=30_000,
    )
    settle(page)


def images_loaded(page: Any) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stImage] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
        timeout=30_000,
    )


def submit_review_page(page: Any, url: str, *, user: str, project: str) -> None:
    """Open Review, pick its first page, sign as ``user``, and submit it on Batch to the new
    ``project``."""
    page.goto(f"{url}/review")
    page.wait_for_selector(IDLE, timeout=60_000)
    settle(page)
    page.locator(".st-key-review_select_page button").first.click()
    settle(page)
    name = page.locator(".st-key-sidebar_user input")
    name.fill(user)
    name.press("Enter")
    settle(page)
    page.get_by_role("link", name="Batch").click()
    settle(page)
    choose_new_project(page)
    page.locator(".st-key-batch_new_project input").fill(project)
    page.locator(".st-key-batch_submit button").first.click()
    settle(page)


def choose_new_project(page: Any) -> None:
    """Set the Batch page's destination to "New project…".

    The picker starts on the newest batch's project once there is one (other tests on a shared
    server make some); on a fresh ledger it already holds "New project…" and is left as it is.
    """
    box = page.get_by_role("combobox", name="Destination project")
    if box.input_value() == "New project…":
        return
    box.click()
    box.press_sequentially("New project")  # filter the options, then take the one left
    page.keyboard.press("Enter")
    settle(page)
    if box.input_value() != "New project…":
        raise AssertionError(f"the destination picker holds {box.input_value()!r}")
