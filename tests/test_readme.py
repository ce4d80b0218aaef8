"""The README's library example runs as written (on the shipped sample, in a temporary home)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "the README has a python example"
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LABELNEXT_DB_URL", raising=False)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    tasks = json.loads(zipfile.ZipFile(tmp_path / "batch.zip").read("tasks.json"))
    assert len(tasks) == 100
    assert all(task["predictions"][0]["score"] <= 0.9 + 1e-6 for task in tasks)


def test_the_batch_methods_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Batches that save labels") :]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    (tmp_path / "sample_data").symlink_to(ROOT / "sample_data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LABELNEXT_DB_URL", raising=False)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert len(namespace["batch"]) == 50  # type: ignore[arg-type]
    assert namespace["proposal"].method == "typical"  # type: ignore[attr-defined]  # cold start
    assert len(set(namespace["rows"].tolist())) == 50  # type: ignore[attr-defined]
