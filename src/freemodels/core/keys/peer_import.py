"""Import keys from the npm peer `free-coding-models` (`~/.free-coding-models.json`).

Read only: the peer's file is never modified. Its keys sit under `apiKeys`, keyed by provider id
(a string, or a list when it keeps several keys per provider: the first is taken); older and
hand-made files may hold top-level `groqApiKey` / `groq_api_key` entries, which are accepted too.
Peer ids mostly equal ours; a few aliases map the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyRing, StoredKey, mask
from freemodels.debuglog import register_secret
from freemodels.errors import KeyStoreError

# Peer (or common) provider ids that differ from ours.
PEER_ALIASES: Mapping[str, str] = {
    "google": "googleai",
    "gemini": "googleai",
    "nim": "nvidia",
    "nvidia-nim": "nvidia",
}
_TOP_LEVEL_KEY = re.compile(r"^(?P<provider>[A-Za-z0-9][A-Za-z0-9-]*?)[-_]?api[-_]?key$", re.I)


def peer_config_path() -> Path:
    """Where the peer keeps its config: `~/.free-coding-models.json`."""
    return Path.home() / ".free-coding-models.json"


class ImportAction(StrEnum):
    """What `keys import` would do with one peer key."""

    NEW = "new"  # no key stored for this provider yet
    REPLACE = "replace"  # a different key is stored; importing overwrites it
    SAME = "same"  # the very key is already stored: nothing to do
    UNKNOWN = "unknown"  # the provider is not in our catalog: skipped


@dataclass(frozen=True, slots=True)
class PeerKey:
    """One key found in the peer's config, and what importing it would do."""

    peer_id: str
    provider_id: str | None
    value: str = field(repr=False)
    action: ImportAction
    replaces: str | None = None  # masked key currently stored, for REPLACE
    extra_keys: int = 0  # further keys the peer keeps for this provider (not imported)

    @property
    def masked(self) -> str:
        """The peer key, masked."""
        return mask(self.value)


def read_peer_keys(path: Path) -> dict[str, tuple[str, int]]:
    """Peer provider id → (first key, number of further keys), from the peer's JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(
            f"cannot read {path}: {getattr(exc, 'strerror', None) or type(exc).__name__}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Position only: the message of a JSON error may quote the text, which holds keys.
        raise KeyStoreError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno})",
            "fix it with the peer tool, or set the keys with 'freemodels keys set'",
        ) from None
    if not isinstance(data, dict):
        raise KeyStoreError(f"{path} does not hold a JSON object", "nothing to import")
    found: dict[str, tuple[str, int]] = {}
    api_keys = data.get("apiKeys")
    if isinstance(api_keys, dict):
        for peer_id, value in api_keys.items():
            _add(found, str(peer_id), value)
    for name, value in data.items():
        match = _TOP_LEVEL_KEY.match(str(name))
        if match:
            _add(found, match["provider"].lower(), value)
    return found


def _add(found: dict[str, tuple[str, int]], peer_id: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    keys = [v.strip() for v in values if isinstance(v, str) and v.strip()]
    for key in keys:
        register_secret(key)
    if keys and peer_id not in found:
        found[peer_id] = (keys[0], len(keys) - 1)


def plan_import(
    peer: Mapping[str, tuple[str, int]], catalog: Catalog, keyring: KeyRing
) -> list[PeerKey]:
    """What importing each peer key would do (reads the stores; changes nothing)."""
    plan = []
    for peer_id, (value, extra) in sorted(peer.items()):
        ours = PEER_ALIASES.get(peer_id, peer_id)
        provider = catalog.provider(ours)
        if provider is None:
            plan.append(PeerKey(peer_id, None, value, ImportAction.UNKNOWN, extra_keys=extra))
            continue
        stored = keyring.stored(provider.id)
        if stored is None:
            action, replaces = ImportAction.NEW, None
        elif stored.value == value:
            action, replaces = ImportAction.SAME, None
        else:
            action, replaces = ImportAction.REPLACE, stored.masked
        plan.append(PeerKey(peer_id, provider.id, value, action, replaces, extra))
    return plan


def apply_import(plan: list[PeerKey], catalog: Catalog, keyring: KeyRing) -> list[StoredKey]:
    """Store every NEW and REPLACE key of the plan; where each went."""
    stored = []
    for item in plan:
        if item.action not in (ImportAction.NEW, ImportAction.REPLACE) or not item.provider_id:
            continue
        provider = catalog.provider(item.provider_id)
        if provider is not None:
            stored.append(keyring.store_key(provider, item.value))
    return stored
