"""Where freemodels keeps its files.

Functions, not constants: tests and users move them through the XDG variables or the
FREEMODELS_* overrides, read at call time.

On Linux and the BSDs the XDG Base Directory rules are applied here directly: platformdirs'
Unix module imports `tempfile` (and with it `shutil` and `random`), ~7 ms before every command's
first request (docs/architecture.md, "Performance notes"). macOS and Windows ask platformdirs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "freemodels"

_XDG = {
    "config": ("XDG_CONFIG_HOME", "~/.config"),
    "data": ("XDG_DATA_HOME", "~/.local/share"),
    "state": ("XDG_STATE_HOME", "~/.local/state"),
    "cache": ("XDG_CACHE_HOME", "~/.cache"),
}


def _dir(override: str, kind: str) -> Path:
    value = os.environ.get(override)
    return Path(value) if value else Path(_user_dir(kind))


def _user_dir(kind: str) -> str:
    if sys.platform in ("darwin", "win32"):
        import platformdirs

        where = {
            "config": platformdirs.user_config_dir,
            "data": platformdirs.user_data_dir,
            "state": platformdirs.user_state_dir,
            "cache": platformdirs.user_cache_dir,
        }[kind]
        return where(APP, appauthor=False)
    variable, default = _XDG[kind]
    # The spec: a relative path in the variable is invalid and ignored, as is an empty one.
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):
        base = os.path.expanduser(default)
    return os.path.join(base, APP)


def config_dir() -> Path:
    """The user config dir: overlay catalog, preferences, secrets file."""
    return _dir("FREEMODELS_CONFIG_DIR", "config")


def data_dir() -> Path:
    """The user data dir: the history database."""
    return _dir("FREEMODELS_DATA_DIR", "data")


def state_dir() -> Path:
    """The user state dir: logs."""
    return _dir("FREEMODELS_STATE_DIR", "state")


def cache_dir() -> Path:
    """The user cache dir: what can be made again (parsed catalogs)."""
    return _dir("FREEMODELS_CACHE_DIR", "cache")


def overlay_catalog_path() -> Path:
    """The user's catalog overlay, merged over the bundled catalog when present."""
    return config_dir() / "providers.toml"


def history_path(*, demo: bool = False) -> Path:
    """The SQLite history database (samples, rollups, request ledger, heartbeat); the simulated
    fleet of `--demo` keeps its own, so its samples never mix with real ones."""
    return data_dir() / ("history-demo.sqlite3" if demo else "history.sqlite3")


def preferences_path() -> Path:
    """The dashboard's persisted preferences."""
    return config_dir() / "preferences.toml"


def secrets_path() -> Path:
    """The 0600 secrets file used when no keyring backend works."""
    return config_dir() / "secrets.toml"


def router_config_path() -> Path:
    """The router's own settings: user-named model groups."""
    return config_dir() / "router.toml"
