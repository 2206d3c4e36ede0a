"""The dashboard's side effects behind one small object: keys, tool configs, preferences.

Every method is synchronous and may block (a keyring unlock prompt, a disk write, a key test
request), so the app calls them only from thread workers; widgets never call them at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyRing, KeyStatus, ResolvedKey, StoredKey
from freemodels.core.records import Model, ModelRef, Provider
from freemodels.errors import UsageError
from freemodels.ui import preferences
from freemodels.ui.preferences import Preferences

if TYPE_CHECKING:
    from freemodels.core.keys.verify import KeyTestResult
    from freemodels.core.store.insights import ModelHistory, ModelRhythm
    from freemodels.integrations.registry import UseResult


@dataclass(frozen=True, slots=True)
class Services:
    """Keys, tool configs and preferences, as the dashboard may use them (from workers)."""

    catalog: Catalog
    keys: KeyRing
    history_path: Path
    preferences_path: Path | None = None  # None: preferences are not persisted

    @property
    def env(self) -> Mapping[str, str]:
        """The environment keys and URL variables come from."""
        return self.keys.env

    # -- keys ----------------------------------------------------------------------------------

    def key_statuses(self) -> tuple[KeyStatus, ...]:
        """Every provider's key status (source and masked form, never the key)."""
        return tuple(self.keys.statuses(self.catalog.providers))

    def resolve_key(self, provider_id: str) -> ResolvedKey | None:
        """The key sent to this provider, if any."""
        return self.keys.resolve(self.provider(provider_id))

    def store_key(self, provider_id: str, raw: str) -> tuple[StoredKey, str | None]:
        """Save a key typed into the keys screen; the format warning, if any."""
        from freemodels.core.keys.lookup import clean_key, key_format_warning

        value = clean_key(raw)
        stored = self.keys.store_key(self.provider(provider_id), value)
        return stored, key_format_warning(provider_id, value)

    def remove_key(self, provider_id: str) -> tuple[str, ...]:
        """Delete the provider's stored key everywhere; the stores that had one."""
        return self.keys.remove_key(self.provider(provider_id).id)

    def test_key(self, provider_id: str) -> KeyTestResult:
        """One cheap authenticated request, counted against the provider's shared budget."""
        from freemodels.core.keys.verify import verify_key
        from freemodels.core.monitor.budget import RequestGate
        from freemodels.core.monitor.ledger_select import open_ledger
        from freemodels.core.probe.clients import ClientPool
        from freemodels.core.store.history import History

        provider = self.provider(provider_id)
        key = self.keys.resolve(provider)
        history = History(self.history_path)
        try:
            gate = RequestGate(open_ledger(history.db, self.catalog.providers, self.keys))

            async def main() -> KeyTestResult:
                async with ClientPool() as pool:
                    return await verify_key(provider, key, pool=pool, gate=gate, env=self.env)

            return asyncio.run(main())
        finally:
            history.close()

    # -- tool configs --------------------------------------------------------------------------

    def use(self, tool: str, ref: ModelRef, *, dry_run: bool) -> UseResult:
        """Write (or, on a dry run, only diff) the pick into the tool's config."""
        from freemodels.integrations import registry

        provider, model = self.pick(ref)
        key = self.keys.resolve(provider)
        return registry.apply(tool, provider, model, key, dry_run=dry_run, env=self.env)

    def launch_command(self, tool: str, ref: ModelRef) -> tuple[list[str], dict[str, str]]:
        """The argv that starts the tool on the pick, and the environment it needs (its key)."""
        from freemodels.integrations import registry

        provider, model = self.pick(ref)
        key = self.keys.resolve(provider)
        return registry.launch_command(tool, provider, model, key, env=self.env)

    def use_router(self, tool: str, *, dry_run: bool) -> UseResult:
        """Write (or diff) the local router into the tool: the running one's address, else the
        default."""
        from freemodels.integrations import registry, router

        where = router.address(None, self.history_path)
        return registry.apply_router(tool, where, dry_run=dry_run, env=self.env)

    def launch_router(self, tool: str) -> tuple[list[str], dict[str, str]]:
        """The argv that starts the tool on the router (no key: the router holds them)."""
        from freemodels.integrations import registry, router

        where = router.address(None, self.history_path)
        return registry.launch_router(tool, where, env=self.env), {}

    def reference(self, tool: str, ref: ModelRef) -> str:
        """The model name the tool expects after `use`."""
        from freemodels.integrations import registry

        return registry.reference(tool, ref)

    # -- preferences ---------------------------------------------------------------------------

    def save_preferences(self, prefs: Preferences) -> None:
        """Persist the preferences (no-op when persistence is off)."""
        if self.preferences_path is not None:
            preferences.save(self.preferences_path, prefs)

    # -- history -------------------------------------------------------------------------------

    def model_history(self, ref: ModelRef, now: float) -> ModelHistory:
        """One model's history screen data but its provider's heatmap (reads the database: call
        from a worker)."""
        from freemodels.core.monitor.rhythm import LocalClock
        from freemodels.core.store.insights import load_model_history

        return load_model_history(
            self.history_path, ref.provider, ref.model, now, LocalClock(), with_heatmap=False
        )

    def provider_heatmap(self, provider: str, now: float) -> dict[tuple[int, int], float]:
        """The provider's TTFT p50 per local (weekday, hour) (reads the database: a worker)."""
        from freemodels.core.monitor.rhythm import LocalClock
        from freemodels.core.store.insights import load_provider_heatmap

        return load_provider_heatmap(self.history_path, provider, now, LocalClock())

    def rhythms(self, now: float) -> dict[ModelRef, ModelRhythm]:
        """Every model's trend and usual fastest hours (reads the database: from a worker)."""
        from freemodels.core.monitor.rhythm import LocalClock
        from freemodels.core.store.insights import load_rhythms

        return load_rhythms(self.history_path, now, LocalClock())

    # -- lookups -------------------------------------------------------------------------------

    def provider(self, provider_id: str) -> Provider:
        """The catalog's provider; UsageError when unknown."""
        provider = self.catalog.provider(provider_id)
        if provider is None:
            raise UsageError(f"unknown provider {provider_id!r}")
        return provider

    def pick(self, ref: ModelRef) -> tuple[Provider, Model]:
        """The catalog's provider and model for a reference; UsageError when unknown."""
        return self.catalog.find(ref)


VIA_ROUTER = " via router"


def tools() -> tuple[str, ...]:
    """The targets `enter` can write to, in cycle order: each tool, then each via the router."""
    from freemodels.integrations.registry import ROUTER_TOOLS, TOOLS

    return (*TOOLS, *(tool + VIA_ROUTER for tool in ROUTER_TOOLS))


def split_target(target: str) -> tuple[str, bool]:
    """`opencode via router` → (`opencode`, True); `opencode` → (`opencode`, False)."""
    tool = target.removesuffix(VIA_ROUTER)
    return tool, tool != target
