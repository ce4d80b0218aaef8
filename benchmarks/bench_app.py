"""The dashboard at 1,000,000 rows: Review script runs, thumbnails in Chromium, server memory.

Two measurements of the real app (``app.py`` and ``pages/review.py``, not the library calls
``bench_scale.py`` times):

1. **Script runs** (issue 6, target 2): ``streamlit.testing.v1.AppTest`` drives the Review page
   with the 1M-row synthetic run open, 48 thumbnails a page and a ledger holding one open batch
   of 25,000 rows (so "Hide rows in a batch" has work to do). Each figure is the wall time of
   one ``AppTest.run()``: the whole script (app.py, sidebar, Review page), the callbacks, and
   AppTest's own handling of the elements, so it is an upper bound on the server time a browser
   would wait for. Median of ``--repeats``.
2. **A real server** (targets 3 and 7): ``streamlit run app.py`` on a free port with its own
   ``LABELNEXT_HOME``, driven by Playwright with Debian's Chromium. The run is opened by the deep
   link ``/review?run=path:...``. Times go from ``page.goto`` (or a click) until the grid's
   thumbnails are all loaded (``complete`` and ``naturalWidth > 0``). The Review page shows 24 a
   page by default, so the browser picks 48 in "Per page" as soon as the first page is drawn;
   both legs are reported. Cold: a fresh server and an empty thumbnail folder. Warm: a new
   browser session on the same server (run, scores and thumbnails cached). The server's peak
   RSS (``VmHWM``) is then compared with the float32 probabilities plus the id and image path
   strings of the run.

    .venv/bin/python benchmarks/bench_app.py                    # both parts, ~2 minutes
    .venv/bin/python benchmarks/bench_app.py --no-browser       # AppTest only
    .venv/bin/python benchmarks/bench_app.py --profile flip     # cProfile of one page flip
    LABELNEXT_REVIEW_GRID=component .venv/bin/python benchmarks/bench_app.py --no-apptest
                                                  # the grid as one component, in Chromium

Tables go to stdout (Markdown), progress to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
APP = ROOT / "app.py"
PAGE_SIZE = 48
QUEUED = 25_000
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
CARD = '[class*="st-key-review_card_"]'
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from make_synthetic import make_run  # noqa: E402

from labelnext.ledger import Ledger  # noqa: E402
from labelnext.readers import load_run  # noqa: E402
from labelnext.runs import ModelRun  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_run(rows: int, name: str) -> Path:
    folder = DATA / name
    if not (folder / "predictions.parquet").exists():
        log(f"making {rows:,}-row run in {folder} ...")
        make_run(rows, folder)
    return folder


def seed_ledger(url: str, run: ModelRun, n: int) -> None:
    """One open batch of ``n`` random rows of ``run`` (what "Hide rows in a batch" hides)."""
    import pandas as pd

    rows = np.random.default_rng(0).choice(run.n_rows, n, replace=False)
    with Ledger(url) as ledger:
        ledger.submit(
            project="bench",
            name=f"{n} random rows",
            rows=pd.DataFrame({"data_row_id": run.ids[rows].astype(str)}),
            created_by="bench_app",
            strategy="least_confidence",
            run_id=None,
        )


def allowed_roots(run_dir: Path) -> str:
    """``LABELNEXT_ALLOWED_ROOTS`` for the app: the benchmark data and the run's image folder
    (``make_synthetic.py`` points ``image_root`` at the shipped samples of this checkout)."""
    roots = [str(DATA)]
    image_root = json.loads((run_dir / "run.json").read_text()).get("image_root")
    if image_root:
        roots.append(str(image_root))
    return os.pathsep.join(roots)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


# --------------------------------------------------------------------------------------------
# 1. AppTest: the Review page's script runs


def _use_navigation_not_pages_dir() -> None:
    """As in tests/app_support.py: run app.py (and its st.navigation) on every AppTest run."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init  # type: ignore[method-assign]


def _share_script_cache() -> None:
    """Compile each script once, as a server does; AppTest makes a new ScriptCache per run, so
    every rerun would pay for parsing and compiling the page again (about 10 ms here)."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = ScriptCache()
    app_test.ScriptCache = lambda: shared  # type: ignore[assignment,misc]
    local_script_runner.ScriptCache = lambda: shared  # type: ignore[assignment,misc]


class ScriptClock:
    """Times (and optionally profiles) each script run inside Streamlit's script thread.

    Wraps ``exec_func_with_error_handling``, which runs the widget callbacks and then app.py with
    the page, so ``last_ms`` is the server time of a rerun without AppTest's own bookkeeping.
    """

    last_ms = 0.0
    profiler: cProfile.Profile | None = None

    @classmethod
    def install(cls) -> None:
        from streamlit.runtime.scriptrunner import script_runner

        original = script_runner.exec_func_with_error_handling
        if getattr(original, "_bench_app", False):
            return

        def timed_exec(func: Callable[[], Any], ctx: Any) -> Any:
            profiler = cls.profiler
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            try:
                return original(func, ctx)
            finally:
                if profiler is not None:
                    profiler.disable()
                cls.last_ms = (time.perf_counter() - started) * 1000

        timed_exec._bench_app = True  # type: ignore[attr-defined]
        script_runner.exec_func_with_error_handling = timed_exec


class ReviewSession:
    """One AppTest session on the Review page with the run open and 48 thumbnails a page."""

    walls: ClassVar[list[float]] = []  # AppTest's wall time of every run, in order

    def __init__(self, run_key: str, page_size: int = PAGE_SIZE) -> None:
        from streamlit.testing.v1 import AppTest

        self.page_size = page_size
        self.at = AppTest.from_file(str(APP), default_timeout=600)
        self.at.session_state["run_key"] = run_key
        self.at.session_state["review_page_size"] = page_size
        self.at.switch_page("pages/review.py")

    def run(self) -> float:
        """Run the script; return its server time in ms (AppTest's wall time in ``walls``)."""
        self.wall_ms = timed(self.at.run)
        ReviewSession.walls.append(self.wall_ms)
        self.check()
        return ScriptClock.last_ms

    def check(self) -> None:
        at = self.at
        if at.exception or at.error:
            raise RuntimeError(f"the app failed: {[e.value for e in [*at.exception, *at.error]]}")
        cards = [c for c in at.checkbox if c.key and c.key.startswith("review_pick_")]
        if len(cards) != self.page_size:
            raise RuntimeError(f"expected {self.page_size} thumbnails, drew {len(cards)}")

    def act(self, action: Callable[[Any], Any]) -> float:
        """Time the script run a widget change triggers (callbacks included)."""
        action(self.at)
        return self.run()


def _clear_app_caches() -> None:
    from labelnext_app import cache  # the very module app.py imports (same sys.path entry)

    cache.clear_all()


def _thumbs(home: Path) -> Path:
    return home / "thumbs"


def bench_apptest(run_dir: Path, run: ModelRun, repeats: int, work: Path) -> list[str]:
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    _use_navigation_not_pages_dir()
    _share_script_cache()
    ScriptClock.install()
    ledger_url = f"sqlite:///{work / 'apptest-ledger.db'}"
    seed_ledger(ledger_url, run, QUEUED)
    os.environ["LABELNEXT_DB_URL"] = ledger_url
    os.environ["LABELNEXT_ALLOWED_ROOTS"] = allowed_roots(run_dir)
    run_key = f"path:{run_dir.resolve()}"
    results: list[tuple[str, list[float], list[float], str]] = []

    def record(name: str, target: str, measure: Callable[[], list[float]]) -> None:
        start = len(ReviewSession.walls)
        samples = measure()
        results.append((name, samples, ReviewSession.walls[start:], target))
        log(f"  {name}: median {statistics.median(samples):,.0f} ms")

    homes = iter(work / f"apptest-home-{i}" for i in range(1000))
    home = next(homes)

    def cold_open() -> float:
        """A new session with nothing cached: run, scores, order, ledger, thumbnails."""
        _clear_app_caches()
        os.environ["LABELNEXT_HOME"] = str(next(homes))
        return ReviewSession(run_key).run()

    record(
        "first open, cold: load 1M run + score + order + 48 new thumbnails",
        "",
        lambda: _repeat(cold_open, max(3, repeats // 2)),
    )
    home = Path(os.environ["LABELNEXT_HOME"])
    record(
        "first open, run cached, 48 new thumbnails (new session)",
        "",
        lambda: [_cold_thumbs(lambda: ReviewSession(run_key).run(), home) for _ in range(3)],
    )
    record(
        "first open, everything cached (new session)",
        "",
        lambda: _repeat(lambda: ReviewSession(run_key).run(), repeats),
    )

    warm_thumbnails(run)
    session = ReviewSession(run_key)
    session.run()
    n_pages = -(-(run.n_rows - QUEUED) // PAGE_SIZE)

    def flip_next(at: Any) -> None:
        at.button(key="review_next").click()

    pages = np.random.default_rng(1)

    def jump(at: Any) -> None:
        at.number_input(key="review_page").set_value(int(pages.integers(2, n_pages)))

    record("rerun with nothing changed (the floor)", "", lambda: _repeat(session.run, repeats))
    record(
        "page flip: Next (thumbnails cached)",
        "< 200 ms",
        lambda: _repeat(lambda: session.act(flip_next), repeats),
    )
    small = ReviewSession(run_key, page_size=24)
    small.run()
    record(
        "page flip: Next, 24 a page (the default page size)",
        "< 200 ms",
        lambda: _repeat(lambda: small.act(flip_next), repeats),
    )
    record(
        "page flip: Next, 48 thumbnails made anew",
        "< 200 ms",
        lambda: _repeat(lambda: _cold_thumbs(lambda: session.act(flip_next), home), repeats),
    )
    record(
        "page jump: type a page number",
        "< 200 ms",
        lambda: _repeat(lambda: session.act(jump), repeats),
    )

    toggles: list[tuple[str, Callable[[Any], Any], Callable[[Any], Any]]] = [
        (
            "filter change: class 3 on/off",
            lambda at: at.multiselect(key="review_classes").select("3"),
            lambda at: at.multiselect(key="review_classes").unselect("3"),
        ),
        (
            "filter change: confidence 0.2-0.6 / 0-1",
            lambda at: at.slider(key="review_conf").set_range(0.2, 0.6),
            lambda at: at.slider(key="review_conf").set_range(0.0, 1.0),
        ),
        (
            "filter change: hide 25,000 queued rows off/on",
            lambda at: at.checkbox(key="review_hide_queued").uncheck(),
            lambda at: at.checkbox(key="review_hide_queued").check(),
        ),
        (
            "filter change: metadata site = east / (none)",
            lambda at: at.selectbox(key="review_meta_col").select("site"),
            lambda at: at.selectbox(key="review_meta_col").select("(none)"),
        ),
    ]
    for name, on, off in toggles:
        record(
            name,
            "< 200 ms",
            lambda on=on, off=off: [  # type: ignore[misc]
                ms for _ in range(repeats) for ms in (session.act(on), session.act(off))
            ],
        )

    def choose(strategy: str) -> Callable[[Any], Any]:
        return lambda at: at.selectbox(key="sidebar_strategy").select(strategy)

    strategies = ("margin", "entropy", "ratio")
    record(
        "strategy change, first use: score + order 1M rows",
        "once per strategy",
        lambda: [session.act(choose(s)) for s in strategies],
    )
    cycle = ("least_confidence", *strategies)
    record(
        "strategy change, scores cached",
        "< 200 ms",
        lambda: [session.act(choose(cycle[i % len(cycle)])) for i in range(repeats)],
    )

    lines = [
        f"| Review page, 1M rows, {PAGE_SIZE} a page | script run ms (median) | min | max | "
        "AppTest wall ms | n | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, samples, walls, target in results:
        ms = statistics.median(samples)
        verdict = ""
        if target.startswith("<"):
            verdict = " met" if ms < float(target.split()[1]) else " **missed**"
        lines.append(
            f"| {name} | {ms:,.0f} | {min(samples):,.0f} | {max(samples):,.0f} | "
            f"{statistics.median(walls):,.0f} | {len(samples)} | {target}{verdict} |"
        )
    return lines


def warm_thumbnails(run: ModelRun) -> None:
    """Make the thumbnail of every distinct image (the synthetic run reuses a pool of 500)."""
    from labelnext_app import review

    _, first_rows = np.unique(np.asarray(run.images, dtype=str), return_index=True)
    for row in first_rows:
        review.thumb_for(run, int(row))


def _repeat(fn: Callable[[], float], repeats: int) -> list[float]:
    return [fn() for _ in range(repeats)]


def _cold_thumbs(fn: Callable[[], float], home: Path) -> float:
    """Run ``fn`` with an empty thumbnail folder."""
    shutil.rmtree(_thumbs(home), ignore_errors=True)
    return fn()


def profile_apptest(run_dir: Path, run: ModelRun, what: str, work: Path) -> None:
    """cProfile one Review script run (a page flip or a class filter change) to stderr."""
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    _use_navigation_not_pages_dir()
    _share_script_cache()
    ScriptClock.install()
    ledger_url = f"sqlite:///{work / 'profile-ledger.db'}"
    seed_ledger(ledger_url, run, QUEUED)
    os.environ.update(
        LABELNEXT_DB_URL=ledger_url,
        LABELNEXT_ALLOWED_ROOTS=allowed_roots(run_dir),
        LABELNEXT_HOME=str(work / "profile-home"),
    )
    session = ReviewSession(f"path:{run_dir.resolve()}")
    session.run()
    warm_thumbnails(run)
    actions: dict[str, Callable[[Any], Any]] = {
        "flip": lambda at: at.button(key="review_next").click(),
        "filter": lambda at: at.multiselect(key="review_classes").select("3"),
        "rerun": lambda at: None,
    }
    profiler = cProfile.Profile()
    actions[what](session.at)
    ScriptClock.profiler = profiler
    session.run()
    ScriptClock.profiler = None
    log(f"script run: {ScriptClock.last_ms:,.0f} ms (AppTest wall time {session.wall_ms:,.0f} ms)")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    log(out.getvalue())


# --------------------------------------------------------------------------------------------
# 2. A real server and Chromium


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def streamlit_server(home: Path, roots: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, "LABELNEXT_HOME": str(home), "LABELNEXT_ALLOWED_ROOTS": roots}
    env.pop("LABELNEXT_DB_URL", None)
    env["BENCH_APP_SCRIPT_LOG"] = str(home / "script-runs.log")
    home.mkdir(parents=True, exist_ok=True)
    with (home / "streamlit.log").open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "serve",
                "run",
                str(APP),
                "--server.headless=true",
                f"--server.port={port}",
                "--server.address=127.0.0.1",
                "--server.fileWatcherType=none",
                "--browser.gatherUsageStats=false",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                        if answer.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {home / 'streamlit.log'}")
                time.sleep(0.2)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def serve() -> None:
    """``bench_app.py serve run app.py ...``: ``streamlit run`` with every script run timed.

    Each run appends "wall_ms cpu_ms" (the script thread's CPU time) to
    ``$BENCH_APP_SCRIPT_LOG``, so the browser figures can be split into server and browser time.
    """
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.web import cli

    original = script_runner.exec_func_with_error_handling
    log_file = open(os.environ["BENCH_APP_SCRIPT_LOG"], "a", buffering=1)

    def timed_exec(func: Callable[[], Any], ctx: Any) -> Any:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(func, ctx)
        finally:
            wall_ms = (time.perf_counter() - started) * 1000
            log_file.write(f"{wall_ms:.1f} {(time.thread_time() - cpu) * 1000:.1f}\n")

    script_runner.exec_func_with_error_handling = timed_exec
    sys.argv = ["streamlit", *sys.argv[2:]]
    cli.main()


class ServerClock:
    """Reads the script runs a ``serve`` process logged since the last call."""

    def __init__(self, home: Path) -> None:
        self.path = home / "script-runs.log"
        self.seen = 0

    def since_last(self) -> list[tuple[float, float]]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        new, self.seen = lines[self.seen :], len(lines)
        return [(float(w), float(c)) for w, c in (line.split() for line in new)]


def proc_status(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of a process, in bytes."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {key: int(status[key].split()[0]) * 1024 for key in ("VmHWM", "VmRSS")}


_PAINTED = """([selector, n, old]) => {
    const cards = [...document.querySelectorAll(selector)];
    if (cards.length !== n) return false;
    const ids = cards.map(c => [...c.classList].find(k => k.startsWith('st-key-review_card_')));
    if (old && ids.some(id => old.includes(id))) return false;
    return cards.every(c => {
        const img = c.querySelector('img');
        return img && img.complete && img.naturalWidth > 0;
    });
}"""


# the component grid (LABELNEXT_REVIEW_GRID=component) draws its cards in a shadow root, which
# document.querySelectorAll does not enter: look inside every shadow root
_COMPONENT_CARDS = """() => {
    const found = [];
    for (const host of document.querySelectorAll('*')) {
        if (host.shadowRoot) found.push(...host.shadowRoot.querySelectorAll('[data-row-id]'));
    }
    return found;
}"""
_PAINTED_COMPONENT = (
    """([n, old]) => {
    const cards = ("""
    + _COMPONENT_CARDS
    + """)();
    if (cards.length !== n) return false;
    const ids = cards.map(c => c.dataset.rowId);
    if (old && ids.some(id => old.includes(id))) return false;
    return cards.every(c => {
        const img = c.querySelector('img');
        return img && img.complete && img.naturalWidth > 0;
    });
}"""
)
GRID_KIND = os.environ.get("LABELNEXT_REVIEW_GRID", "widgets")


def _card_ids(page: Any) -> list[str]:
    if GRID_KIND == "component":
        script = "() => (" + _COMPONENT_CARDS + ")().map(c => c.dataset.rowId)"
        return list(page.evaluate(script))
    return list(
        page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)].map(
                c => [...c.classList].find(k => k.startsWith('st-key-review_card_')))""",
            CARD,
        )
    )


def _wait_painted(page: Any, n: int, old: list[str] | None = None) -> None:
    if GRID_KIND == "component":
        page.wait_for_function(
            _PAINTED_COMPONENT, arg=[n, old or []], timeout=600_000, polling="raf"
        )
        return
    page.wait_for_function(_PAINTED, arg=[CARD, n, old or []], timeout=600_000, polling="raf")


def _choose_per_page(page: Any, size: int) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="Per page").click()
    page.get_by_role("option", name=str(size), exact=True).click()


def _first_session(browser: Any, url: str) -> None:
    """Open ``/`` once so app.py runs before the timed deep links.

    On a fresh server, Streamlit decides from the ``pages/`` folder next to app.py that the app
    uses folder-based pages, until app.py's ``st.navigation`` runs once: a first request for
    ``/review`` runs pages/review.py alone ("No model run is open"). See benchmarks/README.md.
    """
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector('[data-testid="stSidebarNav"]', timeout=120_000)
        page.wait_for_selector(IDLE, timeout=120_000)
    finally:
        context.close()


Leg = dict[str, float]


def browser_session(browser: Any, url: str, clock: ServerClock, flips: int = 3) -> list[Leg]:
    """One new session: deep link, 24 painted, pick 48 a page, 48 painted, then Next x flips.

    Returns one entry per leg: browser ``ms`` (from the action to every thumbnail loaded) and the
    server's script runs of that leg (``server_ms`` wall and ``cpu_ms``, summed).
    """
    context = browser.new_context(viewport={"width": 1600, "height": 2600})
    page = context.new_page()
    legs: list[Leg] = []

    def leg(name: str, started: float) -> None:
        ms = (time.perf_counter() - started) * 1000
        page.wait_for_selector(IDLE)
        runs = clock.since_last()
        legs.append(
            {
                "leg": float(len(legs)),
                "ms": ms,
                "server_ms": sum(w for w, _ in runs),
                "cpu_ms": sum(c for _, c in runs),
                "runs": float(len(runs)),
            }
        )
        log(f"    {name}: {ms:,.0f} ms, server {legs[-1]['server_ms']:,.0f} ms in {len(runs)} runs")

    try:
        clock.since_last()
        started = time.perf_counter()
        page.goto(url)
        _wait_painted(page, 24)
        leg("deep link", started)
        started = time.perf_counter()
        _choose_per_page(page, PAGE_SIZE)
        _wait_painted(page, PAGE_SIZE)
        leg("per page", started)
        for _ in range(flips):
            old = _card_ids(page)
            started = time.perf_counter()
            page.get_by_role("button", name="Next →").click()
            _wait_painted(page, PAGE_SIZE, old)
            leg("next", started)
    finally:
        context.close()
    return legs


_LEGS = {
    "deep link to the first page painted (24 thumbnails, the default page size)": [0],
    "pick 48 per page to 48 painted": [1],
    "Next → to the next 48 painted (in-session page flip)": [2, 3, 4],
}


def bench_browser(run_dir: Path, run: ModelRun, repeats: int, work: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        return [f"(no Chromium at {CHROMIUM}: browser part skipped)"]
    home = work / "server-home"
    seed_ledger(f"sqlite:///{home / 'ledger.db'}", run, QUEUED)
    key = urllib.parse.quote(f"path:{run_dir.resolve()}", safe="")
    sessions: dict[str, list[list[Leg]]] = {"cold": [], "warm": []}
    memory: dict[str, int] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            for i in range(max(1, repeats // 3)):
                shutil.rmtree(_thumbs(home), ignore_errors=True)
                with streamlit_server(home, allowed_roots(run_dir)) as (url, proc):
                    clock = ServerClock(home)
                    clock.seen = len(clock.since_last())  # runs of an earlier server
                    memory["idle"] = proc_status(proc.pid)["VmRSS"]
                    _first_session(browser, url)
                    log(f"  cold session {i + 1}")
                    deep_link = f"{url}/review?run={key}"
                    sessions["cold"].append(browser_session(browser, deep_link, clock))
                    memory["opened"] = proc_status(proc.pid)["VmHWM"]
                    for j in range(repeats):
                        log(f"  warm session {j + 1}")
                        sessions["warm"].append(browser_session(browser, deep_link, clock))
                    memory.update(proc_status(proc.pid))
        finally:
            browser.close()

    def median(kind: str, legs: list[int], field: str) -> float:
        return statistics.median(s[n][field] for s in sessions[kind] for n in legs)

    lines = [
        "| Chromium, 1M-row run (ms) | cold: browser | cold: server script | "
        "warm: browser | warm: server script (CPU) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, legs in _LEGS.items():
        lines.append(
            f"| {label} | {median('cold', legs, 'ms'):,.0f} | "
            f"{median('cold', legs, 'server_ms'):,.0f} | {median('warm', legs, 'ms'):,.0f} | "
            f"{median('warm', legs, 'server_ms'):,.0f} ({median('warm', legs, 'cpu_ms'):,.0f}) |"
        )
    to_48 = {
        kind: statistics.median(s[0]["ms"] + s[1]["ms"] for s in sessions[kind])
        for kind in sessions
    }
    lines.append(
        f"| deep link to 48 thumbnails painted (first two legs) | {to_48['cold']:,.0f} | | "
        f"{to_48['warm']:,.0f} | |"
    )
    lines.append(
        f"\nBrowser: from ``page.goto`` or the click until every thumbnail of the grid is loaded. "
        f"Server script: wall time of the script runs of that leg inside the server process "
        f"(CPU time of the script thread in brackets). Cold: {len(sessions['cold'])} new server(s) "
        f"with an empty thumbnail folder; warm: {len(sessions['warm'])} new sessions on it "
        "(run, scores, thumbnails cached). Next: 3 flips a session.\n"
    )
    lines.extend(_memory_table(run, memory, repeats + 2))  # "/", cold and warm ones
    return lines


def run_strings_bytes(run: ModelRun) -> int:
    """The id and image path strings as Python objects plus their object arrays (as in
    bench_scale.py)."""
    total = sum(sys.getsizeof(x) for x in run.ids) + run.ids.nbytes
    if run.images is not None:
        total += sum(sys.getsizeof(x) for x in run.images) + run.images.nbytes
    return int(total)


def _memory_table(run: ModelRun, memory: dict[str, int], sessions: int) -> list[str]:
    probs = int(run.probabilities.nbytes) if run.probabilities is not None else 0
    arrow = int(run.ids_arrow.nbytes) + (
        int(run.images_arrow.nbytes) if run.images_arrow is not None else 0
    )
    strings = run_strings_bytes(run)
    budget, old_budget = probs + arrow, probs + strings
    mib = 2**20
    peak, now, idle, opened = memory["VmHWM"], memory["VmRSS"], memory["idle"], memory["opened"]
    above = peak - idle
    verdict = "met" if above < 3 * budget else "**missed**"

    def row(label: str, value: int, target: str = "") -> str:
        return (
            f"| {label} | {value / mib:,.0f} | {value / budget:.2f} | {value / old_budget:.2f} "
            f"| {target} |"
        )

    return [
        f"| server process holding the 1M x 10 run (after {sessions} sessions) | MiB | "
        "ratio to probs + Arrow ids and paths | ratio to probs + Python strings (old budget) "
        "| target |",
        "|---|---:|---:|---:|---|",
        f"| float32 probabilities | {probs / mib:,.0f} | | | |",
        f"| ids and image paths as Arrow (what the run holds) | {arrow / mib:,.0f} | | | |",
        f"| the same as Python strings (the old budget's) | {strings / mib:,.0f} | | | |",
        row("server RSS before any session (Streamlit, numpy, pandas, pyarrow imported)", idle),
        row("server peak RSS after the first deep link opened the run", opened),
        row("server peak RSS (VmHWM)", peak),
        row("server RSS at the end (VmRSS)", now),
        row("peak RSS minus the idle server", above, f"< 3x {verdict}"),
    ]


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        serve()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-browser", action="store_true", help="AppTest part only")
    parser.add_argument("--no-apptest", action="store_true", help="browser part only")
    parser.add_argument(
        "--profile",
        choices=("flip", "filter", "rerun"),
        help="print a cProfile of one Review script run to stderr and stop",
    )
    args = parser.parse_args()
    run_dir = ensure_run(1_000_000, "run_1m")
    os.environ["LABELNEXT_ALLOWED_ROOTS"] = allowed_roots(run_dir)
    run = load_run(run_dir)
    with tempfile.TemporaryDirectory(prefix="bench_app-") as tmp:
        work = Path(tmp)
        if args.profile:
            profile_apptest(run_dir, run, args.profile, work)
            return
        print(f"## labelnext dashboard at 1,000,000 x 10 (median of {args.repeats})\n")
        print(f"{os.cpu_count()} CPUs; load average at the start {_load()}\n")
        if not args.no_apptest:
            log("AppTest: Review page script runs ...")
            for line in bench_apptest(run_dir, run, args.repeats, work):
                print(line, flush=True)
            print(f"\n(load average after the AppTest part {_load()})\n")
        if not args.no_browser:
            log("Chromium against streamlit run app.py ...")
            for line in bench_browser(run_dir, run, args.repeats, work):
                print(line, flush=True)
            print(f"\n(load average after the browser part {_load()})")


if __name__ == "__main__":
    main()
