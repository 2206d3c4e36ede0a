"""Crush: `$XDG_CONFIG_HOME/crush/crush.json`, an `openai-compat` provider and `models.large`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freemodels.integrations.base import (
    Integration,
    Selection,
    Target,
    config_home,
    is_ours,
    restore_or_delete,
    upsert_model,
)
from freemodels.integrations.formats.edits import Delete, Edit, Set, lookup


class Crush(Integration):
    """Crush's global config; `crush.json` in a project overrides it."""

    name = "crush"
    title = "Crush"
    install_hint = "npm install -g @charmland/crush (or brew install charmbracelet/tap/crush)"
    executable = "crush"
    project_files = ("crush.json", ".crush.json")

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """One JSON file."""
        return [Target(config_home(env) / "crush" / "crush.json", "json")]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """Our provider with every field the schema requires; the large (and unset small) model."""
        model, pid = selection.model, selection.provider_id
        listed = {
            "id": model.id,
            "name": model.name,
            "cost_per_1m_in": 0,
            "cost_per_1m_out": 0,
            "cost_per_1m_in_cached": 0,
            "cost_per_1m_out_cached": 0,
            # Crush's schema requires a window; for a server that does not say, the same
            # figure the output limit assumes.
            "context_window": model.context or model.output_limit,
            "default_max_tokens": model.output_limit,
            "can_reason": model.reasoning,
            "supports_attachments": False,
        }
        entry: dict[str, Any] = {
            "name": f"{selection.provider.name} (freemodels)",
            "type": "openai-compat",
            "base_url": selection.base_url,
        }
        if selection.literal_key is not None:
            entry["api_key"] = selection.literal_key
        elif selection.key_var is not None:
            entry["api_key"] = "$" + selection.key_var
        entry["models"] = upsert_model(lookup(current, ("providers", pid, "models")), listed)
        pick = {"model": model.id, "provider": pid}
        edits: list[Edit] = []
        if not current:
            edits.append(Set(("$schema",), "https://charm.land/crush.json"))
        edits.append(Set(("providers", pid), entry))
        edits.append(Set(("models", "large"), pick))
        if lookup(current, ("models", "small")) is None:
            edits.append(Set(("models", "small"), pick))
        return edits

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Remove our providers; give `models.large`/`small` back their earlier values."""
        edits: list[Edit] = []
        providers = lookup(current, ("providers",))
        if isinstance(providers, dict):
            edits += [Delete(("providers", pid)) for pid in providers if is_ours(pid)]
        for size in ("large", "small"):
            if is_ours(lookup(current, ("models", size, "provider"))):
                edits += restore_or_delete(current, backup, ("models", size))
        return edits

    def project_override(self, document: Any) -> bool:
        """A project file overrides us when it picks models."""
        return not isinstance(document, dict) or "models" in document


TOOL = Crush()
