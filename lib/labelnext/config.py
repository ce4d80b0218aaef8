"""Every environment setting labelnext reads, in one place.

No other module reads ``os.environ``: each asks :func:`settings` for a :class:`Settings` value,
taken from the environment at the moment of the call (so a test, a notebook or a server started
with other variables sees its own). A value that cannot be parsed falls back to its default
rather than stopping the app; :func:`settings` never raises.

=================================  ===================================================  ==========
variable                           meaning                                              default
=================================  ===================================================  ==========
``LABELNEXT_HOME``                 data folder: the SQLite ledger, thumbnails, uploads  .labelnext
``LABELNEXT_DB_URL``               ledger URL (``postgresql+psycopg://...``)           SQLite in
                                                                                        home
``LABELNEXT_ALLOWED_ROOTS``        folders (separated by ``os.pathsep``) whose files    none
                                   the server may read, besides ``sample_data/``
``LABELNEXT_MAX_UPLOAD_MB``        the dashboard's upload limit, in MB                  200
``LABELNEXT_THUMB_CACHE_MB``       bound of the thumbnail cache, in MB                  512
``LABELNEXT_MAX_RUN_ROWS``         most data rows one run may hold                      20,000,000
``LABELNEXT_MAX_RUN_COLUMNS``      most columns a predictions file may have             10,000
``LABELNEXT_MAX_RUN_MB``           most bytes, in MB, a run may decode to in memory     8,192
                                   (decompressed and dictionary-expanded)
``LABELNEXT_REVIEW_GRID``          the Review grid: ``component`` (one browser          widgets
                                   component) or ``widgets`` (a widget per card)
``LABELNEXT_TRUSTED_USER_HEADER``  the header in which an authenticating proxy names  none
                                   the user (``X-Forwarded-Email``)
``LABELNEXT_TRUSTED_PROXIES``      the addresses (IPs, CIDRs; commas or spaces) that    none
                                   header is believed from
``LABELNEXT_EDITORS``              e-mails and ``@domains`` that may change the ledger  everyone
                                   (see :mod:`labelnext.access`)
=================================  ===================================================  ==========
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labelnext.access import Network, parse_editors, parse_networks

__all__ = ["Settings", "settings"]

DEFAULT_HOME = ".labelnext"
DEFAULT_MAX_UPLOAD_MB = 200
DEFAULT_THUMB_CACHE_MB = 512.0
DEFAULT_MAX_RUN_ROWS = 20_000_000
DEFAULT_MAX_RUN_COLUMNS = 10_000
DEFAULT_MAX_RUN_MB = 8_192.0
DEFAULT_REVIEW_GRID = "widgets"
REVIEW_GRIDS = ("component", "widgets")
#: Test hook: the ledger pauses inside a submit's transaction (see labelnext.ledger.testing).
HOLD_BEFORE_COMMIT_ENV = "LABELNEXT_TEST_HOLD_BEFORE_COMMIT"


@dataclass(frozen=True)
class Settings:
    """The environment's settings, parsed.

    Attributes
    ----------
    home : Path
        The data folder (not created here; the modules that write into it create it).
    db_url : str or None
        ``LABELNEXT_DB_URL``, or None for the SQLite file in ``home``.
    allowed_roots : tuple of Path
        ``LABELNEXT_ALLOWED_ROOTS`` as given (expanded, not resolved; see
        :func:`labelnext.paths.allowed_roots`, which adds the shipped samples).
    max_upload_mb : int
        The upload limit (>= 0).
    thumb_cache_mb : float
        The thumbnail cache's bound (> 0).
    max_run_rows, max_run_columns : int
        The most rows and columns a run may have (>= 1; see :class:`labelnext.readers.Limits`).
    max_run_mb : float
        The most a run may decode to in memory, in MB (> 0).
    hold_before_commit : str or None
        A test hook's marker file (see :mod:`labelnext.ledger.testing`).
    review_grid : str
        ``"component"`` (the page's thumbnails in one browser component, keyboard and range
        picks) or ``"widgets"`` (a Streamlit widget per card); anything else reads as widgets.
    trusted_user_header : str or None
        The header a trusted proxy names the signed-in user in, or None (not honoured).
    trusted_proxies : tuple of ip_network
        Where that header is believed from (entries that are not addresses are left out).
    editors : tuple of str
        Lower-cased e-mails and ``@domains`` that may change the ledger; empty: everyone.
    """

    home: Path = Path(DEFAULT_HOME)
    db_url: str | None = None
    allowed_roots: tuple[Path, ...] = field(default=())
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    thumb_cache_mb: float = DEFAULT_THUMB_CACHE_MB
    max_run_rows: int = DEFAULT_MAX_RUN_ROWS
    max_run_columns: int = DEFAULT_MAX_RUN_COLUMNS
    max_run_mb: float = DEFAULT_MAX_RUN_MB
    hold_before_commit: str | None = None
    review_grid: str = DEFAULT_REVIEW_GRID
    trusted_user_header: str | None = None
    trusted_proxies: tuple[Network, ...] = field(default=())
    editors: tuple[str, ...] = field(default=())

    @property
    def uploads_dir(self) -> Path:
        """Where the dashboard keeps uploaded run files."""
        return self.home / "uploads"

    @property
    def thumbs_dir(self) -> Path:
        """Where thumbnails are cached."""
        return self.home / "thumbs"


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings of ``environ`` (default: this process's environment), parsed.

    Examples
    --------
    >>> s = settings({"LABELNEXT_HOME": "/tmp/ln", "LABELNEXT_MAX_UPLOAD_MB": "x"})
    >>> str(s.home), s.max_upload_mb, s.db_url
    ('/tmp/ln', 200, None)
    """
    env = os.environ if environ is None else environ
    home = env.get("LABELNEXT_HOME", "").strip() or DEFAULT_HOME
    roots = tuple(
        Path(part.strip()).expanduser()
        for part in env.get("LABELNEXT_ALLOWED_ROOTS", "").split(os.pathsep)
        if part.strip()
    )
    return Settings(
        home=Path(home).expanduser(),
        db_url=env.get("LABELNEXT_DB_URL", "").strip() or None,
        allowed_roots=roots,
        max_upload_mb=_int(env.get("LABELNEXT_MAX_UPLOAD_MB"), DEFAULT_MAX_UPLOAD_MB),
        thumb_cache_mb=_positive(env.get("LABELNEXT_THUMB_CACHE_MB"), DEFAULT_THUMB_CACHE_MB),
        max_run_rows=_at_least_one(env.get("LABELNEXT_MAX_RUN_ROWS"), DEFAULT_MAX_RUN_ROWS),
        max_run_columns=_at_least_one(
            env.get("LABELNEXT_MAX_RUN_COLUMNS"), DEFAULT_MAX_RUN_COLUMNS
        ),
        max_run_mb=_positive(env.get("LABELNEXT_MAX_RUN_MB"), DEFAULT_MAX_RUN_MB),
        hold_before_commit=env.get(HOLD_BEFORE_COMMIT_ENV) or None,
        review_grid=_choice(env.get("LABELNEXT_REVIEW_GRID"), REVIEW_GRIDS, DEFAULT_REVIEW_GRID),
        trusted_user_header=env.get("LABELNEXT_TRUSTED_USER_HEADER", "").strip() or None,
        trusted_proxies=parse_networks(env.get("LABELNEXT_TRUSTED_PROXIES", "")),
        editors=parse_editors(env.get("LABELNEXT_EDITORS", "")),
    )


def _choice(raw: str | None, allowed: tuple[str, ...], default: str) -> str:
    value = (raw or "").strip().lower()
    return value if value in allowed else default


def _int(raw: str | None, default: int) -> int:
    try:
        return max(0, int(str(raw).strip())) if raw is not None else default
    except ValueError:
        return default


def _at_least_one(raw: str | None, default: int) -> int:
    # "20_000_000" and "20000000" both parse; 0 or less would refuse every run: the default
    value = _int(raw, default)
    return value if value >= 1 else default


def _positive(raw: str | None, default: float) -> float:
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value > 0 else default  # also refuses NaN
