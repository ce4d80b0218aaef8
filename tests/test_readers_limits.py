"""Small files with big memory are refused before the memory is spent: tests/malformed_limits/.

labelnext.readers.limits (the Limits value and its settings) and labelnext.readers.parquet_size
(a Parquet file's decoded size from its footer and page headers, dictionaries measured without
being expanded).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelnext.errors import RunValidationError
from labelnext.readers import Limits, load_run
from labelnext.readers import tables as tables_module
from labelnext.readers.limits import MB
from labelnext.readers.parquet_size import decoded_size, read_page_headers

CORPUS = Path(__file__).parent / "malformed_limits"
UPLOAD_1MB = Limits.for_upload(max_upload_mb=1)  # 20 MB decoded, as the example


def _refusal(path: Path, limits: Limits) -> str:
    with pytest.raises(RunValidationError) as caught:
        load_run(path, allowed_roots=[], limits=limits)
    problem = caught.value.problems[0]
    assert problem.file == str(path)
    assert problem.row is None
    return problem.message


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the reader decodes a Parquet file (it must refuse it first)."""

    def refuse_to_decode(*args: object, **kwargs: object) -> pa.Table:
        raise AssertionError("the file was decoded")

    monkeypatch.setattr(tables_module.pq, "read_table", refuse_to_decode)


def test_a_few_kb_file_of_one_1kb_string_a_million_times_is_refused_undecoded(
    no_decoding: None,
) -> None:
    path = CORPUS / "id_bomb.parquet"
    assert path.stat().st_size < 16_000
    message = _refusal(path, UPLOAD_1MB)
    assert "would take at least 996 MB (1,044,000,000 bytes) in memory once decoded" in message
    assert "'data_row_id' 1,028,000,000 bytes" in message  # 1,000,000 x (1,024 + a 4-byte offset)
    assert "more than the limit of 20 MB (20 x the upload limit of 1 MB" in message
    assert message.endswith("nothing was decoded")


@pytest.mark.parametrize(
    ("name", "column", "low", "high"),
    [
        # 100,000 rows x 10 values x (1,024 bytes + a 4-byte offset), plus the list offsets
        ("list_bomb.parquet", "tags.list.element", 1_028_000_000, 1_028_400_000),
        # measured in batches, stopping once past the limit: at least the 20 MB
        ("prefix_bomb.parquet", "note", 10 * MB, 20 * MB),
        # 256 plain values of 1 MiB (+ 4-byte lengths) that zstd packs into 13 KB
        ("compressed_zeros.parquet", "blob", 268_436_480, 268_436_480 + 100),
    ],
)
def test_expanding_columns_are_refused_with_their_sizes(
    name: str, column: str, low: int, high: int, no_decoding: None
) -> None:
    assert (CORPUS / name).stat().st_size < 400_000
    message = _refusal(CORPUS / name, UPLOAD_1MB)
    found = re.search(rf"'{re.escape(column)}' ([\d,]+) bytes", message)
    assert found is not None, message
    assert low <= int(found.group(1).replace(",", "")) <= high
    assert "more than the limit of 20 MB" in message


def test_the_same_bombs_load_under_a_limit_that_allows_them() -> None:
    # what is refused is the size, not the encoding
    roomy = Limits(max_rows=10**7, max_columns=100, max_bytes=400 * MB)
    run = load_run(CORPUS / "compressed_zeros.parquet", allowed_roots=[], limits=roomy)
    assert run.n_rows == 256
    assert len(run.metadata["blob"][0]) == 1024 * 1024


def test_fixed_width_columns_are_counted_from_the_footer_alone(no_decoding: None) -> None:
    # 1,000,000 rows x two float64 columns = 16 MB before any string is looked at
    message = _refusal(CORPUS / "id_bomb.parquet", Limits(10**7, 100, 10 * MB))
    assert "'prob_cat' 8,000,000 bytes" in message
    assert "'prob_dog' 8,000,000 bytes" in message


def test_rows_and_columns_limits_are_checked_before_decoding(no_decoding: None) -> None:
    message = _refusal(
        CORPUS / "id_bomb.parquet", Limits(max_rows=1000, max_columns=10, max_bytes=MB)
    )
    assert message.startswith("the file holds 1,000,000 rows, more than the limit of 1,000")
    assert "labelnext select --stream" in message
    message = _refusal(CORPUS / "wide.parquet", Limits(max_rows=10, max_columns=10, max_bytes=MB))
    assert (
        message == "the file has 15 columns, more than the limit of 10 (limits given by the caller)"
    )


@pytest.mark.parametrize("name", ["wide.csv", "sparse_keys.jsonl"])
def test_text_files_have_the_same_column_limit(name: str) -> None:
    message = _refusal(CORPUS / name, Limits(max_rows=10**6, max_columns=10, max_bytes=100 * MB))
    assert re.match(r"the file has \d+ columns, more than the limit of 10", message), message


def test_json_lines_with_a_key_per_line_are_refused_by_their_cell_count() -> None:
    # 2,000 lines x 2,003 distinct keys: 4 million cells of 8 bytes from a 140 KB file
    message = _refusal(CORPUS / "sparse_keys.jsonl", Limits(10**6, 10_000, 20 * MB))
    assert "32,048,000 bytes" in message and "(2,000 lines x 2,003 keys)" in message


def test_a_csv_of_nearly_empty_cells_is_refused_by_its_cell_count() -> None:
    path = CORPUS / "empty_cells.csv"
    assert path.stat().st_size < MB
    message = _refusal(path, Limits(10**6, 1000, MB))
    assert "(1,001 lines x 203 columns)" in message
    assert "1,625,624 bytes" in message  # 1,001 x 203 x 8


def test_a_text_file_larger_than_the_byte_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.csv"
    path.write_text("data_row_id,prob_a,prob_b\n" + "x,0.5,0.5\n" * 2000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(RunValidationError, match=r"big.csv: the file would take 0.019 MB \(20,026"):
        load_run(path, limits=Limits(10**6, 10, 10_000))


def test_rows_of_a_text_file_are_limited_too(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("data_row_id,prob_a,prob_b\n" + "".join(f"r{i},0.5,0.5\n" for i in range(11)))
    with pytest.raises(
        RunValidationError, match="p.csv: the file holds 11 rows, more than the limit of 10"
    ):
        load_run(path, limits=Limits(max_rows=10, max_columns=10, max_bytes=MB))


def test_an_upload_is_bounded_like_a_file() -> None:
    data = (CORPUS / "id_bomb.parquet").read_bytes()
    with pytest.raises(
        RunValidationError, match=r"upload.parquet: the file would take at least 996 MB"
    ):
        load_run(data, filename="upload.parquet", limits=UPLOAD_1MB)


def test_foreign_formats_are_bounded_by_their_file_size(tmp_path: Path) -> None:
    path = tmp_path / "predictions.ndjson"
    path.write_text(
        '{"name": "q", "answer": {"name": "a", "confidence": 0.5}, "dataRow": {"id": "r"}}\n' * 50
    )
    with pytest.raises(
        RunValidationError, match=r"predictions.ndjson: the file would take 0.0\d+ MB"
    ):
        load_run(path, limits=Limits(10, 10, 1000))


def test_foreign_formats_are_bounded_by_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "predictions.ndjson"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "name": "q",
                    "answer": {"name": "a", "confidence": 0.5},
                    "dataRow": {"id": f"r{i}"},
                }
            )
            + "\n"
            for i in range(3)
        )
    )
    with pytest.raises(RunValidationError, match="the file holds 3 rows, more than the limit of 2"):
        load_run(path, limits=Limits(2, 10, MB))


# ----------------------------------------------------------------------------------------------
# Limits


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELNEXT_MAX_RUN_ROWS", "1_000")
    monkeypatch.setenv("LABELNEXT_MAX_RUN_COLUMNS", "7")
    monkeypatch.setenv("LABELNEXT_MAX_RUN_MB", "0.5")
    limits = Limits.from_settings()
    assert (limits.max_rows, limits.max_columns, limits.max_bytes) == (1000, 7, MB // 2)
    assert "LABELNEXT_MAX_RUN_MB" in limits.origin


def test_limits_for_an_upload_are_twenty_times_the_upload_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABELNEXT_MAX_UPLOAD_MB", "5")
    limits = Limits.for_upload()
    assert limits.max_bytes == 100 * MB
    assert limits.origin == "20 x the upload limit of 5 MB (LABELNEXT_MAX_UPLOAD_MB)"
    # never looser than the run limit itself
    monkeypatch.setenv("LABELNEXT_MAX_RUN_MB", "50")
    assert Limits.for_upload().max_bytes == 50 * MB


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"max_rows": 0, "max_columns": 1, "max_bytes": 1},
            "Limits.max_rows must be an integer >= 1, got 0",
        ),
        (
            {"max_rows": 1, "max_columns": 1.5, "max_bytes": 1},
            "Limits.max_columns must be an integer >= 1, got 1.5",
        ),
        (
            {"max_rows": 1, "max_columns": 1, "max_bytes": True},
            "Limits.max_bytes must be an integer >= 1, got True",
        ),
    ],
)
def test_limits_are_checked(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        Limits(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_upload_mb must be > 0, got 0"):
        Limits.for_upload(max_upload_mb=0)


def test_load_run_checks_the_limits_type() -> None:
    with pytest.raises(TypeError, match="limits must be a labelnext.readers.Limits, got dict"):
        load_run(b"x", filename="a.csv", limits={"max_rows": 1})  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# parquet_size: the measurement itself, on files whose decoded size is worked out by hand


def _parquet(table: pa.Table, **options: object) -> pa.BufferReader:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)  # type: ignore[arg-type]
    return pa.BufferReader(sink.getvalue())


def _measure(source: pa.BufferReader, max_bytes: int) -> int:
    return decoded_size(source, pq.ParquetFile(source), max_bytes).total


def test_strings_are_measured_exactly_when_the_bound_is_too_loose() -> None:
    # 30,000 rows over a dictionary of "a", "bb", "ccc": 60,000 bytes of text + 4-byte offsets
    values = pa.array(["a", "bb", "ccc"] * 10_000)
    source = _parquet(pa.table({"s": values, "n": pa.array(range(30_000), pa.int64())}))
    exact = 60_000 + 4 * 30_000 + 8 * 30_000
    assert _measure(source, 10**12) >= exact  # a bound is enough when far below the limit
    assert _measure(source, exact) == exact  # at the limit it is measured: exactly
    assert _measure(source, exact - 1) > exact - 1  # one byte less is refused


def test_a_dictionary_that_fell_back_to_plain_pages_is_measured_by_its_first_rows() -> None:
    # unique ids overflow the dictionary page (64 KB here): dictionary pages, then plain ones
    ids = pa.array([f"id-{i:08d}" for i in range(50_000)])
    source = _parquet(pa.table({"id": ids}), dictionary_pagesize_limit=64 * 1024)
    chunk = pq.ParquetFile(source).metadata.row_group(0).column(0)
    pages = read_page_headers(source, chunk)
    assert pages.complete and pages.expanding_values > 0 and pages.plain_values > 0
    assert pages.expanding_values + pages.plain_values == 50_000
    exact = 50_000 * (11 + 4)
    # plain pages count their uncompressed size: the text, a 4-byte length per value (for the
    # offset) and a few bytes of definition levels per page
    assert exact <= _measure(source, exact + 100) <= exact + 100


def test_variable_length_dictionaries_are_walked_for_their_longest_value() -> None:
    words = pa.array([("w" * (i % 37)) for i in range(20_000)])
    source = _parquet(pa.table({"w": words}))
    exact = sum(i % 37 for i in range(20_000)) + 4 * 20_000
    assert _measure(source, exact) == exact
    assert _measure(source, exact - 1) > exact - 1


def test_nulls_and_nested_lists_are_counted() -> None:
    tags = pa.array([["x", "yy"], None, [], ["zzz"]] * 1000, type=pa.list_(pa.string()))
    source = _parquet(pa.table({"tags": tags}))
    exact = 1000 * (1 + 2 + 3) + 4 * 1000 * 5  # text + an offset per value slot (incl. null, empty)
    measured = _measure(source, exact + 8000)
    assert exact <= measured <= exact + 8000  # list offsets: at most 8 bytes a row more


def test_an_unreadable_page_header_falls_back_to_reading_the_chunk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labelnext.readers import parquet_size

    source = _parquet(pa.table({"s": pa.array(["abc"] * 5000)}))
    monkeypatch.setattr(
        parquet_size, "_parse_page_header", lambda data: (_ for _ in ()).throw(ValueError("x"))
    )
    exact = 5000 * (3 + 4)
    assert _measure(source, exact) == exact


def test_a_corrupt_parquet_file_still_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 100 + b"PAR1")
    with pytest.raises(RunValidationError, match="bad.parquet: not a readable Parquet file"):
        load_run(path)
