"""The one exception base of freemodels, with a subclass per area.

    FreemodelsError          message + hint; the CLI prints both and exits 2
    ├── UsageError           bad arguments
    ├── CatalogError         a malformed providers.toml (names file, provider/model, key)
    ├── StoreError           the history database cannot be opened or migrated
    ├── KeyStoreError        a key store (keyring, secrets file) failed
    └── ConfigWriteError     a coding tool's config cannot be read or written safely

Remote failures are never exceptions: the probe turns them into outcomes.
"""

from __future__ import annotations


class FreemodelsError(Exception):
    """An error the user can act on: what happened, and what to do about it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(FreemodelsError):
    """The command line asked for something that does not exist or does not fit."""


class CatalogError(FreemodelsError):
    """The catalog file is malformed."""


class StoreError(FreemodelsError):
    """The history database could not be used."""


class KeyStoreError(FreemodelsError):
    """A key store could not be read or written."""


class ConfigWriteError(FreemodelsError):
    """A coding tool's config file could not be read or written safely."""
