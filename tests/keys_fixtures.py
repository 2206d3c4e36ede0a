"""Keyring backends for the key tests: in memory, failing, hanging, and a context to install one."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import keyring
import keyring.core
from keyring.backend import KeyringBackend
from keyring.errors import InitError, KeyringLocked, PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """A working OS keyring, kept in a dict."""

    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.passwords:
            raise PasswordDeleteError("not found")
        del self.passwords[(service, username)]


class BrokenKeyring(MemoryKeyring):
    """Looks usable (priority > 0) but raises InitError on use, like a dead D-Bus daemon."""

    def get_password(self, service: str, username: str) -> str | None:
        raise InitError("Failed to create the collection: Prompt dismissed.")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise InitError("Failed to create the collection: Prompt dismissed.")


class LockedKeyring(MemoryKeyring):
    """A keyring that is there but locked: writes fail with KeyringLocked."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


class HangingKeyring(MemoryKeyring):
    """A locked keyring whose unlock prompt nobody answers: every call waits for `release`."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        self.release.wait(30)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.get_password(service, username)


@contextlib.contextmanager
def installed(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """Make `backend` keyring's current backend, restoring the previous one afterwards."""
    previous = keyring.core._keyring_backend
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = previous
