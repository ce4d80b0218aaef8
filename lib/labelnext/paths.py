"""Where files may come from: URLs, the allowed roots, and the one containment check.

Every path that arrives from outside (a deep link, an upload's ``run.json``, a ``run.json``'s
``predictions`` or ``image_root``, an image reference, a CLI argument) is resolved and checked by
:func:`contain` before anything is read from it. Symbolic links are resolved first, so a link
cannot lead out. The roots are ``LABELNEXT_ALLOWED_ROOTS`` plus the shipped ``sample_data/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from labelnext.config import settings
from labelnext.errors import PathNotAllowedError

__all__ = [
    "SAMPLE_DATA_DIR",
    "allowed_roots",
    "contain",
    "is_inside",
    "is_url",
    "resolve_image_path",
]

SAMPLE_DATA_DIR = Path(__file__).resolve().parents[2] / "sample_data"


def is_url(reference: object) -> bool:
    """Whether a reference is an http(s) URL rather than a file path."""
    return isinstance(reference, str) and reference.lower().startswith(("http://", "https://"))


def allowed_roots() -> list[Path]:
    """The folders whose files labelnext may read: ``$LABELNEXT_ALLOWED_ROOTS`` and the samples.

    ``LABELNEXT_ALLOWED_ROOTS`` holds folders separated by ``os.pathsep``. The shipped
    ``sample_data/`` folder is always allowed.
    """
    return [SAMPLE_DATA_DIR.resolve(), *(r.resolve() for r in settings().allowed_roots)]


def is_inside(path: Path, roots: Iterable[Path]) -> bool:
    """Whether the (already resolved) ``path`` is one of ``roots`` or lies below one."""
    return any(path == root or path.is_relative_to(root) for root in roots)


def contain(
    path: Path | str, roots: Sequence[Path], *, what: str = "path", shown: str | None = None
) -> Path:
    """Resolve ``path`` and return it if it lies inside ``roots``: the one containment check.

    Parameters
    ----------
    path : Path or str
        A file or folder; ``~`` is expanded, relative paths are taken from the working folder.
    roots : sequence of Path
        Resolved folders (see :func:`allowed_roots`).
    what : str
        How the message names the path (``"image"``, ``"predictions"``...).
    shown : str, optional
        The path as the user gave it, for the message (default ``path``).

    Raises
    ------
    PathNotAllowedError
        If it resolves outside every root. The message names the path as given and the roots,
        never the resolved target, and does not say whether it exists.

    Examples
    --------
    >>> contain("/etc/passwd", [Path("/srv/data")], what="image")
    Traceback (most recent call last):
    ...
    labelnext.errors.PathNotAllowedError: image '/etc/passwd' is outside the allowed roots, ...
    """
    resolved = Path(path).expanduser().resolve()
    if not is_inside(resolved, roots):
        listed = ", ".join(str(r) for r in roots) or "none configured"
        raise PathNotAllowedError(
            f"{what} '{path if shown is None else shown}' is outside the allowed roots, the "
            f"folders this server may read ({listed}). Ask whoever runs the server to add its "
            "folder to LABELNEXT_ALLOWED_ROOTS."
        )
    return resolved


def resolve_image_path(reference: str, image_root: Path | None, roots: Sequence[Path]) -> Path:
    """Resolve an image reference to a path inside ``image_root`` or the allowed roots.

    Relative references are taken relative to ``image_root`` (or the working folder when the run
    has none). Symbolic links are followed before the check, so a link cannot escape.

    Raises
    ------
    PathNotAllowedError
        If the reference resolves outside ``image_root`` and ``roots``.
    """
    path = Path(reference).expanduser()
    if not path.is_absolute():
        path = (image_root or Path.cwd()) / path
    inside = [*roots, *([image_root.resolve()] if image_root is not None else [])]
    return contain(path, inside, what="image", shown=reference)
