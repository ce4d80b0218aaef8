"""Write the expansion corpus: small files that would take far more memory once decoded.

Each file is a few KB on disk and decodes to hundreds of MB or more (dictionary encoding, shared
prefixes, compressed zeros, sparse JSON keys, nearly empty CSV cells), or has more rows or
columns than a limit allows. ``tests/test_readers_limits.py`` holds what each refusal must say.
Rebuild with ``.venv/bin/python tests/malformed_limits/make_limits_cases.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
ROWS = 1_000_000
KB_STRING = "x" * 1024


def _repeated(value: object, n: int, kind: pa.DataType) -> pa.Array:
    return pa.array([value], type=kind).take(pa.array([0] * n, type=pa.int32()))


def _probabilities(n: int) -> dict[str, pa.Array]:
    return {
        "prob_cat": _repeated(0.5, n, pa.float64()),
        "prob_dog": _repeated(0.5, n, pa.float64()),
    }


def main() -> None:
    ids = pa.array([f"r{i}" for i in range(ROWS)], type=pa.string())
    # one 1 KB string, a million times: 1 GB of text from a dictionary of one entry
    pq.write_table(
        pa.table(
            {
                "data_row_id": ids,
                **_probabilities(ROWS),
                "note": _repeated(KB_STRING, ROWS, pa.string()),
            }
        ),
        HERE / "string_bomb.parquet",
        compression="zstd",
        write_statistics=False,
        row_group_size=ROWS,
    )
    # the same in the id column itself (the id check would run after the decode)
    pq.write_table(
        pa.table({"data_row_id": _repeated(KB_STRING, ROWS, pa.string()), **_probabilities(ROWS)}),
        HERE / "id_bomb.parquet",
        compression="zstd",
        write_statistics=False,
        row_group_size=ROWS,
    )
    # a list column: 10 copies of the 1 KB string per row, 100,000 rows: 1 GB
    n = 100_000
    tags = pa.ListArray.from_arrays(
        pa.array(range(0, 10 * n + 1, 10), type=pa.int32()),
        _repeated(KB_STRING, 10 * n, pa.string()),
    )
    pq.write_table(
        pa.table({"data_row_id": ids[:n], **_probabilities(n), "tags": tags}),
        HERE / "list_bomb.parquet",
        compression="zstd",
        write_statistics=False,
        row_group_size=n,
    )
    # prefix (DELTA_BYTE_ARRAY) encoding, no dictionary: each value shares the whole previous one
    n = 200_000
    pq.write_table(
        pa.table(
            {
                "data_row_id": ids[:n],
                **_probabilities(n),
                "note": _repeated(KB_STRING, n, pa.string()),
            }
        ),
        HERE / "prefix_bomb.parquet",
        compression="zstd",
        write_statistics=False,
        use_dictionary=["data_row_id", "prob_cat", "prob_dog"],
        column_encoding={"note": "DELTA_BYTE_ARRAY"},
        row_group_size=n,
    )
    # plain pages of zeros that compress a thousand times: 256 MB decoded
    n = 256
    zeros = pa.array([b"\0" * (1024 * 1024)] * n, type=pa.binary())
    pq.write_table(
        pa.table({"data_row_id": ids[:n], **_probabilities(n), "blob": zeros}),
        HERE / "compressed_zeros.parquet",
        compression="zstd",
        write_statistics=False,
        use_dictionary=["data_row_id", "prob_cat", "prob_dog"],
    )
    # many columns: 12 metadata columns of one row (refused under a limit of 10 columns)
    pq.write_table(
        pa.table(
            {
                "data_row_id": ["a"],
                "prob_cat": [0.5],
                "prob_dog": [0.5],
                **{f"m{i}": [i] for i in range(12)},
            }
        ),
        HERE / "wide.parquet",
    )
    (HERE / "wide.csv").write_text(
        "data_row_id,prob_cat,prob_dog," + ",".join(f"m{i}" for i in range(12)) + "\n"
        "a,0.5,0.5," + ",".join("1" for _ in range(12)) + "\n"
    )
    # JSON Lines whose every line has a key of its own: a 2,000 x 2,000 table of empty cells
    with (HERE / "sparse_keys.jsonl").open("w") as out:
        for i in range(2_000):
            out.write(
                json.dumps({"data_row_id": f"r{i}", "prob_cat": 0.5, "prob_dog": 0.5, f"k{i}": 1})
                + "\n"
            )
    # CSV of nearly empty cells: 1 byte of file per cell, 8 in memory (1,000 x 203 cells)
    with (HERE / "empty_cells.csv").open("w") as out:
        out.write("data_row_id,prob_cat,prob_dog," + ",".join(f"m{i}" for i in range(200)) + "\n")
        for i in range(1_000):
            out.write(f"r{i},0.5,0.5" + "," * 200 + "\n")
    for path in sorted(HERE.iterdir()):
        if path.suffix != ".py":
            print(f"{path.name}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
