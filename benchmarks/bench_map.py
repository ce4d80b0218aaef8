"""The embedding map at 1,000,000 rows: projection, cached reload, one map rerun, a lasso, payload.

Builds a synthetic run in memory (seeded Dirichlet probabilities over 10 classes, ids
``row-00000000``, a 16-D embedding made of one Gaussian blob per predicted class, as
``make_synthetic.py --embedding-dim 16`` writes), then measures what the Explore page's server
does:

* **PCA projection**: ``map_coordinates(run)`` computing and writing the cache (cold), and
  reading it back (``from_cache``: the memory-mapped ``.npy``; "first read" touches every byte).
* **map rerun**: ``build_map`` (the drawing sample of 100,000 points, the density grid of all
  rows, the figure) plus ``figure_payload`` (the same dict + JSON steps ``st.plotly_chart``
  runs), and each part alone.
* **lasso**: ``selection_from_state`` with a 200-vertex concave lasso over all rows, side by side
  with ``matplotlib.path.Path.contains_points`` on the same rows (the peer; same answer asserted).
* **payload**: the figure's JSON size, with the ids here and with 25-character ids.

* **Chromium** (``--browser``): a run folder written by ``make_synthetic.py --embedding-dim``
  (under ``benchmarks/data/``, kept for the next time), ``streamlit run app.py`` with its own
  ``LABELNEXT_HOME`` and ``LABELNEXT_ALLOWED_ROOTS`` (``bench_app.py``'s timed server, which
  logs every script run), and Debian's Chromium opening the deep link
  ``/explore?run=path:<folder>``. Timed from ``page.goto`` until plotly has drawn the map (its
  WebGL points trace calculated and plotted, then two animation frames). *Cold*: a new server
  and an empty map cache (it loads and scores the run and projects it); *warm*: a new browser
  session on that server (run, scores and coordinates cached).

Median of ``--repeats`` runs after a warm-up. Prints a Markdown table.

    .venv/bin/python benchmarks/bench_map.py                       # 1,000,000 rows, 16-D
    .venv/bin/python benchmarks/bench_map.py --rows 100000 --dim 128
    .venv/bin/python benchmarks/bench_map.py --umap                # also UMAP (umap-learn), slow
    .venv/bin/python benchmarks/bench_map.py --browser             # adds Chromium, open to painted
    .venv/bin/python benchmarks/bench_map.py --browser-only --rows 100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_synthetic import synthetic_embedding  # noqa: E402

from labelnext.map_data import (  # noqa: E402
    density_grid,
    map_extent,
    sample_for_drawing,
    selection_from_state,
)
from labelnext.map_figure import build_map, figure_payload  # noqa: E402
from labelnext.projection import map_coordinates  # noqa: E402
from labelnext.runs import ModelRun  # noqa: E402
from labelnext.scoring import run_scores  # noqa: E402


def synthetic_run(rows: int, dim: int, *, seed: int = 0, id_width: int = 8) -> ModelRun:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(10, 0.3), size=rows).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    numbers = np.char.zfill(np.arange(rows).astype(str), id_width)
    ids = np.char.add("row-", numbers).astype(object)
    return ModelRun(
        name=f"synthetic-{rows}",
        task="classification",
        classes=tuple(str(i) for i in range(10)),
        ids=ids,
        probabilities=p,
        metadata=pd.DataFrame(index=pd.RangeIndex(rows)),
        source="synthetic",
        content_hash=f"synthetic-{rows}-{dim}-{seed}-{id_width}",
        embedding=synthetic_embedding(p, dim, rng),
    )


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def lasso_polygon(xy: np.ndarray, vertices: int = 200) -> list[list[float]]:
    """A concave, star-like lasso around the middle of the map, as a hand would draw it."""
    (x0, x1), (y0, y1) = map_extent(xy, pad=0.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    angle = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radius = 0.3 + 0.1 * np.sin(5 * angle)
    return [
        list(cx + radius * (x1 - x0) * np.cos(angle)),
        list(cy + radius * (y1 - y0) * np.sin(angle)),
    ]


_MAP_PAINTED = """() => {
    const gd = document.querySelector('.st-key-explore_map .js-plotly-plot');
    if (!gd || !gd.calcdata || !gd._fullLayout) return false;
    const points = gd._fullData.find(t => t.type === 'scattergl');
    return Boolean(points && points._length > 0 && gd.querySelector('canvas'));
}"""


_TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
_COLOUR_TITLE = """(title) => {
    const gd = document.querySelector('.st-key-explore_map .js-plotly-plot');
    const points = gd && gd._fullData && gd._fullData.find(t => t.type === 'scattergl');
    return Boolean(points && points.marker.colorbar.title.text === title && gd.calcdata);
}"""
_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _painted(page: Any, started: float, clock: Any) -> dict[str, float]:
    """Wait until the map is drawn (plus two frames); the time since ``started`` and the
    server's script time meanwhile."""
    page.wait_for_function(_MAP_PAINTED, timeout=900_000, polling="raf")
    page.evaluate(_TWO_FRAMES)
    ms = (time.perf_counter() - started) * 1000
    drawn = page.evaluate(
        "() => document.querySelector('.st-key-explore_map .js-plotly-plot')"
        "._fullData.find(t => t.type === 'scattergl')._length"
    )
    page.wait_for_selector(_IDLE, timeout=900_000)
    runs = clock.since_last()
    return {"ms": ms, "server_ms": sum(w for w, _ in runs), "drawn": float(drawn)}


def _explore_session(browser: Any, url: str, clock: Any) -> dict[str, dict[str, float]]:
    """One browser context: the deep link to Explore on an empty browser cache until the map
    is painted; the deep link again (a new Streamlit session, the browser's cache warm); then
    "Colour by" -> Predicted class until the recoloured map is painted (one rerun in-session).
    """
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    legs: dict[str, dict[str, float]] = {}
    try:
        page = context.new_page()
        for name in ("first", "again"):
            clock.since_last()
            started = time.perf_counter()
            page.goto(url)
            legs[name] = _painted(page, started, clock)
        clock.since_last()
        page.locator(".st-key-explore_color").click()
        started = time.perf_counter()
        page.get_by_role("option", name="Predicted class").click()
        page.wait_for_function(_COLOUR_TITLE, arg="predicted", timeout=900_000, polling="raf")
        legs["recolour"] = _painted(page, started, clock)
    finally:
        context.close()
    print(
        "    "
        + ", ".join(
            f"{k} {v['ms']:,.0f} ms (server {v['server_ms']:,.0f})" for k, v in legs.items()
        ),
        file=sys.stderr,
    )
    return legs


def bench_browser(rows: int, dim: int, repeats: int) -> list[str]:
    """Chromium: open Explore on a ``rows``-row run to a painted map, cold and warm."""
    from bench_app import (
        CHROMIUM,
        DATA,
        LAUNCH_ARGS,
        ServerClock,
        _first_session,
        allowed_roots,
        log,
        streamlit_server,
    )
    from make_synthetic import make_run
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        return [f"(no Chromium at {CHROMIUM}: browser part skipped)"]
    run_dir = DATA / f"run_{rows}_emb{dim}"
    if not (run_dir / "run.json").exists():
        log(f"making a {rows:,}-row run with a {dim}-D embedding in {run_dir} ...")
        make_run(rows, run_dir, embedding_dim=dim)
    key = urllib.parse.quote(f"path:{run_dir.resolve()}", safe="")
    cold: list[dict[str, dict[str, float]]] = []
    warm: list[dict[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as work, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            for i in range(max(1, repeats // 3)):
                home = Path(work) / f"home-{i}"  # a new home: an empty map cache
                with streamlit_server(home, allowed_roots(run_dir)) as (url, _proc):
                    clock = ServerClock(home)
                    _first_session(browser, url)
                    link = f"{url}/explore?run={key}"
                    log(f"  cold session {i + 1}")
                    cold.append(_explore_session(browser, link, clock))
                    for j in range(repeats):
                        log(f"  warm session {j + 1}")
                        warm.append(_explore_session(browser, link, clock))
        finally:
            browser.close()

    def med(sessions: list[dict[str, dict[str, float]]], leg: str, field: str) -> str:
        return f"{statistics.median(s[leg][field] for s in sessions):,.0f}"

    drawn = int(float(med(warm, "first", "drawn").replace(",", "")))
    return [
        f"| Chromium, {rows:,}-row run, {drawn:,} points drawn (ms) | browser | server script |",
        "|---|---:|---:|",
        f"| cold server: deep link to Explore to the map painted (load, score, PCA, draw) "
        f"| {med(cold, 'first', 'ms')} | {med(cold, 'first', 'server_ms')} |",
        f"| warm server, new browser (empty HTTP cache): deep link to map painted "
        f"| {med(warm, 'first', 'ms')} | {med(warm, 'first', 'server_ms')} |",
        f"| warm server, browser cache warm, new session: deep link to map painted "
        f"| {med(warm, 'again', 'ms')} | {med(warm, 'again', 'server_ms')} |",
        f"| in a session: Colour by -> Predicted class to the map repainted "
        f"| {med(warm, 'recolour', 'ms')} | {med(warm, 'recolour', 'server_ms')} |",
        f"\nCold: {len(cold)} new server(s) with an empty map cache; warm: {len(warm)} browser "
        f"contexts on it; medians. Load average {os.getloadavg()[0]:.1f}.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--points", type=int, default=100_000, help="max points drawn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--umap", action="store_true", help="also time UMAP (needs umap-learn)")
    parser.add_argument("--browser", action="store_true", help="also time Chromium")
    parser.add_argument("--browser-only", action="store_true", help="only time Chromium")
    args = parser.parse_args()
    if args.browser_only:
        print("\n".join(bench_browser(args.rows, args.dim, args.repeats)))
        return
    from matplotlib.path import Path as MplPath

    rows: list[tuple[str, str, str]] = []

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    say(f"building a {args.rows:,} x {args.dim} synthetic run ...")
    run = synthetic_run(args.rows, args.dim)
    scores = run_scores(run, "margin")
    run.id_rank, run.predicted_index  # noqa: B018  # cached per run by the app, as here
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        coords = map_coordinates(run, home=home)
        cold = (time.perf_counter() - started) * 1000
        assert not coords.from_cache
        say(f"PCA cold: {cold:.0f} ms")
        reload_ms = median_ms(lambda: map_coordinates(run, home=home), args.repeats)
        again = map_coordinates(run, home=home)
        assert again.from_cache
        first_read = median_ms(
            lambda: float(np.asarray(map_coordinates(run, home=home).xy).sum()), args.repeats
        )
        xy = np.array(again.xy)
    rows.append(
        (f"PCA projection, {args.rows:,} x {args.dim} (computed + cached)", f"{cold:,.0f} ms", "")
    )
    rows.append(("cached reload (memory map opened)", f"{reload_ms:,.1f} ms", ""))
    rows.append(("cached reload + first full read", f"{first_read:,.1f} ms", ""))

    extent = map_extent(xy)
    sample_ms = median_ms(
        lambda: sample_for_drawing(
            scores,
            max_points=args.points,
            seed=0,
            strata=run.predicted_index,
            ids=run.ids,
            id_rank=run.id_rank,
        ),
        args.repeats,
    )
    density_ms = median_ms(lambda: density_grid(xy, bins=200, extent=extent), args.repeats)
    build_ms = median_ms(lambda: build_map(run, xy, scores, max_points=args.points), args.repeats)
    view = build_map(run, xy, scores, max_points=args.points)
    payload_ms = median_ms(lambda: figure_payload(view.figure), args.repeats)

    def rerun() -> None:
        figure_payload(build_map(run, xy, scores, max_points=args.points).figure)

    rerun_ms = median_ms(rerun, args.repeats)
    size_mb = len(figure_payload(view.figure).encode()) / 1e6
    long_ids = synthetic_run(min(args.rows, 200_000), 2, id_width=21)  # 25-character ids
    long_view = build_map(
        long_ids,
        np.asarray(np.random.default_rng(1).normal(size=(long_ids.n_rows, 2)), np.float32),
        run_scores(long_ids, "margin"),
        max_points=args.points,
    )
    long_mb = len(figure_payload(long_view.figure).encode()) / 1e6
    rows.append(
        (f"  drawing sample ({view.n_drawn:,} of {args.rows:,})", f"{sample_ms:,.1f} ms", "")
    )
    rows.append(("  density grid of all rows (200 x 200)", f"{density_ms:,.1f} ms", ""))
    rows.append(("  build_map (sample + density + figure)", f"{build_ms:,.1f} ms", ""))
    rows.append(("  figure to JSON as st.plotly_chart does", f"{payload_ms:,.1f} ms", ""))
    ok = "met" if rerun_ms < 300 else "MISSED"
    rows.append(
        (
            "**one map rerun, server** (build_map + JSON)",
            f"**{rerun_ms:,.1f} ms**",
            f"< 300 ms: {ok}",
        )
    )
    ok = "met" if size_mb < 5 else "MISSED"
    rows.append(
        (
            f"**payload**, {view.n_drawn:,} points, 12-char ids",
            f"**{size_mb:.2f} MB**",
            f"< 5 MB: {ok}",
        )
    )
    rows.append((f"payload, {long_view.n_drawn:,} points, 25-char ids", f"{long_mb:.2f} MB", ""))

    polygon = lasso_polygon(xy)
    state = {"selection": {"points": [], "box": [], "lasso": [{"x": polygon[0], "y": polygon[1]}]}}
    lasso_ms = median_ms(lambda: selection_from_state(state, xy, drawn=view.drawn), args.repeats)
    vertices = np.column_stack(polygon)
    peer_ms = median_ms(lambda: MplPath(vertices).contains_points(xy), args.repeats)
    result = selection_from_state(state, xy, drawn=view.drawn)
    assert np.array_equal(result.mask, MplPath(vertices).contains_points(xy))
    ok = "met" if lasso_ms < 200 else "MISSED"
    rows.append(
        (
            f"**lasso over all rows** (200 vertices; {result.n_selected:,} inside)",
            f"**{lasso_ms:,.1f} ms**",
            f"< 200 ms: {ok}",
        )
    )
    rows.append(
        (
            "  matplotlib Path.contains_points, same rows",
            f"{peer_ms:,.1f} ms",
            f"ours {peer_ms / lasso_ms:.1f}x faster",
        )
    )

    if args.umap:
        for fit_rows, place in ((50_000, "neighbors"),):
            say(f"UMAP: fit {fit_rows:,}, place the rest by {place} ...")
            with tempfile.TemporaryDirectory() as home:
                started = time.perf_counter()
                map_coordinates(
                    run, method="umap", home=home, umap_fit_rows=fit_rows, umap_place=place
                )
                umap_ms = (time.perf_counter() - started) * 1000
            rows.append(
                (
                    f"UMAP, fit {fit_rows:,}, rest by {place} (first call: includes numba compile)",
                    f"{umap_ms / 1000:,.0f} s",
                    "",
                )
            )

    print(f"\n{args.rows:,} rows x {args.dim}-D embedding, {args.points:,} points drawn;", end=" ")
    print(f"median of {args.repeats}; load average {os.getloadavg()[0]:.1f}\n")
    print("| measure | value | target |")
    print("|---|---:|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    if args.browser:
        print()
        print("\n".join(bench_browser(args.rows, args.dim, args.repeats)))


if __name__ == "__main__":
    main()
