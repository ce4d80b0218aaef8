"""``select`` and ``submit`` with ``--method`` and its options: the CLI picks what the library
picks (labelnext.proposal / labelnext.batch), records it with the batch, and refuses clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelnext.batch import covering_radius
from labelnext.cli import main
from labelnext.embeddings import embedding_for
from labelnext.ledger import Ledger
from labelnext.proposal import propose_batch
from labelnext.readers import load_run
from labelnext.scoring import Scoring
from labelnext.select import Filter, ranked

RUN = Path(__file__).resolve().parents[1] / "sample_data" / "mnist" / "run_001"


@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    return load_run(RUN)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def select_ids(capsys: pytest.CaptureFixture[str], tmp_path: Path, *options: str) -> list[str]:
    out = tmp_path / "picked.csv"
    code, _, err = cli(capsys, "select", str(RUN), "--out", str(out), *options)
    assert code == 0, err
    return pd.read_csv(out)["data_row_id"].tolist()


@pytest.mark.parametrize("method", ["diverse", "cluster", "typical", "auto"])
def test_select_method_is_the_librarys_pick(run, method: str, capsys, tmp_path: Path) -> None:
    ids = select_ids(capsys, tmp_path, "--top", "15", "--method", method, "--seed", "3")
    expected = propose_batch(run, 15, method=method, seed=3)
    assert ids == expected.rows["data_row_id"].tolist()
    assert len(set(ids)) == 15


def test_diverse_covers_the_pool_better_than_top(run, capsys, tmp_path: Path) -> None:
    top = select_ids(capsys, tmp_path, "--top", "30")
    diverse = select_ids(capsys, tmp_path, "--top", "30", "--method", "diverse")
    assert top == ranked(run, "least_confidence", k=30)["data_row_id"].tolist()
    x, _ = embedding_for(run)
    candidates = run.positions(ranked(run, "least_confidence", k=90)["data_row_id"])

    def radius(ids: list[str]) -> float:
        return covering_radius(x, run.positions(ids), rows=candidates)

    assert radius(diverse) < radius(top)


def test_every_scoring_option_reaches_the_method(run, capsys, tmp_path: Path) -> None:
    ids = select_ids(capsys, tmp_path, "--top", "10", "--method", "diverse", "--strategy", "margin")
    assert (
        ids
        == propose_batch(run, 10, scoring=Scoring("margin"), method="diverse")
        .rows["data_row_id"]
        .tolist()
    )
    assert ids != select_ids(capsys, tmp_path, "--top", "10", "--method", "diverse")


def test_quota_and_min_distance(run, capsys, tmp_path: Path) -> None:
    ids = select_ids(capsys, tmp_path, "--top", "20", "--method", "top", "--quota", "balanced")
    labels = run.predicted_labels[run.positions(ids)]
    assert sorted(np.unique(labels, return_counts=True)[1].tolist()) == [2] * 10
    ids = select_ids(capsys, tmp_path, "--top", "6", "--quota", "3=4", "--quota", "5=1:2")
    labels = list(run.predicted_labels[run.positions(ids)])
    assert labels.count("3") == 4 and 1 <= labels.count("5") <= 2
    x, _ = embedding_for(run)
    ids = select_ids(capsys, tmp_path, "--top", "10", "--min-distance", "6")
    picked = x[run.positions(ids)]
    gaps = np.linalg.norm(picked[:, None] - picked[None], axis=2)[np.triu_indices(10, 1)]
    assert gaps.min() >= 6


def test_excluded_rows_are_never_picked_and_count_as_covered(run, capsys, tmp_path: Path) -> None:
    first = select_ids(capsys, tmp_path, "--top", "40", "--method", "diverse")
    excluded = tmp_path / "excluded.txt"
    excluded.write_text("\n".join(first) + "\n")
    second = select_ids(
        capsys, tmp_path, "--top", "40", "--method", "diverse", "--exclude", str(excluded)
    )
    assert not set(first) & set(second)
    expected = propose_batch(run, 40, method="diverse", covered_ids=first, flt=Filter())
    assert second == expected.rows["data_row_id"].tolist()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--top", "5000", "--method", "diverse"], "k=5000 is larger than the pool of 4875"),
        (["--top", "10", "--quota", "3=8", "--quota", "5=8"], "quota"),
        (["--top", "50", "--min-distance", "1000"], "leaves only 1 row(s)"),
        (["--top", "5", "--quota", "cat"], "--quota 'cat'"),
        (["--top", "5", "--method", "diverse", "--stream"], "streaming path"),
    ],
)
def test_bad_requests_exit_2_with_the_numbers(options, message, capsys) -> None:
    code, out, err = cli(capsys, "select", str(RUN), *options)
    assert code == 2
    assert message in err, err
    assert out == ""


def test_submit_records_method_params_seed_and_embedding(db: str, capsys) -> None:
    code, out, err = cli(
        capsys, "submit", str(RUN), "--project", "p", "--name", "b1", "--top", "25",
        "--method", "auto", "--seed", "7", "--db", db,
    )  # fmt: skip
    assert code == 0, err
    assert "method typical (auto:" in err
    with Ledger(db) as ledger:
        batch = ledger.batch(int(out.strip()))
        rows = ledger.batch_rows(batch.batch_id)
    assert batch.method == "typical"
    assert batch.method_params["requested_method"] == "auto"
    assert batch.method_params["seed"] == 7
    assert batch.embedding_source == "run"
    assert len(rows) == 25
    expected = propose_batch(load_run(RUN), 25, method="auto", seed=7)
    assert rows["data_row_id"].tolist() == expected.rows["data_row_id"].tolist()


def test_second_submit_counts_the_first_batch_as_covered(db: str, capsys) -> None:
    def submit(name: str) -> int:
        code, out, err = cli(
            capsys, "submit", str(RUN), "--project", "p", "--name", name, "--top", "30",
            "--method", "diverse", "--db", db,
        )  # fmt: skip
        assert code == 0, err
        return int(out.strip())

    first, second = submit("b1"), submit("b2")
    with Ledger(db) as ledger:
        a = ledger.batch_rows(first)["data_row_id"].tolist()
        b = ledger.batch_rows(second)["data_row_id"].tolist()
        assert ledger.batch(second).method_params["n_covered"] == 30
    assert not set(a) & set(b)
    assert (
        b
        == propose_batch(load_run(RUN), 30, method="diverse", covered_ids=a)
        .rows["data_row_id"]
        .tolist()
    )


def test_submit_refuses_rows_with_method_and_stores_nothing(db: str, capsys, tmp_path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("mnist-01610\n")
    code, _, err = cli(
        capsys, "submit", str(RUN), "--project", "p", "--name", "b", "--rows", str(ids),
        "--method", "diverse", "--db", db,
    )  # fmt: skip
    assert code == 2 and "--rows" in err
    with Ledger(db) as ledger:
        assert ledger.batches().empty
