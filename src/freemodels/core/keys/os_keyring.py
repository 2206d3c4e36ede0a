"""The key stores behind `KeyRing`: the OS keyring (here) and the 0600 secrets file (secrets_file).

The OS keyring (service `freemodels`, username = provider id) is preferred. The secrets file
(`paths.secrets_path()`, TOML, mode 0600) takes the keys only when keyring has no working backend,
which is the usual state of headless Linux: keyring then picks its `fail` backend, or raises
`NoKeyringError`/`InitError` on the first call. Keyring calls run in a helper thread with a timeout,
so a locked keyring whose unlock prompt nobody answers cannot hang a non-interactive command: the
store warns once and steps aside.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TypeVar

from freemodels.core.keys.lookup import KeyRing, KeyStore, KeyStoreUnavailable, Warn, say_once
from freemodels.core.keys.secrets_file import SecretsFileStore
from freemodels.debuglog import register_secret
from freemodels.errors import KeyStoreError

SERVICE = "freemodels"
# Long enough for a healthy D-Bus round trip, short enough that a hidden unlock prompt is noticed.
NONINTERACTIVE_TIMEOUT_S = 2.5
# A person at a terminal may need a while to type the keyring password.
INTERACTIVE_TIMEOUT_S = 120.0
# Other processes (`keys set` in another terminal) may change the keyring under a running monitor.
CACHE_TTL_S = 300.0

T = TypeVar("T")


class KeyringTimeout(KeyStoreError):
    """The OS keyring did not answer in time (usually: locked, its unlock prompt unanswered)."""


def _call_with_timeout(fn: Callable[[], T], timeout: float | None, lock: threading.Lock) -> T:
    """Run `fn` in a daemon thread; KeyringTimeout when it has not returned after `timeout` s."""
    future: Future[T] = Future()

    def target() -> None:
        with lock:  # backends are not all thread-safe; one call at a time
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)

    # A daemon thread: a prompt still waiting when the command ends must not hold the process.
    threading.Thread(target=target, name="freemodels-keyring", daemon=True).start()
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise KeyringTimeout(
            f"the OS keyring did not answer within {timeout:g} s (is it locked?)",
            "unlock it, or run 'freemodels keys list' in a terminal to answer its prompt",
        ) from None


NO_BACKEND = "keyring found no backend: no Secret Service, KWallet or Keychain is running"


def keyring_unreachable() -> bool:
    """Whether keyring could only pick its fail backend, told without importing it.

    Importing keyring and detecting its backend costs about a third of a second (it imports
    every backend, and the macOS one runs `gcc` through ctypes.util.find_library on Linux), all
    before the first probe of a provider whose key is not in the environment. On Linux every
    backend keyring ships needs a D-Bus session; so with none, no backend named in the
    environment or keyring's config file, no third-party backends installed and none set in
    this process, the answer is known.
    """
    if not sys.platform.startswith("linux"):
        return False
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS") or os.environ.get("PYTHON_KEYRING_BACKEND"):
        return False
    core = sys.modules.get("keyring.core")
    if core is not None and getattr(core, "_keyring_backend", None) is not None:
        return False
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    if os.path.exists(os.path.join(config_home, "python_keyring", "keyringrc.cfg")):
        return False
    return importlib.util.find_spec("keyrings") is None  # keyrings.alt and other plugins


def keyring_problem(backend: Any) -> str | None:
    """Why this keyring backend cannot keep keys, or None when it looks usable."""
    from keyring.backends import chainer, fail

    if isinstance(backend, fail.Keyring):
        return NO_BACKEND
    if isinstance(backend, chainer.ChainerBackend):
        return None if backend.backends else "keyring has no backend to chain"
    try:
        priority = float(backend.priority)
    except Exception as exc:  # a backend's priority probe may raise anything; it is then unusable
        return f"keyring backend {type(backend).__name__} is not usable ({type(exc).__name__})"
    if priority <= 0:
        return f"keyring backend {type(backend).__name__} keeps nothing (priority {priority:g})"
    return None


class KeyringStore:
    """Keys in the OS keyring, each call bounded by a timeout; warns once and steps aside.

    Two ways to fail: the backend is *missing* (no keyring daemon: `NoKeyringError`, `InitError`,
    the fail backend), and then writes go to the secrets file instead; or it is *stuck* (locked,
    timed out, refusing), and then reads go on without it but writes are errors, since a key the
    user meant for the keyring must not land in a plaintext file behind their back.
    """

    name = "keyring"

    def __init__(
        self,
        *,
        timeout: float | None = NONINTERACTIVE_TIMEOUT_S,
        backend: Any = None,
        warn: Warn = say_once,
        service: str = SERVICE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._backend = backend
        self._warn = warn
        self._service = service
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._problem: str | None = None
        self._missing = False

    @property
    def location(self) -> str:
        """`the OS keyring (<backend>)`."""
        backend = self._backend
        if backend is None:
            return "the OS keyring"
        return f"the OS keyring ({getattr(backend, 'name', type(backend).__name__)})"

    @property
    def available(self) -> bool:
        """False once the backend proved missing or stuck."""
        return self._problem is None

    @property
    def missing(self) -> bool:
        """Whether there is no working backend at all (the secrets file then takes the keys)."""
        return self._missing

    @property
    def problem(self) -> str | None:
        """Why the keyring is not used, if it is not."""
        return self._problem

    def check(self) -> str | None:
        """Load the backend and say why it cannot be used (None when it can)."""
        if self._problem is None and self._backend is None and keyring_unreachable():
            self._problem, self._missing = NO_BACKEND, True
        if self._problem is None:
            try:
                backend = self._run(self._load_backend)
            except KeyringTimeout as exc:
                self._step_aside(exc.message, missing=False)
            else:
                problem = keyring_problem(backend)
                if problem is not None:
                    self._problem, self._missing = problem, True
        return self._problem

    def get(self, provider_id: str) -> str | None:
        """The stored key, or None; a failing keyring warns once and then reads as empty."""
        if self._problem is not None:
            return None
        cached = self._cache.get(provider_id)
        if cached is not None and self._clock() - cached[0] < CACHE_TTL_S:
            return cached[1]
        try:
            value = self._run(lambda: self._backend_now().get_password(self._service, provider_id))
        except KeyStoreError as exc:
            self._step_aside(exc.message, missing=False)
            return None
        except Exception as exc:
            if not _is_keyring_error(exc):
                raise
            self._step_aside(_describe(exc), missing=_is_missing_backend(exc))
            return None
        if value:
            register_secret(value)
        self._cache[provider_id] = (self._clock(), value or None)
        return value or None

    def set(self, provider_id: str, value: str) -> None:
        """Save the key; KeyStoreUnavailable without a backend, KeyStoreError when stuck."""
        register_secret(value)
        self._write(lambda b: b.set_password(self._service, provider_id, value))
        self._cache[provider_id] = (self._clock(), value)

    def delete(self, provider_id: str) -> bool:
        """Delete the key; whether there was one (KeyStoreError when the keyring is stuck)."""
        from keyring.errors import PasswordDeleteError

        had = self.get(provider_id) is not None
        if self._problem is not None:
            if self._missing:
                return False
            raise self._stuck_error()
        if not had:
            return False
        try:
            self._write(lambda b: b.delete_password(self._service, provider_id))
        except KeyStoreError as exc:
            if not isinstance(exc.__cause__, PasswordDeleteError):
                raise
            had = False  # gone meanwhile
        self._cache[provider_id] = (self._clock(), None)
        return had

    def _write(self, action: Callable[[Any], None]) -> None:
        if self._problem is not None:
            if self._missing:
                raise KeyStoreUnavailable(self._problem)
            raise self._stuck_error()
        try:
            self._run(lambda: action(self._backend_now()))
        except KeyringTimeout:
            raise
        except Exception as exc:
            if _is_missing_backend(exc):
                self._problem, self._missing = _describe(exc), True
                raise KeyStoreUnavailable(self._problem) from exc
            if not _is_keyring_error(exc):
                raise
            raise KeyStoreError(
                f"the OS keyring refused the change: {_describe(exc)}",
                "unlock the keyring, or export the provider's environment variable instead",
            ) from exc

    def _stuck_error(self) -> KeyStoreError:
        return KeyStoreError(
            f"the OS keyring cannot be used now ({self._problem}); nothing was changed",
            "unlock it and retry in a terminal, or export the provider's environment variable",
        )

    def _step_aside(self, reason: str, *, missing: bool) -> None:
        self._problem, self._missing = reason, missing
        self._warn(f"{reason}; going on without the OS keyring")

    def _run(self, fn: Callable[[], T]) -> T:
        return _call_with_timeout(fn, self._timeout, self._lock)

    def _load_backend(self) -> Any:
        if self._backend is None:
            import keyring

            self._backend = keyring.get_keyring()
        return self._backend

    def _backend_now(self) -> Any:
        return self._load_backend()


def _is_missing_backend(exc: BaseException) -> bool:
    from keyring.errors import InitError, NoKeyringError

    return isinstance(exc, NoKeyringError | InitError)


def _is_keyring_error(exc: BaseException) -> bool:
    from keyring.errors import KeyringError

    # dbus/secretstorage errors escape some backends unwrapped; they are keyring failures too.
    return isinstance(exc, KeyringError | OSError) or type(exc).__module__.startswith(
        ("secretstorage", "jeepney", "dbus")
    )


def _describe(exc: BaseException) -> str:
    # The class name and the first line only: backend messages are long and may quote inputs.
    from freemodels.debuglog import redact

    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {first}"[:200] if first else type(exc).__name__)


def default_keyring(
    *,
    interactive: bool,
    env: Mapping[str, str] | None = None,
    warn: Warn = say_once,
    secrets: Path | None = None,
    fallback_notice: str = "once",
) -> KeyRing:
    """The key chain every command uses: environment, then OS keyring, then the secrets file.

    `interactive`: a person can answer a keyring unlock prompt (a terminal, the TUI), so keyring
    calls may wait; otherwise they give up after a few seconds, warn, and go on without it.
    """
    file_store = SecretsFileStore(secrets, warn=warn)
    # Read it now: a broken or world-readable file is reported when the command starts, not
    # from inside a probe halfway through a sweep.
    file_store.read()

    def stores() -> tuple[KeyStore, ...]:
        keyring_store = KeyringStore(
            timeout=INTERACTIVE_TIMEOUT_S if interactive else NONINTERACTIVE_TIMEOUT_S, warn=warn
        )
        problem = keyring_store.check()
        if problem is not None and keyring_store.missing:
            # Said when a key is first looked up in the store, not by commands that never need
            # it (every key set in the environment, or --demo).
            notice = (
                f"no OS keyring available ({problem}); keys are kept in "
                f"{file_store.location} (0600)"
            )
            file_store.announce(lambda: _fallback_notice(warn, notice, fallback_notice))
            return (file_store,)
        # The file stays readable after a keyring appears, so keys saved while headless still
        # work. A stuck keyring stays in the chain: it reads as empty, and refuses writes loudly.
        return (keyring_store, file_store)

    # The keyring loads (a quarter of a second) only when a key is not in the environment.
    return KeyRing(stores, env)


FALLBACK_MARKER = "keyring-fallback-noticed"


def _fallback_notice(warn: Warn, notice: str, when: str) -> None:
    """Say where keys are kept: always (`keys` commands, --debug), else once per machine.

    Every command looks keys up, and the same line on every run is noise; a marker file in the
    state dir remembers it was said.
    """
    if when == "always":
        warn(notice)
        return
    from freemodels import paths

    marker = paths.state_dir() / FALLBACK_MARKER
    if marker.exists():
        return
    warn(notice)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        # An unwritable state dir only means the line is said again next time.
        return


def primary_store(keyring: KeyRing) -> KeyStore | None:
    """The store new keys go to (the first one that is available)."""
    for store in keyring.stores:
        if getattr(store, "available", True):
            return store
    return None


__all__ = [
    "KeyringStore",
    "SecretsFileStore",
    "default_keyring",
    "keyring_problem",
    "primary_store",
    "say_once",
]
