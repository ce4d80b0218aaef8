"""Simulate page (AppTest): its controls, a small run to the verdict and the table, cancel, the
result reopened from disk, adopting the winner, and a run that cannot be simulated. The curves
themselves are a plotly chart, read in Chromium (tests/test_browser_simulate.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from app_support import MULTILABEL_KEY, SAMPLE_KEY, assert_clean, open_run
from streamlit.testing.v1 import AppTest

from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run
from labelnext.scoring import Scoring
from labelnext.simulate import SimulationData, simulate, simulation_data
from labelnext_app import simulate_actions

PAGE = "pages/simulate.py"


def open_simulate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str = SAMPLE_KEY):
    at = open_run(tmp_path, monkeypatch, key)
    at.switch_page(PAGE).run()
    return at


def small_settings(at: AppTest, *, seeds: int = 2, budget: int = 120) -> None:
    at.multiselect(key="simulate_strategies").set_value(["random", "margin"]).run()
    at.number_input(key="simulate_seeds").set_value(seeds).run()
    at.number_input(key="simulate_batch").set_value(50).run()
    at.number_input(key="simulate_budget").set_value(budget).run()


def wait_for_the_job(at: AppTest, seconds: float = 120) -> None:
    """Rerun the page until the background job has been collected (fail with what it shows)."""
    deadline = time.monotonic() + seconds
    while (
        at.session_state[simulate_actions.JOB] if simulate_actions.JOB in at.session_state else None
    ):
        if time.monotonic() > deadline:
            pytest.fail(
                f"the simulation did not finish in {seconds} s: {[p.value for p in at.markdown]}"
            )
        time.sleep(0.3)
        at.run()


def test_the_page_shows_the_labeled_rows_and_the_controls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_simulate(tmp_path, monkeypatch)
    assert_clean(at)
    assert any("**4,875** labeled rows" in m.value for m in at.markdown)
    assert "features: run" in next(m.value for m in at.markdown if "labeled rows" in m.value)
    assert at.multiselect(key="simulate_strategies").value == [
        "random",
        "margin",
        "diverse",
        "cluster",
        "typical",
        "auto",
    ]
    assert at.number_input(key="simulate_seeds").value == 10
    assert at.number_input(key="simulate_budget").value == 1000
    assert at.slider(key="simulate_target").value == 0.95
    assert "then run the simulation" in at.info[0].value


def test_a_small_run_ends_in_a_verdict_and_a_table_and_reopens_from_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_simulate(tmp_path, monkeypatch)
    small_settings(at)
    at.button(key="simulate_run").click().run()
    assert at.button(key="simulate_run").disabled or simulate_actions.JOB not in at.session_state
    wait_for_the_job(at)
    assert_clean(at)
    assert at.success[0].value.startswith("Finished in ")
    verdicts = [box.value for box in [*at.success, *at.info]]
    assert any("2 seed(s), batches of 50, budget 120" in v for v in verdicts)
    frame = at.dataframe[0].value
    assert frame["strategy"].tolist() == ["random", "margin"]
    assert "labels to target (median)" in frame.columns
    assert list((tmp_path / "simulations").glob("*.json"))

    again = open_simulate(tmp_path, monkeypatch)  # a new session, the same settings
    small_settings(again)
    assert_clean(again)
    assert any("Kept from an earlier run with these settings." in c.value for c in again.caption)
    assert again.dataframe[0].value["strategy"].tolist() == ["random", "margin"]


def test_cancel_stops_the_run_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_simulate(tmp_path, monkeypatch)
    small_settings(at, seeds=20, budget=1000)
    at.button(key="simulate_run").click().run()
    assert at.button(key="simulate_cancel")  # the progress panel is there while it runs
    at.button(key="simulate_cancel").click().run()
    wait_for_the_job(at, seconds=30)
    assert_clean(at)
    assert at.info[0].value.startswith("Cancelled after ")
    assert not list((tmp_path / "simulations").glob("*.json"))


def winning_result():
    """A finished simulation where margin clearly wins (its curve made perfect)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 1, (60, 2)), rng.normal(2, 1, (60, 2))])
    data = SimulationData.from_arrays(x, np.repeat(["a", "b"], 60))
    result = simulate(data, strategies=["random", "margin"], seeds=4, batch=5, budget=30, initial=5)
    curves = result.curves.copy()
    curves.loc[curves["strategy"] == "margin", "accuracy"] = 1.0
    curves.loc[(curves["strategy"] == "random") & (curves["labels"] < 30), "accuracy"] = 0.0
    import dataclasses

    return dataclasses.replace(result, curves=curves, name="mnist-logreg-r1")


def test_use_the_winner_as_the_default_sets_the_sidebar_strategy_and_batch_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_simulate(tmp_path, monkeypatch)
    data = simulation_data(load_run(SAMPLE_DATA_DIR / "mnist" / "run_001"))
    at.session_state[simulate_actions.RESULT] = (data.content_hash, winning_result())
    at.run()
    assert_clean(at)
    assert at.success[0].value.startswith("margin saves ")
    at.button(key="simulate_adopt").click().run()
    assert_clean(at)
    assert at.session_state["scoring"] == Scoring(strategy="margin")
    assert at.session_state["batch_method"] == "top"
    assert at.selectbox(key="sidebar_strategy").value == "margin"
    assert any("Batch method · **top** (set on Simulate)" in c.value for c in at.sidebar.caption)
    at.switch_page("pages/batch.py").run()  # the Batch page's builder opens on the winner
    assert not at.exception
    assert at.selectbox(key="builder_method").value == "top"
    assert at.number_input(key="builder_size").value == 5


def test_a_run_that_cannot_be_simulated_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_simulate(tmp_path, monkeypatch, MULTILABEL_KEY)
    assert not at.exception
    assert "This run cannot be simulated yet." in at.error[0].value
    assert "is a multilabel run; simulate replays single-label classification only" in (
        at.error[0].value
    )


def test_only_random_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_simulate(tmp_path, monkeypatch)
    at.multiselect(key="simulate_strategies").set_value(["random"]).run()
    at.button(key="simulate_run").click().run()
    assert "Choose at least one strategy besides random" in at.error[0].value
