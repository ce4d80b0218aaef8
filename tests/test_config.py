"""labelnext.config: every environment setting, parsed in one place, never raising."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelnext.config import DEFAULT_MAX_UPLOAD_MB, DEFAULT_THUMB_CACHE_MB, settings


def test_defaults_without_any_variable() -> None:
    s = settings({})
    assert s.home == Path(".labelnext")
    assert s.db_url is None
    assert s.allowed_roots == ()
    assert s.max_upload_mb == DEFAULT_MAX_UPLOAD_MB
    assert s.thumb_cache_mb == DEFAULT_THUMB_CACHE_MB
    assert s.uploads_dir == Path(".labelnext") / "uploads"
    assert s.thumbs_dir == Path(".labelnext") / "thumbs"


def test_values_are_parsed(tmp_path: Path) -> None:
    s = settings(
        {
            "LABELNEXT_HOME": f"  {tmp_path}  ",
            "LABELNEXT_DB_URL": "postgresql+psycopg://u@h/db",
            "LABELNEXT_ALLOWED_ROOTS": os.pathsep.join(["/data/a", " ", "~/b"]),
            "LABELNEXT_MAX_UPLOAD_MB": "12",
            "LABELNEXT_THUMB_CACHE_MB": "0.5",
        }
    )
    assert s.home == tmp_path
    assert s.db_url == "postgresql+psycopg://u@h/db"
    assert s.allowed_roots == (Path("/data/a"), Path("~/b").expanduser())
    assert s.max_upload_mb == 12
    assert s.thumb_cache_mb == 0.5


@pytest.mark.parametrize(
    ("raw", "upload", "cache"),
    [("x", DEFAULT_MAX_UPLOAD_MB, DEFAULT_THUMB_CACHE_MB), ("-3", 0, DEFAULT_THUMB_CACHE_MB)],
)
def test_bad_numbers_fall_back_to_the_default(raw: str, upload: int, cache: float) -> None:
    s = settings({"LABELNEXT_MAX_UPLOAD_MB": raw, "LABELNEXT_THUMB_CACHE_MB": raw})
    assert s.max_upload_mb == upload
    assert s.thumb_cache_mb == cache
    assert settings({"LABELNEXT_THUMB_CACHE_MB": "nan"}).thumb_cache_mb == DEFAULT_THUMB_CACHE_MB


def test_reads_the_process_environment_at_each_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "one"))
    assert settings().home == tmp_path / "one"
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "two"))
    assert settings().home == tmp_path / "two"


def test_run_limits_default_and_parse() -> None:
    from labelnext.config import DEFAULT_MAX_RUN_COLUMNS, DEFAULT_MAX_RUN_MB, DEFAULT_MAX_RUN_ROWS

    s = settings({})
    assert (s.max_run_rows, s.max_run_columns, s.max_run_mb) == (20_000_000, 10_000, 8192.0)
    assert (DEFAULT_MAX_RUN_ROWS, DEFAULT_MAX_RUN_COLUMNS, DEFAULT_MAX_RUN_MB) == (
        20_000_000,
        10_000,
        8192.0,
    )
    s = settings(
        {
            "LABELNEXT_MAX_RUN_ROWS": " 5_000_000 ",
            "LABELNEXT_MAX_RUN_COLUMNS": "50",
            "LABELNEXT_MAX_RUN_MB": "256.5",
        }
    )
    assert (s.max_run_rows, s.max_run_columns, s.max_run_mb) == (5_000_000, 50, 256.5)


@pytest.mark.parametrize("raw", ["0", "-3", "many", "nan"])
def test_run_limits_that_would_refuse_everything_fall_back(raw: str) -> None:
    s = settings(
        {
            "LABELNEXT_MAX_RUN_ROWS": raw,
            "LABELNEXT_MAX_RUN_COLUMNS": raw,
            "LABELNEXT_MAX_RUN_MB": raw,
        }
    )
    assert (s.max_run_rows, s.max_run_columns, s.max_run_mb) == (20_000_000, 10_000, 8192.0)
