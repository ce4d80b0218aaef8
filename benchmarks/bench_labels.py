"""Time importing a labeled batch into the ledger and writing the training set, beside the
ledger's own floor for the same rows.

For N rows (default 25,000) submitted as one batch, on a fresh database each time:

* ``import``: ``Ledger.import_labels`` of a CSV labeling every row (read, checks, marks, labels,
  actions: one transaction);
* ``relabel``: the same rows imported again with other labels (history kept);
* ``floor``: what the import cannot avoid: reading the CSV with ``read_labels`` plus
  ``Ledger.mark_labeled`` of the batch (the status change alone);
* ``training csv``: ``training_set(..., "csv")`` of the N labeled rows.

The ratio ``import / floor`` says what keeping labels (and their history) costs over marking
the batch labeled. Medians of ``--repeat`` runs (seconds).

    PYTHONPATH=lib .venv/bin/python benchmarks/bench_labels.py [--rows 25000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_submit import pg_url_factory, selection, sqlite_url_factory

from labelnext.export.training import training_set
from labelnext.labels import read_labels
from labelnext.ledger import Ledger

CLASSES = tuple("0123456789")


def _batch(ledger: Ledger, n: int) -> tuple[int, list[str]]:
    rows = selection(n)
    batch = ledger.submit(
        project="bench", name="b", rows=rows, created_by="bench", strategy="margin",
        run_id=None, classes=CLASSES,
    ).batch_id  # fmt: skip
    return batch, rows["data_row_id"].tolist()


def _csv(ids: list[str], shift: int) -> bytes:
    lines = [f"{rid},{(k + shift) % 10},bench" for k, rid in enumerate(ids)]
    return ("data_row_id,label,labeled_by\n" + "\n".join(lines) + "\n").encode()


def measure(make, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    out: dict[str, float] = {}
    url, cleanup = make()
    try:
        with Ledger(url) as ledger:
            batch, ids = _batch(ledger, n)
            started = time.perf_counter()
            read_labels(_csv(ids, 0), filename="labels.csv", classes=CLASSES)
            ledger.mark_labeled(batch)
            out["floor"] = time.perf_counter() - started
    finally:
        cleanup()
    url, cleanup = make()
    try:
        with Ledger(url) as ledger:
            batch, ids = _batch(ledger, n)
            started = time.perf_counter()
            result = ledger.import_labels(_csv(ids, 0), filename="labels.csv", project="bench")
            out["import"] = time.perf_counter() - started
            assert result.n_new == n and result.batches[batch][1] == "labeled"
            started = time.perf_counter()
            result = ledger.import_labels(_csv(ids, 1), filename="again.csv", project="bench")
            out["relabel"] = time.perf_counter() - started
            assert result.n_relabeled == n
            started = time.perf_counter()
            _, written = training_set(ledger, "bench", "csv")
            out["training csv"] = time.perf_counter() - started
            assert written == n
    finally:
        cleanup()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=25_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    backends = {"sqlite": sqlite_url_factory()}
    pg = pg_url_factory()
    if pg is not None:
        backends["postgresql"] = pg
    keys = ("import", "relabel", "floor", "training csv")
    print(f"Labels for {args.rows:,} rows, median of {args.repeat} (seconds)\n")
    header = f"{'backend':<12}" + "".join(f"{k:>14}" for k in keys) + f"{'import/floor':>14}"
    print(header)
    print("-" * len(header))
    for backend, make in backends.items():
        samples: dict[str, list[float]] = {}
        for _ in range(args.repeat):
            for key, seconds in measure(make, args.rows).items():
                samples.setdefault(key, []).append(seconds)
        med = {key: statistics.median(values) for key, values in samples.items()}
        ratio = med["import"] / med["floor"]
        print(f"{backend:<12}" + "".join(f"{med[k]:>14.3f}" for k in keys) + f"{ratio:>13.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
