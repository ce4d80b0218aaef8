"""Hostile strings in every field of a run are shown as text on every page (AppTest).

What AppTest sees is the Markdown Streamlit would render; outside code spans and code blocks
(where Markdown does nothing) no hostile markup may remain. The browser test
(tests/test_browser_safety.py) checks the same in Chromium: nothing runs, nothing is fetched.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from app_support import make_app
from hostile import write_hostile_run
from streamlit.testing.v1 import AppTest

from labelnext.readers import load_run
from labelnext.select import ranked
from labelnext_app import safe_text

CANARY = "http://127.0.0.1:9/canary"
# what the hostile strings carry (the app's own icons use other :material/ names)
DANGEROUS = ("<img", "<iframe", "](", ":red[", ":material/home:", "$x", "javascript:", "HYPERLINK")


def _outside_code(markdown: str) -> str:
    """The Markdown with fenced code blocks and inline code spans removed."""
    text = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", markdown)
    out, i = [], 0
    while i < len(text):
        if text[i] == "`":
            run = re.match(r"`+", text[i:])
            assert run is not None
            fence = run.group()
            end = text.find(fence, i + len(fence))
            while end != -1 and text[end + len(fence) : end + len(fence) + 1] == "`":
                end = text.find(fence, end + 1)
            if end != -1:
                i = end + len(fence)
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _texts(at: AppTest) -> list[str]:
    """Every Markdown-rendered string on the page: bodies, labels, values, tooltips."""
    found: list[str] = []
    for kind in ("markdown", "caption", "title", "header", "subheader"):
        found += [e.value for e in getattr(at, kind)]
    for kind in ("error", "warning", "info", "success"):
        found += [e.value for e in getattr(at, kind)]
    for m in at.metric:
        found += [m.label, m.value, m.proto.help]
    for kind in ("button", "checkbox", "selectbox", "multiselect", "slider", "text_input"):
        for w in getattr(at, kind):
            found += [w.label, getattr(w, "help", "") or ""]
    return [t for t in found if t]


@pytest.fixture
def hostile_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AppTest, dict[str, str]]:
    data = tmp_path / "data"
    texts = write_hostile_run(data / "run", CANARY)
    at = make_app(tmp_path, monkeypatch)
    monkeypatch.setenv("LABELNEXT_ALLOWED_ROOTS", str(data))
    at.query_params["run"] = f"path:{data / 'run'}"
    return at, texts


def _assert_safe(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for text in _texts(at):
        rest = _outside_code(text)
        for token in DANGEROUS:
            assert token not in rest, f"{token!r} rendered as Markdown in {text!r}"
        assert "first line\nsecond" not in rest


def test_md_renders_hostile_strings_as_code() -> None:
    for text in write_hostile_run.__globals__["hostile_strings"](CANARY).values():
        shown = safe_text.md(text)
        if text != "L" * 400:  # a plain string stays plain
            assert _outside_code(shown) == "", shown
        assert safe_text.visible(text).replace("`", "") in shown.replace("`", "").replace(
            "\u2060", ""
        )


def test_every_page_shows_hostile_strings_as_text(
    hostile_app: tuple[AppTest, dict[str, str]], tmp_path: Path
) -> None:
    at, texts = hostile_app
    at.run()
    _assert_safe(at)
    shown = "\n".join(_texts(at))
    assert safe_text.visible(texts["iframe"]) in shown  # the run name, as typed
    run = load_run(tmp_path / "data" / "run", allowed_roots=[tmp_path / "data"])
    for page in ("pages/review.py", "pages/batch.py"):
        at.switch_page(page).run()
        _assert_safe(at)
    # a deep link to the row whose id holds a newline, and to a hostile one
    for rid in ranked(run, "margin")["data_row_id"][:3]:
        at.query_params["row"] = rid
        at.switch_page("pages/detail.py").run()
        _assert_safe(at)
        assert any(safe_text.visible(rid) in t for t in _texts(at))


def test_hostile_batch_and_project_names_on_the_batch_page(
    hostile_app: tuple[AppTest, dict[str, str]], tmp_path: Path
) -> None:
    at, texts = hostile_app
    at.run()
    at.switch_page("pages/review.py").run()
    at.button(key="review_select_page").click().run()
    at.session_state["user_name"] = texts["md_link"]
    at.switch_page("pages/batch.py").run()
    at.selectbox(key="batch_project").set_value("New project…").run()
    at.text_input(key="batch_new_project").input(texts["html_img"])
    at.text_input(key="batch_name").input(texts["directives"])
    at.text_area(key="batch_note").input(texts["newline"])
    at.button(key="batch_submit").click().run()
    _assert_safe(at)
    assert at.success, [e.value for e in at.error]
    # the history and the download section name the batch and project as text
    at.run()
    _assert_safe(at)
    shown = "\n".join(_texts(at))
    assert safe_text.md(texts["directives"]) in shown
