"""labelnext.paths: the one containment check, image references, the allowed roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelnext.errors import PathNotAllowedError
from labelnext.paths import (
    SAMPLE_DATA_DIR,
    allowed_roots,
    contain,
    is_url,
    resolve_image_path,
)


def test_urls() -> None:
    assert is_url("https://x/y.png") and is_url("HTTP://x")
    assert not is_url("ftp://x") and not is_url("/a/http://b") and not is_url(None)


def test_allowed_roots_always_hold_the_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LABELNEXT_ALLOWED_ROOTS", raising=False)
    assert allowed_roots() == [SAMPLE_DATA_DIR.resolve()]
    monkeypatch.setenv("LABELNEXT_ALLOWED_ROOTS", os.pathsep.join([str(tmp_path), ""]))
    assert allowed_roots() == [SAMPLE_DATA_DIR.resolve(), tmp_path.resolve()]


def test_contain_accepts_inside_and_refuses_outside(tmp_path: Path) -> None:
    inside = tmp_path / "runs" / "r.csv"
    inside.parent.mkdir()
    inside.write_text("x")
    assert contain(inside, [tmp_path.resolve()]) == inside.resolve()
    assert contain(tmp_path / "runs" / ".." / "runs", [tmp_path.resolve()]) == inside.parent
    with pytest.raises(PathNotAllowedError, match=r"run '/etc' is outside the allowed roots"):
        contain("/etc", [tmp_path.resolve()], what="run")
    with pytest.raises(PathNotAllowedError, match="LABELNEXT_ALLOWED_ROOTS"):
        contain(tmp_path / ".." / "elsewhere", [tmp_path.resolve()])


def test_a_symbolic_link_cannot_lead_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to("/etc")
    with pytest.raises(PathNotAllowedError) as caught:
        contain(root / "escape" / "passwd", [root.resolve()], what="image")
    # the message names the path as given, never where the link leads
    assert "/etc/passwd" not in str(caught.value)


def test_messages_do_not_say_whether_an_outside_file_exists(tmp_path: Path) -> None:
    messages = []
    for target in ("/etc/passwd", "/etc/no-such-file-here"):
        with pytest.raises(PathNotAllowedError) as caught:
            contain(target, [tmp_path.resolve()], what="file")
        messages.append(str(caught.value).replace(target, "<path>"))
    assert messages[0] == messages[1]


def test_image_references_resolve_against_the_image_root(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    assert resolve_image_path("a.png", images, []) == (images / "a.png").resolve()
    with pytest.raises(PathNotAllowedError, match="image '../../x.png' is outside"):
        resolve_image_path("../../x.png", images, [])
    other = tmp_path / "other"
    assert resolve_image_path(str(other / "b.png"), images, [other.resolve()]) == other / "b.png"
