"""The shipped sample runs under ``sample_data/``, labelled for the Home page's picker."""

from __future__ import annotations

import json
from typing import Any

from labelnext.paths import SAMPLE_DATA_DIR

__all__ = ["DEFAULT_SAMPLE", "default_run_key", "sample_runs"]

DEFAULT_SAMPLE = "mnist/run_001"

#: What the shipped sample folders hold, for their labels on Home.
_SAMPLE_TITLES = {
    "mnist": "MNIST digits",
    "mnist_detect": "MNIST canvases",
    "mnist_multilabel": "MNIST canvases",
}
_TASK_WORDS = {"classification": "classification", "multilabel": "multi-label"}


def sample_runs() -> dict[str, str]:
    """Shipped sample runs: run key -> label saying what it is, sorted by folder.

    For example ``MNIST digits — classification, run 1`` or ``MNIST canvases — detection (COCO)``.
    """
    found: dict[str, str] = {}
    for config in sorted(SAMPLE_DATA_DIR.glob("**/run.json")):
        folder = config.parent.relative_to(SAMPLE_DATA_DIR).as_posix()
        try:
            meta = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        found[f"sample:{folder}"] = _sample_label(folder, meta if isinstance(meta, dict) else {})
    return found


def _sample_label(folder: str, meta: dict[str, Any]) -> str:
    top, _, rest = folder.partition("/")
    title = _SAMPLE_TITLES.get(top, top)
    task = str(meta.get("task") or "classification")
    words = _TASK_WORDS.get(task, task)
    fmt = str(meta.get("format") or "")
    if fmt and fmt != "labelnext":
        words += f" ({fmt.upper() if fmt in ('coco', 'yolo') else fmt.capitalize()})"
    leaf = rest.rsplit("/", 1)[-1]
    if leaf.startswith("run_") and leaf[4:].isdigit():
        words += f", run {int(leaf[4:])}"
    elif rest:
        words += f", {rest}"
    return f"{title} — {words}"


def default_run_key() -> str | None:
    """The run the app opens on: the first MNIST sample, else any sample, else none."""
    samples = sample_runs()
    if f"sample:{DEFAULT_SAMPLE}" in samples:
        return f"sample:{DEFAULT_SAMPLE}"
    return next(iter(samples), None)
