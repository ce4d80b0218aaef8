"""Time submitting one large batch to the ledger, on SQLite and PostgreSQL.

Measures ``Ledger.submit`` of N rows (default 25,000) into an empty ledger, the same submit
refused as a conflict (it must find and name all N rows), and a ``skip`` submit that trims half.
Each timing is the median of ``--repeat`` runs, each on a fresh database (SQLite file in a
temporary directory; PostgreSQL schema in the ``test`` database, dropped afterwards).

    .venv/bin/python benchmarks/bench_submit.py [--rows 25000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from labelnext.errors import BatchConflictError
from labelnext.ledger import Ledger

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def selection(n: int, offset: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    scores = np.sort(rng.random(n))[::-1]
    return pd.DataFrame(
        {
            "data_row_id": [f"row-{i:08d}" for i in range(offset, offset + n)],
            "image": [f"images/row-{i:08d}.png" for i in range(offset, offset + n)],
            "predicted_label": rng.choice(list("0123456789"), n),
            "score": scores,
            "confidence": 1 - scores,
            "rank": np.arange(1, n + 1),
        }
    )


def _submit(ledger: Ledger, rows: pd.DataFrame, name: str, on_conflict: str = "fail") -> int:
    return ledger.submit(
        project="bench",
        name=name,
        rows=rows,
        created_by="bench",
        strategy="margin",
        run_id=None,
        on_conflict=on_conflict,  # type: ignore[arg-type]
    ).n_rows


def measure(url: str, n: int) -> dict[str, float]:
    rows = selection(n)
    with Ledger(url) as ledger:
        ledger.ensure_project("bench")
        started = time.perf_counter()
        stored = _submit(ledger, rows, "first")
        submit = time.perf_counter() - started
        assert stored == n

        started = time.perf_counter()
        try:
            _submit(ledger, rows, "again")
        except BatchConflictError as exc:
            assert len(exc.conflicts) == n
        conflict = time.perf_counter() - started

        half = selection(n, offset=n // 2)
        started = time.perf_counter()
        stored = _submit(ledger, half, "trimmed", on_conflict="skip")
        skip = time.perf_counter() - started
        assert stored == n // 2
    return {"submit": submit, "conflict (fail)": conflict, "half overlap (skip)": skip}


def sqlite_url_factory() -> Callable[[], tuple[str, Callable[[], None]]]:
    def make() -> tuple[str, Callable[[], None]]:
        folder = tempfile.TemporaryDirectory()
        return f"sqlite:///{Path(folder.name) / 'ledger.db'}", folder.cleanup

    return make


def pg_url_factory() -> Callable[[], tuple[str, Callable[[], None]]] | None:
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=3):
            pass
    except Exception as exc:
        print(f"PostgreSQL not reachable ({exc}); measuring SQLite only", file=sys.stderr)
        return None

    def make() -> tuple[str, Callable[[], None]]:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')

        def drop() -> None:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

        return f"{PG_URL}?options=-csearch_path%3D{schema}", drop

    return make


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    backends = {"sqlite": sqlite_url_factory()}
    pg = pg_url_factory()
    if pg is not None:
        backends["postgresql"] = pg
    print(f"Ledger.submit of {args.rows:,} rows, median of {args.repeat} (seconds)\n")
    header = f"{'backend':<12}{'submit':>10}{'conflict (fail)':>18}{'half overlap (skip)':>22}"
    print(header)
    print("-" * len(header))
    for backend, make in backends.items():
        samples: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            url, cleanup = make()
            try:
                for key, seconds in measure(url, args.rows).items():
                    samples.setdefault(key, []).append(seconds)
            finally:
                cleanup()
        med = {key: statistics.median(values) for key, values in samples.items()}
        print(
            f"{backend:<12}{med['submit']:>10.3f}{med['conflict (fail)']:>18.3f}"
            f"{med['half overlap (skip)']:>22.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
