"""The scores and orders kept on disk: used when sound, never when stale, rebuilt when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from labelnext.diskcache import DiskCache
from labelnext.ordercache import cache_key, order_cache, scored_order
from labelnext.readers import load_run
from labelnext.scoring import Scoring, run_scores
from labelnext.select import Filter, order
from labelnext.view import build_view


def _write_run(folder: Path, probs: list[tuple[float, float, float]], ids: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["data_row_id,prob_a,prob_b,prob_c"]
    lines += [f"{i},{a},{b},{c}" for i, (a, b, c) in zip(ids, probs, strict=True)]
    (folder / "predictions.csv").write_text("\n".join(lines) + "\n")
    (folder / "run.json").write_text(json.dumps({"name": "r", "predictions": "predictions.csv"}))
    return folder


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    p = rng.dirichlet([0.5, 0.5, 0.5], size=40).round(6)
    p[:, 2] = 1.0 - p[:, 0] - p[:, 1]
    p[5] = p[9] = (0.4, 0.3, 0.3)  # a tie, broken by id
    ids = [f"id{i:03d}" for i in rng.permutation(40)]
    return _write_run(tmp_path / "run", [tuple(r) for r in p], ids)


@pytest.fixture
def cache(tmp_path: Path) -> DiskCache:
    return order_cache(tmp_path / "home")


def test_first_computes_then_opens_the_same_arrays_memory_mapped(
    run_folder: Path, cache: DiskCache
) -> None:
    run = load_run(run_folder)
    scoring = Scoring("margin")
    first = scored_order(run, scoring, cache)
    assert not first.from_disk
    again = scored_order(load_run(run_folder), scoring, cache)  # a restarted process
    assert again.from_disk
    assert not again.order.flags.writeable and not again.scores.flags.writeable
    expected = run_scores(run, scoring)
    np.testing.assert_array_equal(again.scores, expected)
    assert again.order.tolist() == order(expected, run.ids, id_rank=run.id_rank).tolist()
    for c in range(len(run.classes)):
        rows = again.class_order(c)
        assert rows is not None
        assert rows.tolist() == [r for r in again.order if run.predicted_index[r] == c]


def test_the_per_class_order_gives_the_same_view_as_the_mask(
    run_folder: Path, cache: DiskCache
) -> None:
    run = load_run(run_folder)
    held = scored_order(run, Scoring(), cache)
    some = frozenset(run.ids[:7])
    for flt in (
        Filter(classes=("b",)),
        Filter(classes=("a",), exclude_ids=some),
        Filter(classes=("c",), min_confidence=0.5),
        Filter(classes=("a", "c")),
    ):
        fast = build_view(
            run, held.scores, flt, full_order=held.order, class_order=held.class_order
        )
        plain = build_view(run, held.scores, flt)
        assert fast.order.tolist() == plain.order.tolist(), flt


def test_another_scoring_or_changed_content_is_another_key(
    run_folder: Path, cache: DiskCache, tmp_path: Path
) -> None:
    run = load_run(run_folder)
    scored_order(run, Scoring("margin"), cache)
    assert not scored_order(run, Scoring("entropy"), cache).from_disk
    assert cache_key(run, Scoring("margin")) != cache_key(run, Scoring("entropy"))
    # the same ids, one probability changed: the file's hash changes, the old order is not used
    text = (run_folder / "predictions.csv").read_text().splitlines()
    cells = text[1].split(",")
    cells[1:4] = ["0.98", "0.01", "0.01"]
    text[1] = ",".join(cells)
    (run_folder / "predictions.csv").write_text("\n".join(text) + "\n")
    changed = load_run(run_folder)
    assert changed.content_hash != run.content_hash
    held = scored_order(changed, Scoring("margin"), cache)
    assert not held.from_disk
    expected = run_scores(changed, Scoring("margin"))
    assert held.order.tolist() == order(expected, changed.ids, id_rank=changed.id_rank).tolist()


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "no-manifest", "shape"])
def test_a_damaged_or_partial_file_is_rebuilt_not_trusted(
    run_folder: Path, cache: DiskCache, damage: str
) -> None:
    run = load_run(run_folder)
    scoring = Scoring()
    good = scored_order(run, scoring, cache)
    key = cache_key(run, scoring)
    target = cache.path_for(f"{key}|order", ".npy")
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # a bit flipped in the body: the header still reads fine
        body = bytearray(data)
        body[-3] ^= 0x40
        target.write_bytes(bytes(body))
    elif damage == "garbage":
        target.write_bytes(b"not an npy file")
    elif damage == "no-manifest":  # a writer that died before its last file
        cache.path_for(f"{key}|manifest", ".json").unlink()
    else:  # an array of another run's length under this key
        buffer = __import__("io").BytesIO()
        np.save(buffer, np.arange(3, dtype=np.int64))
        target.write_bytes(buffer.getvalue())
    rebuilt = scored_order(run, scoring, cache)
    assert not rebuilt.from_disk
    assert rebuilt.order.tolist() == good.order.tolist()
    assert scored_order(run, scoring, cache).from_disk  # and stored again, sound


def test_without_a_cache_nothing_is_stored(run_folder: Path, tmp_path: Path) -> None:
    run = load_run(run_folder)
    held = scored_order(run, Scoring(), None)
    assert not held.from_disk and not (tmp_path / "home").exists()


def test_stored_in_background_the_next_open_finds_it(run_folder: Path, cache: DiskCache) -> None:
    import threading

    run = load_run(run_folder)
    first = scored_order(run, Scoring(), cache, store_in_background=True)
    assert not first.from_disk
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.daemon:
            thread.join(timeout=10)
    assert scored_order(run, Scoring(), cache).from_disk
