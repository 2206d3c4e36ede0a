"""Goose: a declarative provider in `custom_providers/<id>.json` and the pick in `config.yaml`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
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
from freemodels.integrations.formats.edits import Edit, Set, lookup


def goose_dir(env: Mapping[str, str]) -> Path:
    """Goose's config folder (`$XDG_CONFIG_HOME/goose`)."""
    return config_home(env) / "goose"


class Goose(Integration):
    """Goose reads keys from the environment or its own keyring (`api_key_env`)."""

    name = "goose"
    title = "Goose"
    install_hint = "see https://block.github.io/goose/docs/getting-started/installation"
    executable = "goose"
    supports_inline_key = False

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """Our provider file(s), then config.yaml."""
        folder = goose_dir(env)
        config = Target(folder / "config.yaml", "yaml")
        if selection is not None:
            own = folder / "custom_providers" / f"{selection.provider_id}.json"
            return [Target(own, "json", whole=True), config]
        found = sorted(
            path
            for path in (folder / "custom_providers").glob("freemodels*.json")
            if is_ours(path.stem)
        )
        return [*(Target(path, "json", whole=True) for path in found), config]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """The provider file (ours entirely), or GOOSE_PROVIDER/GOOSE_MODEL in config.yaml."""
        model, pid = selection.model, selection.provider_id
        if target.format == "yaml":
            return [Set(("GOOSE_PROVIDER",), pid), Set(("GOOSE_MODEL",), model.id)]
        entry: dict[str, Any] = {
            "name": pid,
            "engine": "openai",
            "display_name": f"{selection.provider.name} (freemodels)",
            "description": f"{selection.provider.name} via freemodels",
        }
        if selection.key_var is not None:
            entry["api_key_env"] = selection.key_var
        if selection.is_router:
            # Goose cannot hold a key as a value; the loopback router needs none.
            entry["requires_auth"] = selection.placeholder_key is None
        entry["base_url"] = selection.base_url + "/chat/completions"
        listed: dict[str, Any] = {"name": model.id}
        if model.context is not None:  # unknown (a user's server): Goose's default applies
            listed["context_limit"] = model.context
        entry["models"] = upsert_model(lookup(current, ("models",)), listed, key="name")
        entry["supports_streaming"] = True
        return [Set((), entry)]

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Give GOOSE_PROVIDER/GOOSE_MODEL back their earlier values (our files are deleted)."""
        if target.whole or not is_ours(lookup(current, ("GOOSE_PROVIDER",))):
            return []
        return [
            *restore_or_delete(current, backup, ("GOOSE_PROVIDER",)),
            *restore_or_delete(current, backup, ("GOOSE_MODEL",)),
        ]

    def launch_argv(self, selection: Selection) -> list[str]:
        """`goose session`."""
        return ["goose", "session"]

    def launch_env(self, selection: Selection, key: str | None) -> dict[str, str]:
        """The key, plus GOOSE_PROVIDER/GOOSE_MODEL (they win over config.yaml)."""
        env = super().launch_env(selection, key)
        env.update(GOOSE_PROVIDER=selection.provider_id, GOOSE_MODEL=selection.model.id)
        return env


TOOL = Goose()
