"""Strings from files, the ledger and users, made safe to show.

Streamlit renders most of what it draws as Markdown (titles, captions, messages, widget labels,
tooltips): a class name, a run name, an id or a batch name could otherwise load images from
outside hosts, draw links, run Streamlit's ``:material/...:`` and ``:red[...]`` directives, render
``$maths$`` or cut the text at a newline. Plotly renders a subset of HTML in labels. Every such
string goes through one of these functions first:

* :func:`md` for anything Streamlit renders as Markdown. A string of plain characters (letters,
  digits, spaces and ``. , / ( ) ' -``) stays as it is; any other string is shown as an inline
  code span, inside which Markdown does nothing, with a fence longer than any run of backticks in
  it. Control characters are shown as their escapes (``\\n``), so the text reads as typed (an
  invisible word joiner breaks ``:material/`` icon names, which Streamlit expands even there).
* :func:`block` for a long message that quotes data (a validation error): a fenced code block.
* :func:`plotly` for labels and hover text of a chart: HTML-escaped.
"""

from __future__ import annotations

import html
import re

__all__ = ["block", "md", "plotly", "visible"]

_PLAIN = re.compile(r"[^\W_]|[ .,/()'+=%-]")
_LIST_START = re.compile(r"\s*(\d+[.)]\s|[-+*]\s|$)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(value: object) -> str:
    """``value`` as text with control characters shown as escapes (``\\n``, ``\\x00``)."""
    text = str(value)
    return _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def md(value: object) -> str:
    """Markdown that renders exactly as ``value`` reads.

    Examples
    --------
    >>> md("mnist-logreg r1")
    'mnist-logreg r1'
    >>> md("![x](https://evil.example/p.png)")
    '`![x](https://evil.example/p.png)`'
    >>> md("a`b")
    '``a`b``'
    >>> md("line\\nbreak")
    '`line\\\\nbreak`'
    """
    text = visible(value)
    if text and all(_PLAIN.fullmatch(c) for c in text) and not _LIST_START.match(text):
        return text
    if not text:
        return "` `"
    # Streamlit rewrites ``:material/name:`` before it parses Markdown, even inside code: an
    # invisible word joiner keeps the text as it reads and the icon out
    text = text.replace(":material/", ":\u2060material/")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text.strip() != text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def block(text: object) -> str:
    """A fenced code block showing ``text`` exactly (Markdown inside it does nothing)."""
    body = str(text).replace("\x00", "\\x00")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def plotly(value: object) -> str:
    """Text for a Plotly label or hover: HTML-escaped, control characters visible."""
    return html.escape(visible(value), quote=True)
