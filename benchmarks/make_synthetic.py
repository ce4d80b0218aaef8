"""Make synthetic model runs for the scale benchmarks: 1M and 10M rows, 10 classes.

Probabilities come from a Dirichlet (seeded); images repeat a small pool of real sample
images, so thumbnails can be made. Written in row groups of 262,144 rows, as a sensible producer
would, so that streaming readers can read a group at a time.

    .venv/bin/python benchmarks/make_synthetic.py --rows 1000000 --out benchmarks/data/run_1m

``--embedding-dim 16`` adds an ``embedding`` column (a fixed-size list of float32): a Gaussian
blob per predicted class plus noise, so that a map of it shows clusters (``bench_map.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
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


def make_run(
    rows: int, out: Path, *, seed: int = 0, classes: int = 10, embedding_dim: int = 0
) -> Path:
    """Write ``out/run.json`` and ``out/predictions.parquet`` with ``rows`` rows."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pool = sorted(p.name for p in (ROOT / "sample_data" / "mnist" / "images").glob("*.png"))[:500]
    names = CLASSES[:classes]
    schema = pa.schema(
        [("data_row_id", pa.string()), ("image", pa.string())]
        + [(f"prob_{c}", pa.float32()) for c in names]
        + [("site", pa.string()), ("brightness", pa.float32())]
        + ([("embedding", pa.list_(pa.float32(), embedding_dim))] if embedding_dim else [])
    )
    path = out / "predictions.parquet"
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            alpha = np.full(classes, 0.3)
            p = rng.dirichlet(alpha, size=n).astype(np.float32)
            p /= p.sum(axis=1, keepdims=True)
            ids = np.char.add("row-", np.char.zfill(np.arange(start, start + n).astype(str), 8))
            columns = {
                "data_row_id": pa.array(ids.astype(object), pa.string()),
                "image": pa.array(np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]),
                **{f"prob_{c}": pa.array(p[:, j]) for j, c in enumerate(names)},
                "site": pa.array(rng.choice(["north", "south", "east", "west"], n)),
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
                "predictions": "predictions.parquet",
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
    parser.add_argument("--embedding-dim", type=int, default=0, help="add an embedding column")
    args = parser.parse_args()
    make_run(args.rows, args.out, seed=args.seed, embedding_dim=args.embedding_dim)
    print(f"wrote {args.rows:,} rows to {args.out}")


if __name__ == "__main__":
    main()
