"""Make synthetic model runs for the scale benchmarks: 1M to 50M rows, 10 classes.

Probabilities come from a Dirichlet (seeded); images repeat a small pool of real sample
images, so thumbnails can be made. Written in row groups of 262,144 rows, as a sensible producer
would, so that streaming readers can read a group at a time. Rows are made and written a million
at a time, so memory stays flat whatever ``--rows`` is. ``--files N`` splits the rows over N
files in ``predictions/`` (as a batch-inference job writes them), for the Spark engine.

    .venv/bin/python benchmarks/make_synthetic.py --rows 1000000 --out benchmarks/data/run_1m
    .venv/bin/python benchmarks/make_synthetic.py --rows 50000000 --files 8 \
        --out benchmarks/data/run_50m_parts

``--embedding-dim 16`` adds an ``embedding`` column (a fixed-size list of float32): a Gaussian
blob per predicted class plus noise, so that a map of it shows clusters (``bench_map.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
CLASSES = [str(i) for i in range(10)]
CHUNK = 1_000_000


def synthetic_embedding(
    p: np.ndarray, dim: int, rng: np.random.Generator, *, spread: float = 3.0
) -> np.ndarray:
    """A (n, dim) float32 embedding: a blob per top-1 class (seeded centres) plus unit noise."""
    centres = np.random.default_rng(1234).normal(size=(p.shape[1], dim)) * spread
    noise = rng.standard_normal((len(p), dim), dtype=np.float32)
    return (centres[p.argmax(axis=1)].astype(np.float32) + noise).astype(np.float32)


def _ids(start: int, n: int) -> pa.Array:
    """``row-00000042``-style ids, made by Arrow (np.char costs seconds per million)."""
    numbers = pa.array(np.arange(start, start + n, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise("row-", pc.utf8_lpad(numbers, width=8, padding="0"), "")


def make_run(
    rows: int,
    out: Path,
    *,
    seed: int = 0,
    classes: int = 10,
    files: int = 1,
    embedding_dim: int = 0,
) -> Path:
    """Write ``out/run.json`` and the predictions, ``rows`` rows in ``files`` Parquet files.

    One file is ``out/predictions.parquet``; several are ``out/predictions/part-00000.parquet``
    and so on, with rows split evenly in id order.
    """
    if files < 1:
        raise ValueError(f"files must be >= 1, got {files}")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pool = sorted(p.name for p in (ROOT / "sample_data" / "mnist" / "images").glob("*.png"))[:500]
    names = CLASSES[:classes]
    schema = pa.schema(
        [("data_row_id", pa.string()), ("image", pa.string())]
        + [(f"prob_{c}", pa.float32()) for c in names]
        + [("site", pa.string()), ("brightness", pa.float32())]
        + ([("embedding", pa.list_(pa.float32(), embedding_dim))] if embedding_dim else [])
    ).with_metadata({"labelnext.classes": json.dumps(names)})
    if files == 1:
        targets = [out / "predictions.parquet"]
        predictions = "predictions.parquet"
    else:
        (out / "predictions").mkdir(exist_ok=True)
        targets = [out / "predictions" / f"part-{i:05d}.parquet" for i in range(files)]
        predictions = "predictions"
    bounds = np.linspace(0, rows, files + 1).astype(np.int64)
    sites = ["north", "south", "east", "west"]
    for target, lo, hi in zip(targets, bounds[:-1], bounds[1:], strict=True):
        with pq.ParquetWriter(target, schema) as writer:
            for start in range(int(lo), int(hi), CHUNK):
                n = min(CHUNK, int(hi) - start)
                alpha = np.full(classes, 0.3)
                p = rng.dirichlet(alpha, size=n).astype(np.float32)
                p /= p.sum(axis=1, keepdims=True)
                columns = {
                    "data_row_id": _ids(start, n),
                    "image": pa.array(
                        np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]
                    ),
                    **{f"prob_{c}": pa.array(p[:, j]) for j, c in enumerate(names)},
                    "site": pa.array(rng.choice(sites, n)),
                    "brightness": pa.array(rng.random(n).astype(np.float32)),
                }
                if embedding_dim:
                    flat = pa.array(synthetic_embedding(p, embedding_dim, rng).ravel())
                    columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, embedding_dim)
                writer.write_table(pa.table(columns, schema=schema), row_group_size=262_144)
    (out / "run.json").write_text(
        json.dumps(
            {
                "name": f"synthetic-{rows}",
                "model": "dirichlet",
                "version": "1",
                "task": "classification",
                "classes": names,
                "image_root": str(ROOT / "sample_data" / "mnist" / "images"),
                "predictions": predictions,
            },
            indent=1,
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "data" / "run_1m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--files", type=int, default=1, help="split the rows over this many Parquet files"
    )
    parser.add_argument("--embedding-dim", type=int, default=0, help="add an embedding column")
    args = parser.parse_args()
    make_run(
        args.rows, args.out, seed=args.seed, files=args.files, embedding_dim=args.embedding_dim
    )
    print(f"wrote {args.rows:,} rows in {args.files} file(s) to {args.out}")


if __name__ == "__main__":
    main()
