"""A model run whose every text field is hostile: HTML, Markdown, Streamlit directives, maths,
formula prefixes, newlines and very long strings (tests of what the app shows).

``canary`` is a URL of a local server the test watches: nothing may ever fetch it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def hostile_strings(canary: str) -> dict[str, str]:
    """Named hostile strings; each names the canary so a fetch would show."""
    return {
        "html_img": f'<img src="{canary}/img.png" onerror="window.__pwned=1">',
        "iframe": f'<iframe srcdoc="<script>parent.__pwned=1</script>" src="{canary}/if">',
        "md_image": f"![x]({canary}/md.png)",
        "md_link": f"[click me]({canary}/link)",
        "js_link": "[js](javascript:window.__pwned=1)",
        "directives": ":red[red] :material/home: :smile: $x^2$",
        "formula": '=HYPERLINK("http://evil.example")',
        "newline": "first line\nsecond line",
        "backticks": "tick ` and `` two",
        "long": "L" * 400,
    }


def write_hostile_run(folder: Path, canary: str) -> dict[str, str]:
    """A classification run folder whose ids, classes, run name, model, metadata column name
    and values carry the hostile strings. Returns them."""
    texts = hostile_strings(canary)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(texts.values())
    classes = [texts["html_img"], texts["directives"], "plain"]
    n = len(names)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(classes)), size=n).astype(np.float64)
    columns: dict[str, object] = {"data_row_id": [f"{t[:60]}#{i}" for i, t in enumerate(names)]}
    for j, cls in enumerate(classes):
        columns[f"prob_{cls}"] = probs[:, j]
    columns[texts["md_image"]] = names  # a metadata column with a hostile name and values
    pq.write_table(pa.table(columns), folder / "predictions.parquet")
    (folder / "run.json").write_text(
        json.dumps(
            {
                "name": texts["iframe"],
                "model": texts["md_link"],
                "version": texts["directives"],
                "classes": classes,
                "predictions": "predictions.parquet",
            }
        ),
        encoding="utf-8",
    )
    return texts
