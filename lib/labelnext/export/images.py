"""Image references a labeling tool can load: rewrite each row's image with a URL template.

A run names its images as it likes (``mnist-00001.png`` under the run's image root, an absolute
path, an http(s) URL). A labeling tool loads an image only from a URL it can reach, so an export
rewrites each reference with a template (``image_url``) holding

``{image}``
    the reference as written in the run (the default template: nothing changes);
``{data_row_id}``
    the row's id;
``{relpath}``
    the image's resolved local path relative to ``files_root``, with ``/`` separators. It is
    percent-encoded (``quote(relpath, safe="/")``) when the template is an http(s) URL or a
    server path beginning with ``/``, and inserted as it is for ``s3://``, ``gs://`` and
    ``azure-blob://`` keys. A row whose image is already an http(s) URL keeps its URL under a
    template with ``{relpath}``.

Presets (:data:`IMAGE_URL_PRESETS`, or :func:`image_url_template` with a name or a prefix):

``as-written``
    ``{image}``.
``label-studio``
    ``/data/local-files/?d={relpath}``: Label Studio's local-files serving, with
    ``files_root`` = the server's ``LOCAL_FILES_DOCUMENT_ROOT`` (and a local-files storage on
    the project for the images' folder).
a bucket or web prefix
    ``s3://bucket/prefix``, ``gs://bucket/prefix``, ``azure-blob://container/prefix``,
    ``https://host/prefix``: the prefix, ``/`` and ``{relpath}``, for images uploaded to that
    place with the same layout as under ``files_root``.

:func:`image_url_warnings` lists what would leave the tool with a broken image (relative
references it cannot resolve, rows without an image, rows that cannot be rewritten) so that a
page can say so before the download; :func:`preview_image_url` shows one rewritten reference.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labelnext.errors import ExportError

if TYPE_CHECKING:
    from labelnext.export.batch import ExportBatch

__all__ = [
    "IMAGE_URL_PRESETS",
    "PLACEHOLDERS",
    "ImageReferences",
    "image_url_template",
    "image_url_warnings",
    "preview_image_url",
]

PLACEHOLDERS = ("image", "data_row_id", "relpath")
IMAGE_URL_PRESETS = {
    "as-written": "{image}",
    "label-studio": "/data/local-files/?d={relpath}",
}
BUCKET_SCHEMES = ("s3://", "gs://", "azure-blob://")
WEB_SCHEMES = ("https://", "http://")
# Labelbox fetches these itself; the SDK refuses s3:// (it wants the object's https URL).
LABELBOX_SCHEMES = (*WEB_SCHEMES, "gs://")
# Paths a Label Studio server serves itself (local files, uploads).
_LABEL_STUDIO_PATHS = ("/data/local-files/", "/data/upload/")
_SHOWN = 3


def image_url_template(spec: str) -> str:
    """The URL template meant by a preset name, a bucket or web prefix, or a template.

    Parameters
    ----------
    spec : str
        ``"as-written"``, ``"label-studio"``, a prefix such as ``"s3://bucket/images"`` or
        ``"https://cdn.example.org/batch7"`` (no placeholder: ``/{relpath}`` is appended), or a
        template using only ``{image}``, ``{data_row_id}`` and ``{relpath}``.

    Returns
    -------
    str
        The template.

    Raises
    ------
    ExportError
        An unknown placeholder, a malformed template, or text that is none of the above.

    Examples
    --------
    >>> image_url_template("label-studio")
    '/data/local-files/?d={relpath}'
    >>> image_url_template("s3://my-bucket/mnist/")
    's3://my-bucket/mnist/{relpath}'
    >>> image_url_template("https://cdn.test/{data_row_id}.png")
    'https://cdn.test/{data_row_id}.png'
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ExportError(
            f"image_url: expected a preset ({', '.join(IMAGE_URL_PRESETS)}), a bucket or web "
            f"prefix, or a template with {_placeholders()}; got {spec!r}"
        )
    spec = spec.strip()
    if spec in IMAGE_URL_PRESETS:
        return IMAGE_URL_PRESETS[spec]
    fields = _fields(spec)
    if not fields:
        if spec.startswith(BUCKET_SCHEMES + WEB_SCHEMES):
            return spec.rstrip("/") + "/{relpath}"
        raise ExportError(
            f"image_url: {spec!r} is neither a preset ({', '.join(IMAGE_URL_PRESETS)}), nor a "
            f"prefix starting with {', '.join(BUCKET_SCHEMES + WEB_SCHEMES)}, nor a template "
            f"with {_placeholders()}"
        )
    return spec


def _placeholders() -> str:
    return ", ".join("{" + p + "}" for p in PLACEHOLDERS)


def _fields(template: str) -> set[str]:
    try:
        parsed = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)]
    except ValueError as exc:
        raise ExportError(f"image_url: {template!r} is not a valid template ({exc})") from None
    fields = {name for name, _, _ in parsed if name is not None}
    unknown = sorted(fields - set(PLACEHOLDERS))
    if unknown:
        raise ExportError(
            f"image_url: {template!r} uses {{{unknown[0]}}}; allowed: {_placeholders()}"
        )
    if any(spec or conv for name, spec, conv in parsed if name is not None):
        raise ExportError(
            f"image_url: {template!r} has a format spec or conversion; allowed: "
            f"{_placeholders()} as they are"
        )
    return fields


@dataclass(frozen=True)
class ImageReferences:
    """Rewrites a batch's image references with one template (see the module docstring).

    Parameters
    ----------
    image_url : str, default "{image}"
        A preset, prefix or template (:func:`image_url_template`).
    files_root : str or Path, optional
        The folder ``{relpath}`` is relative to; required when the template uses it.
    """

    image_url: str = "{image}"
    files_root: str | Path | None = None

    def __post_init__(self) -> None:
        template = image_url_template(self.image_url)
        object.__setattr__(self, "image_url", template)
        fields = _fields(template)
        if "relpath" in fields and self.files_root is None:
            raise ExportError(
                f"files_root: required by {{relpath}} in image_url {template!r}: give the folder "
                "the paths are relative to (for Label Studio: its LOCAL_FILES_DOCUMENT_ROOT)"
            )
        if self.files_root is not None:
            root = Path(self.files_root).expanduser().resolve()
            object.__setattr__(self, "files_root", root)

    @property
    def uses_relpath(self) -> bool:
        """Whether the template needs each image's path relative to ``files_root``."""
        return "relpath" in _fields(self.image_url)

    def rewrite(
        self, image: str | None, data_row_id: str, image_path: str | None
    ) -> tuple[str | None, str | None]:
        """One row's reference: ``(rewritten, None)`` or ``(None, why it cannot be rewritten)``.

        A row without an image (``image`` None or empty) gives ``(None, None)``.
        """
        if image is None or image == "":
            return None, None
        if self.image_url == "{image}":
            return image, None
        values: dict[str, Any] = {"image": image, "data_row_id": data_row_id, "relpath": ""}
        if self.uses_relpath:
            if image.startswith(WEB_SCHEMES):
                return image, None  # already a URL the tool can fetch
            relpath, problem = self._relpath(image, image_path)
            if relpath is None:
                return None, problem
            encode = self.image_url.startswith((*WEB_SCHEMES, "/"))
            values["relpath"] = quote(relpath, safe="/") if encode else relpath
        return self.image_url.format(**values), None

    def _relpath(self, image: str, image_path: str | None) -> tuple[str | None, str | None]:
        assert isinstance(self.files_root, Path)
        path = image_path
        if path is None and Path(image).is_absolute():
            path = image
        if path is None:
            return None, (
                f"image {image!r} has no resolved path (the batch was stored without one), so "
                "{relpath} cannot be made"
            )
        resolved = Path(path)
        if not resolved.is_relative_to(self.files_root):
            return None, f"image {path!r} is not inside files_root {str(self.files_root)!r}"
        return PurePosixPath(*resolved.relative_to(self.files_root).parts).as_posix(), None

    def references(self, batch: ExportBatch) -> list[str | None]:
        """The rewritten reference of every row of ``batch``, in its order.

        Raises
        ------
        ExportError
            Naming the rows (up to 3, and how many) whose reference cannot be rewritten.
        """
        rewritten, _, problems = self._all(batch)
        if problems:
            raise ExportError(_problem_message(problems, self.image_url))
        return rewritten

    def _all(
        self, batch: ExportBatch
    ) -> tuple[list[str | None], list[str | None], list[tuple[str, str]]]:
        rewritten: list[str | None] = []
        paths: list[str | None] = []
        problems: list[tuple[str, str]] = []
        for data_row_id, image, record in zip(
            batch.rows["data_row_id"], batch.rows["image"], batch.rows["prediction"], strict=True
        ):
            image_path = record.get("image_path") if isinstance(record, dict) else None
            value, problem = self.rewrite(image, data_row_id, image_path)
            rewritten.append(value)
            paths.append(image_path)
            if problem is not None:
                problems.append((data_row_id, problem))
        return rewritten, paths, problems


def _problem_message(problems: Sequence[tuple[str, str]], template: str) -> str:
    shown = "; ".join(f"row {row!r}: {why}" for row, why in problems[:_SHOWN])
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    return (
        f"image_url: {len(problems)} image reference(s) cannot be rewritten with "
        f"{template!r}: {shown}{more}"
    )


def preview_image_url(
    batch: ExportBatch, image_url: str = "{image}", *, files_root: str | Path | None = None
) -> str | None:
    """The first row's image reference as the export would write it (``None``: no image).

    Parameters
    ----------
    batch : ExportBatch
    image_url : str, default "{image}"
        A preset, prefix or template (:func:`image_url_template`).
    files_root : str or Path, optional
        The folder ``{relpath}`` is relative to.

    Returns
    -------
    str or None
        The rewritten reference of the first row (in rank order) that has an image.

    Raises
    ------
    ExportError
        A bad template, a missing ``files_root``, or a first image that cannot be rewritten.
    """
    refs = ImageReferences(image_url, files_root)
    for data_row_id, image, record in zip(
        batch.rows["data_row_id"], batch.rows["image"], batch.rows["prediction"], strict=True
    ):
        if image is None or image == "":
            continue
        image_path = record.get("image_path") if isinstance(record, dict) else None
        value, problem = refs.rewrite(image, data_row_id, image_path)
        if problem is not None:
            raise ExportError(_problem_message([(data_row_id, problem)], refs.image_url))
        return value
    return None


def image_url_warnings(
    batch: ExportBatch,
    fmt: str,
    image_url: str = "{image}",
    *,
    files_root: str | Path | None = None,
) -> list[str]:
    """What would leave the labeling tool with a broken image, as messages (empty: none).

    Parameters
    ----------
    batch : ExportBatch
    fmt : str
        The export format. ``labelstudio`` loads http(s), ``s3://``, ``gs://`` and
        ``azure-blob://`` URLs and the server's own ``/data/local-files/`` and ``/data/upload/``
        paths; ``labelbox`` fetches http(s) and ``gs://`` URLs and uploads local files; COCO
        importers match ``file_name`` to the uploaded images, so any reference will do; the
        tabular manifests are not loaded by a tool.
    image_url : str, default "{image}"
        A preset, prefix or template (:func:`image_url_template`).
    files_root : str or Path, optional
        The folder ``{relpath}`` is relative to.

    Returns
    -------
    list of str
        One message per kind of problem, naming up to 3 rows and how many there are. Rows that
        cannot be rewritten also make the export itself fail; the other problems do not.
    """
    try:
        refs = ImageReferences(image_url, files_root)
    except ExportError as exc:
        return [str(exc)]
    rewritten, paths, problems = refs._all(batch)
    messages = [_problem_message(problems, refs.image_url)] if problems else []
    if fmt not in ("labelstudio", "labelbox"):
        return messages
    tool = "Label Studio" if fmt == "labelstudio" else "Labelbox"
    failed = {row for row, _ in problems}
    missing = [
        row
        for row, value in zip(batch.rows["data_row_id"], rewritten, strict=True)
        if value is None and row not in failed
    ]
    if missing:
        messages.append(
            f"{len(missing)} row(s) have no image reference, so {tool} shows no image for "
            f"them: {_rows(missing)}"
        )
    unloadable = [
        (row, value, path)
        for row, value, path in zip(batch.rows["data_row_id"], rewritten, paths, strict=True)
        if value is not None and not _fetchable(value, fmt)
    ]
    if fmt == "labelbox":
        # data_rows.json falls back to the local file, which the SDK uploads
        uploaded = [(row, value) for row, value, path in unloadable if path is not None]
        if uploaded and refs.image_url != "{image}":
            messages.append(
                f"{len(uploaded)} image reference(s) are not URLs Labelbox fetches "
                f"({_values(uploaded)}): Labelbox takes https:// and gs:// URLs (S3 objects by "
                "their https URL); data_rows.json names the local files instead, which the SDK "
                "uploads"
            )
        unloadable = [u for u in unloadable if u[2] is None]
    if unloadable:
        if fmt == "labelstudio":
            hint = (
                "serve them with the label-studio preset (image_url='label-studio', files_root "
                "= the server's LOCAL_FILES_DOCUMENT_ROOT) or give a bucket or web prefix"
            )
        else:
            hint = (
                "Labelbox fetches https:// and gs:// URLs and the SDK uploads local files; "
                "give the prefix of a place holding the images"
            )
        pairs = [(row, value) for row, value, _ in unloadable]
        messages.append(
            f"{len(unloadable)} image reference(s) are not URLs {tool} can load "
            f"({_values(pairs)}): {hint}"
        )
    return messages


def _values(pairs: Sequence[tuple[str, str | None]]) -> str:
    shown = ", ".join(repr(v) for _, v in pairs[:_SHOWN])
    return shown + ("..." if len(pairs) > _SHOWN else "")


def _rows(rows: Sequence[str]) -> str:
    shown = ", ".join(repr(r) for r in rows[:_SHOWN])
    return shown + (f" (and {len(rows) - _SHOWN} more)" if len(rows) > _SHOWN else "")


def _fetchable(reference: str, fmt: str) -> bool:
    if fmt == "labelbox":
        return reference.startswith(LABELBOX_SCHEMES)
    return reference.startswith(WEB_SCHEMES + BUCKET_SCHEMES + _LABEL_STUDIO_PATHS)
