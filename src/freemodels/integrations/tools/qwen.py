"""Qwen Code: `~/.qwen/settings.json`, an entry in `modelProviders.openai` and `model.name`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freemodels.integrations.base import (
    MARK,
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
        """Our model entry, the selected auth type and model; the key under `env` if inline."""
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
        same_model = [
            i
            for i in mine
            if items[i].get("id") == model.id and items[i].get("baseUrl") == selection.base_url
        ]
        if same_model:
            edits.append(Set((*_LIST, same_model[0]), entry))
        else:
            edits.append(Insert(_LIST, entry))
        edits.append(Set(("model", "name"), model.id))
        edits.append(Set(("security", "auth", "selectedType"), "openai"))
        if selection.inline_key is not None and selection.key_var is not None:
            edits.append(Set(("env", selection.key_var), selection.inline_key))
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
