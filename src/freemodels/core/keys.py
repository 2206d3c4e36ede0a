"""API keys: where each provider's key comes from (DESIGN.md §2 "Keys").

Lookup order: the catalog's environment variables (first set wins), then the key stores
(keyring, then the 0600 secrets file). `KeyRing` is the seam: the probe and the scheduler ask it
for a `ResolvedKey` and never read the environment themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from freemodels.core.records import Provider
from freemodels.debuglog import register_secret


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
    if len(value) <= 8:
        return "…" + value[-2:] if len(value) > 2 else "…"
    head = value.split("_", 1)[0] + "_" if "_" in value[:8] else value[:3]
    if len(head) > 8:
        head = value[:3]
    return f"{head}…{value[-4:]}"


class KeyStore(Protocol):
    """A place keys are kept (keyring, the secrets file); env lookup is not a store."""

    name: str

    def get(self, provider_id: str) -> str | None:
        """The stored key for this provider, if any."""


class KeyRing:
    """Resolves each provider's key: environment first, then the stores in order."""

    def __init__(
        self,
        stores: Sequence[KeyStore] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._stores = tuple(stores)
        self._env = os.environ if env is None else env

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
