"""Where freemodels keeps its files.

Functions, not constants: tests and users move them through the XDG variables (honoured by
platformdirs on Linux) or the FREEMODELS_* overrides, read at call time.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "freemodels"


def _dir(override: str, default: str) -> Path:
    value = os.environ.get(override)
    return Path(value) if value else Path(default)


def config_dir() -> Path:
    """The user config dir: overlay catalog, preferences, secrets file."""
    return _dir("FREEMODELS_CONFIG_DIR", platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    """The user data dir: the history database."""
    return _dir("FREEMODELS_DATA_DIR", platformdirs.user_data_dir(APP, appauthor=False))


def state_dir() -> Path:
    """The user state dir: logs."""
    return _dir("FREEMODELS_STATE_DIR", platformdirs.user_state_dir(APP, appauthor=False))


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
