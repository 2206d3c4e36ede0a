"""Qwen Code: `~/.qwen/settings.json`, an entry in `modelProviders.openai` and `model.name`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freemodels.integrations.base import (
    MARK,
    ROUTER_PLACEHOLDER_KEY,
    Integration,
    Selection,
    Target,
    home,
    is_marked,
    restore_or_delete,
)
from freemodels.integrations.formats.edits import Delete, Edit, Insert, Set, lookup

_LIST = ("modelProviders", "openai")


class Qwen(Integration):
    """Qwen Code reads each model's key from `process.env[envKey]`."""

    name = "qwen"
    title = "Qwen Code"
    install_hint = "npm install -g @qwen-code/qwen-code"
    executable = "qwen"
    project_files = (".qwen/settings.json",)

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """The user settings file (JSON with comments)."""
        return [Target(home(env) / ".qwen" / "settings.json", "json")]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """Our model entry, the selected auth type and model; a key given as a value in `env`."""
        model = selection.model
        entry: dict[str, Any] = {
            "id": model.id,
            "name": f"{model.name} · {selection.provider.name} {MARK}",
            "baseUrl": selection.base_url,
        }
        if selection.key_var is not None:
            entry["envKey"] = selection.key_var
        edits: list[Edit] = []
        items = lookup(current, _LIST)
        mine = [i for i, item in enumerate(items or []) if is_marked(item)]
        # The router's entry moves with the router; a catalog model's stays beside other URLs.
        same_model = [
            i
            for i in mine
            if items[i].get("id") == model.id
            and (selection.is_router or items[i].get("baseUrl") == selection.base_url)
        ]
        if same_model:
            edits.append(Set((*_LIST, same_model[0]), entry))
        else:
            edits.append(Insert(_LIST, entry))
        edits.append(Set(("model", "name"), model.id))
        edits.append(Set(("security", "auth", "selectedType"), "openai"))
        var = selection.key_var
        if var is None:
            return edits
        if selection.literal_key is not None:
            edits.append(Set(("env", var), selection.literal_key))
        elif selection.is_router and lookup(current, ("env", var)) == ROUTER_PLACEHOLDER_KEY:
            # A token router now: the loopback placeholder of an earlier `use` would shadow it.
            edits.append(Delete(("env", var)))
        return edits

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Remove our entries; restore model and auth type from before freemodels."""
        items = lookup(current, _LIST)
        if not isinstance(items, list):
            return []
        mine = [i for i, item in enumerate(items) if is_marked(item)]
        if not mine:
            return []
        ids = {items[i].get("id") for i in mine}
        edits: list[Edit] = [Delete((*_LIST, i)) for i in reversed(mine)]
        for var in sorted({items[i].get("envKey") for i in mine if items[i].get("envKey")}):
            if lookup(current, ("env", var)) is not None:
                edits += _restore(current, backup, ("env", var))
        if lookup(current, ("model", "name")) in ids:
            edits += _restore(current, backup, ("model", "name"))
            edits += _restore(current, backup, ("security", "auth", "selectedType"))
        return edits

    def reference(self, provider_id: str, model_id: str) -> str:
        """Qwen Code names the model by its id."""
        return model_id

    def launch_argv(self, selection: Selection) -> list[str]:
        """`qwen --model <id>`."""
        return ["qwen", "--model", selection.model.id]

    def project_override(self, document: Any) -> bool:
        """A project settings file overrides us when it sets the model."""
        return not isinstance(document, dict) or lookup(document, ("model", "name")) is not None


def _restore(current: Any, backup: Any, path: tuple[str, ...]) -> list[Edit]:
    before = lookup(backup, path) if backup is not None else None
    if before is not None:
        return [Set(path, before)]
    return restore_or_delete(current, None, path)


TOOL = Qwen()
