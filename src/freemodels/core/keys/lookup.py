"""API keys: where each provider's key comes from (docs/architecture.md, "Keys").

Lookup order: the catalog's environment variables (first set wins), then the key stores
(keyring, then the 0600 secrets file). `KeyRing` is the seam: the probe and the scheduler ask it
for a `ResolvedKey` and never read the environment themselves. The stores live in
`freemodels.core.keys.os_keyring`; `default_keyring()` there builds the chain the commands use.

Every method here is synchronous and may wait on an OS keyring (a D-Bus call, an unlock prompt):
a UI calls them from a thread worker, the CLI before it starts an event loop.

    KeyStoreError            (freemodels.errors) a store could not be read or written
    └── KeyStoreUnavailable  the store has no working backend; the next store takes the write
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from freemodels.core.records import Provider
from freemodels.debuglog import register_secret
from freemodels.errors import KeyStoreError, UsageError

# Known key shapes, only to warn about a key pasted for the wrong provider (never to refuse one):
# each is the documented prefix of the keys that provider issues today.
KEY_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "groq": ("gsk_",),
    "nvidia": ("nvapi-",),
    "openrouter": ("sk-or-",),
    "cerebras": ("csk-",),
    "googleai": ("AIza",),
}


Warn = Callable[[str], None]
"""Where a store says something to the user (stderr, or a notification in the dashboard)."""

_said: set[str] = set()
_said_lock = threading.Lock()


def say_once(message: str) -> None:
    """Print `freemodels: message` on stderr, at most once per process."""
    with _said_lock:
        if message in _said:
            return
        _said.add(message)
    print(f"freemodels: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """A key and where it was found; `repr` never shows the value."""

    value: str = field(repr=False)
    source: str  # "env:GROQ_API_KEY", "keyring", "file"

    @property
    def masked(self) -> str:
        """The key as the UI may show it: prefix and last four characters."""
        return mask(self.value)


def mask(value: str) -> str:
    """`gsk_…a1b2`: enough to tell keys apart, never enough to use one."""
    if len(value) <= 2:
        # A bare "…" reads as a glitch ("replaced the key that was stored there (…)"); showing
        # even one character of a one- or two-character value would show most of it.
        return f"…({len(value)} character{'s' if len(value) != 1 else ''})"
    if len(value) <= 8:
        return "…" + value[-2:]
    head = value.split("_", 1)[0] + "_" if "_" in value[:8] else value[:3]
    if len(head) > 8:
        head = value[:3]
    return f"{head}…{value[-4:]}"


def clean_key(raw: str) -> str:
    """The key with surrounding whitespace trimmed; UsageError when empty or not one token."""
    value = raw.strip()
    if not value:
        raise UsageError("the key is empty; nothing was stored", "paste the key, then Enter")
    register_secret(value)
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        # Two lines piped in, or a space pasted into the key: storing it would only fail later.
        raise UsageError(
            "the key contains spaces, line breaks or control characters; nothing was stored",
            "give exactly one key, on one line",
        )
    return value


def key_format_warning(provider_id: str, value: str) -> str | None:
    """A warning when `value` does not look like a key of this provider (None when it does)."""
    prefixes = KEY_PREFIXES.get(provider_id)
    if prefixes is None or value.startswith(prefixes):
        return None
    expected = " or ".join(f"'{p}'" for p in prefixes)
    return (
        f"this does not look like a {provider_id} key (those start with {expected}); stored anyway"
    )


class KeyStoreUnavailable(KeyStoreError):
    """The store has no working backend (headless Linux without a keyring daemon)."""


class KeyStore(Protocol):
    """A place keys are kept (keyring, the secrets file); env lookup is not a store."""

    name: str

    def get(self, provider_id: str) -> str | None:
        """The stored key for this provider, if any."""


@runtime_checkable
class WritableKeyStore(Protocol):
    """A key store that can also save and delete keys."""

    name: str

    @property
    def location(self) -> str:
        """Where the keys go, for messages ("the OS keyring (SecretService)", a file path)."""

    @property
    def available(self) -> bool:
        """Whether writes can go here now (False once the backend proved missing)."""

    def get(self, provider_id: str) -> str | None:
        """The stored key for this provider, if any."""

    def set(self, provider_id: str, value: str) -> None:
        """Save (or replace) the key; KeyStoreUnavailable: no backend, try the next store."""

    def delete(self, provider_id: str) -> bool:
        """Delete the key; whether there was one (a store without a backend has none)."""


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What `keys list` shows for one provider; holds no key value, only its masked form."""

    provider_id: str
    name: str
    key_required: bool
    signup_url: str
    source: str | None  # "env:GROQ_API_KEY", "keyring", "file"; None when no key is set
    masked: str | None
    shadowed: tuple[str, ...] = ()  # stores holding a key that the source above overrides

    @property
    def configured(self) -> bool:
        """Whether a key is set for this provider."""
        return self.source is not None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """Where `KeyRing.store_key` put a key, and what it replaced."""

    provider_id: str
    store: str
    location: str
    replaced: str | None  # masked previous key in that store, if any
    fallback_reason: str | None = None  # why an earlier store in the chain was skipped
    env_override: str | None = None  # an environment variable that takes precedence


class KeyRing:
    """Resolves each provider's key: environment first, then the stores in order."""

    def __init__(
        self,
        stores: Sequence[KeyStore] | Callable[[], Sequence[KeyStore]] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        # A factory defers the stores until a key is not in the environment: loading the OS
        # keyring costs a quarter of a second, which the dashboard's first probe would wait for.
        self._make_stores = stores if callable(stores) else None
        self._made: tuple[KeyStore, ...] | None = None if callable(stores) else tuple(stores)
        self._lock = threading.Lock()
        self._env = os.environ if env is None else env

    @property
    def _stores(self) -> tuple[KeyStore, ...]:
        made = self._made
        if made is None:
            with self._lock:
                if self._made is None:
                    assert self._make_stores is not None
                    self._made = tuple(self._make_stores())
                made = self._made
        return made

    def resolve(self, provider: Provider) -> ResolvedKey | None:
        """The key to send to this provider, or None when none is configured."""
        for name in provider.api_key_env:
            value = self._env.get(name, "").strip()
            if value:
                register_secret(value)
                return ResolvedKey(value, f"env:{name}")
        for store in self._stores:
            stored = store.get(provider.id)
            if stored:
                register_secret(stored)
                return ResolvedKey(stored, store.name)
        return None

    @property
    def env(self) -> Mapping[str, str]:
        """The environment keys and `{VAR}` URL parts are read from."""
        return self._env

    @property
    def stores(self) -> tuple[KeyStore, ...]:
        """The stores, in lookup order."""
        return self._stores

    def env_variable(self, provider: Provider) -> str | None:
        """The first of the provider's key variables that is set, if any."""
        return next((n for n in provider.api_key_env if self._env.get(n, "").strip()), None)

    def status(self, provider: Provider) -> KeyStatus:
        """Whether a key is set for this provider, where it comes from, masked."""
        resolved = self.resolve(provider)
        holders = [s.name for s in self._stores if s.get(provider.id)]
        shadowed = tuple(h for h in holders if resolved is None or h != resolved.source)
        return KeyStatus(
            provider_id=provider.id,
            name=provider.name,
            key_required=provider.key_required,
            signup_url=provider.signup_url,
            source=resolved.source if resolved else None,
            masked=resolved.masked if resolved else None,
            shadowed=shadowed,
        )

    def statuses(self, providers: Iterable[Provider]) -> list[KeyStatus]:
        """`status` for each provider, in order."""
        return [self.status(p) for p in providers]

    def stored(self, provider_id: str) -> ResolvedKey | None:
        """The key a store holds for this provider (the environment is not consulted)."""
        for store in self._stores:
            value = store.get(provider_id)
            if value:
                register_secret(value)
                return ResolvedKey(value, store.name)
        return None

    def store_key(self, provider: Provider, value: str) -> StoredKey:
        """Save the key in the first writable store that works; KeyStoreError when none does."""
        register_secret(value)
        skipped: list[str] = []
        for store in self._writable():
            previous = store.get(provider.id)
            try:
                store.set(provider.id, value)
            except KeyStoreUnavailable as exc:
                skipped.append(f"{store.location}: {exc.message}")
                continue
            return StoredKey(
                provider_id=provider.id,
                store=store.name,
                location=store.location,
                replaced=mask(previous) if previous and previous != value else None,
                fallback_reason="; ".join(skipped) or None,
                env_override=self.env_variable(provider),
            )
        raise KeyStoreError(
            "no key store can take the key" + (f" ({'; '.join(skipped)})" if skipped else ""),
            "export the provider's environment variable instead",
        )

    def remove_key(self, provider_id: str) -> tuple[str, ...]:
        """Delete the provider's key from every store that has one; their names."""
        removed = []
        for store in self._writable():
            if store.delete(provider_id):
                removed.append(store.name)
        return tuple(removed)

    def _writable(self) -> list[WritableKeyStore]:
        return [s for s in self._stores if isinstance(s, WritableKeyStore)]
