"""Id lists given by people (labelnext.idfiles): read exactly, by a real reader per format."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from labelnext.errors import LabelnextError
from labelnext.idfiles import parse_id_lines, read_id_file

AWKWARD = ["img,1", "with space ", "line\nbreak", '"quoted"', "=SUM(A1)", "#not-a-comment"]


def test_lines_are_ids_exactly() -> None:
    # a comma, spaces, a leading # are part of the id; nothing is split or stripped
    assert parse_id_lines(["img,1\n", " a b \r\n", "\n", "#x", "img,1"]) == ["img,1", " a b ", "#x"]


def test_text_files_are_one_id_per_line(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("img,1\nwith space \n\n#not-a-comment\n", encoding="utf-8")
    assert read_id_file(path, option="--rows") == ["img,1", "with space ", "#not-a-comment"]


def test_a_batch_csv_export_reads_back_exactly(tmp_path: Path) -> None:
    from labelnext.csvtext import csv_safe_frame

    path = tmp_path / "batch.csv"
    frame = pd.DataFrame({"data_row_id": AWKWARD, "rank": range(1, len(AWKWARD) + 1)})
    csv_safe_frame(frame).to_csv(path, index=False)  # what the CSV export writes
    assert "'=SUM(A1)" in path.read_text()  # neutralised in the file ...
    assert read_id_file(path, option="--rows") == AWKWARD  # ... and read back as it was


def test_parquet_and_json_lines(tmp_path: Path) -> None:
    pd.DataFrame({"data_row_id": AWKWARD}).to_parquet(tmp_path / "ids.parquet")
    assert read_id_file(tmp_path / "ids.parquet", option="--rows") == AWKWARD
    (tmp_path / "ids.jsonl").write_text(
        "\n".join(json.dumps({"data_row_id": i, "score": 0.5}) for i in AWKWARD), "utf-8"
    )
    assert read_id_file(tmp_path / "ids.jsonl", option="--rows") == AWKWARD


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("no_column.csv", "id\na\n", "needs a 'data_row_id' column \\(columns: id\\)"),
        ("empty_id.csv", 'data_row_id\na\n""\n', "empty_id.csv, row 2, field 'data_row_id'"),
        ("bad.jsonl", '{"data_row_id": "a"}\n{"data_row_id": 3}\n', "bad.jsonl, line 2"),
        ("broken.jsonl", "{nope\n", "broken.jsonl, line 1: not valid JSON"),
        ("latin1.txt", b"ok\n\xe9\n", "latin1.txt, line 2: not UTF-8 text"),
        ("empty.txt", "\n\n", "empty.txt: no data_row_ids"),
    ],
)
def test_bad_id_files_name_file_row_and_field(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(LabelnextError, match=message):
        read_id_file(path, option="--rows")


def test_missing_file_and_allow_empty(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    assert read_id_file(tmp_path / "empty.txt", option="--exclude", allow_empty=True) == []
    with pytest.raises(LabelnextError, match="--exclude .*missing.txt: cannot read it"):
        read_id_file(tmp_path / "missing.txt", option="--exclude")
