"""Continue: a `models:` entry in `~/.continue/config.yaml`; the first chat model is the default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freemodels.integrations.base import MARK, Integration, Selection, Target, home, is_marked
from freemodels.integrations.formats.edits import Delete, Edit, Insert, Set, lookup


class Continue(Integration):
    """Continue reads `${{ secrets.VAR }}` from ~/.continue/.env, not from the process env."""

    name = "continue"
    title = "Continue"
    install_hint = "install the Continue extension in VS Code or JetBrains (https://continue.dev)"
    executable = None  # an editor extension: reload the editor window instead
    env_file = ".continue/.env"
    router_models = ("auto:tools",)  # one entry of ours; its agent mode calls tools

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """The user's config.yaml."""
        return [Target(home(env) / ".continue" / "config.yaml", "yaml")]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """One entry of ours, first in the list so it is the default chat model."""
        model = selection.model
        entry: dict[str, Any] = {
            "name": f"{model.name} · {selection.provider.name} {MARK}",
            "provider": "openai",
            "model": model.id,
            "apiBase": selection.base_url,
        }
        if selection.literal_key is not None:
            entry["apiKey"] = selection.literal_key
        elif selection.key_var is not None:
            entry["apiKey"] = "${{ secrets." + selection.key_var + " }}"
        entry["roles"] = ["chat", "edit", "apply"]
        if selection.is_router and model.tool_calls:
            # Continue guesses tool support from the model's name; `auto:tools` tells it nothing.
            entry["capabilities"] = ["tool_use"]
        entry["defaultCompletionOptions"] = {
            "contextLength": model.context,
            "maxTokens": model.output_limit,
        }
        if model.context is None:  # unknown (a user's server): Continue's default applies
            del entry["defaultCompletionOptions"]["contextLength"]
        edits: list[Edit] = []
        if not current:
            edits += [
                Set(("name",), "freemodels"),
                Set(("version",), "1.0.0"),
                Set(("schema",), "v1"),
            ]
        models = lookup(current, ("models",))
        mine = [i for i, item in enumerate(models or []) if is_marked(item)]
        if not mine:
            return [*edits, Insert(("models",), entry, 0)]
        first, *others = mine
        old = models[first]
        edits += [Delete(("models", i)) for i in reversed(others)]
        stale = [k for k in old if k not in entry]
        edits += [Delete(("models", first, k)) for k in stale]
        edits.append(Set(("models", first), entry))
        return edits

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Remove our entries."""
        models = lookup(current, ("models",))
        if not isinstance(models, list):
            return []
        return [Delete(("models", i)) for i in reversed(range(len(models))) if is_marked(models[i])]

    def notes(self, selection: Selection, key_in_env: bool) -> list[str]:
        """Continue reads secrets from ~/.continue/.env only."""
        if selection.key_var is None or selection.literal_key is not None:
            return []
        return [
            f"Continue reads ${{{{ secrets.{selection.key_var} }}}} from ~/.continue/.env, not "
            f"from your shell: add {selection.key_var}=... there, or rerun with --env-file"
        ]


TOOL = Continue()
