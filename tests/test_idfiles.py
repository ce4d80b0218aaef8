"""Id lists given by people (labelnext.idfiles): one parser for --exclude, --rows and the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelnext.errors import LabelnextError
from labelnext.idfiles import parse_id_lines, read_id_file


def test_parse_id_lines() -> None:
    lines = ["# queued last week", "data_row_id,batch", "a,1", "", "  b  ", '"c",2', "a"]
    assert parse_id_lines(lines) == ["a", "b", "c"]


def test_read_id_file_names_the_option(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(LabelnextError, match="--rows .*empty.txt: no data_row_ids"):
        read_id_file(empty, option="--rows")
    assert read_id_file(empty, option="--exclude", allow_empty=True) == []
    with pytest.raises(LabelnextError, match="--exclude .*missing.txt: cannot read it"):
        read_id_file(tmp_path / "missing.txt", option="--exclude")
