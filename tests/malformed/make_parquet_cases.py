"""Writes the Parquet cases of the malformed corpus (run once; the outputs are committed)."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent

pq.write_table(
    pa.table(
        {
            "data_row_id": ["a", "b", "c"],
            "probabilities": [[0.2, 0.3, 0.5], [0.5, 0.5], [0.1, 0.1, 0.8]],
        },
        metadata={"labelnext.classes": '["cat", "dog", "bird"]'},
    ),
    HERE / "probabilities_wrong_length.parquet",
)
pq.write_table(
    pa.table({"data_row_id": ["a", "b"], "prob_cat": [0.5, float("nan")], "prob_dog": [0.5, 0.5]}),
    HERE / "nan_probability.parquet",
)
pq.write_table(
    pa.Table.from_arrays(
        [pa.array(["a", "b"]), pa.array([0.5, 0.5]), pa.array([0.5, 0.5]), pa.array([1, 2])],
        names=["data_row_id", "prob_cat", "prob_dog", "prob_cat"],
    ),
    HERE / "duplicate_column.parquet",
)
pq.write_table(
    pa.table({"data_row_id": ["a", "b\x00c"], "prob_cat": [0.5, 0.5], "prob_dog": [0.5, 0.5]}),
    HERE / "nul_in_id.parquet",
)
pq.write_table(
    pa.table(
        {"data_row_id": ["a", "b"], "probabilities": [[0.5, 0.5], [0.2, 0.8]]},
        metadata={"labelnext.classes": "cat, dog"},
    ),
    HERE / "schema_classes_not_json.parquet",
)
pq.write_table(
    pa.table(
        {"data_row_id": ["a", "b"], "probabilities": [[0.5, 0.5], [0.2, 0.8]]},
        metadata={"labelnext.classes": "[1, 2]"},
    ),
    HERE / "schema_classes_not_strings.parquet",
)
