"""Aider: `~/.aider.conf.yml` with `model: openai/<id>` and `openai-api-base`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freemodels.integrations.base import Integration, Selection, Target, home, restore_or_delete
from freemodels.integrations.formats.edits import Edit, Set, lookup

_OURS = ("model", "openai-api-base", "openai-api-key")


class Aider(Integration):
    """Aider talks to any OpenAI-compatible server as `openai/<model>` with OPENAI_API_KEY."""

    name = "aider"
    title = "Aider"
    install_hint = "python -m pip install aider-install && aider-install"
    executable = "aider"
    project_files = (".aider.conf.yml",)
    router_models = ("auto",)  # Aider edits through text formats, not function calls

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """The home-folder config (a repo's or the cwd's .aider.conf.yml wins over it)."""
        return [Target(home(env) / ".aider.conf.yml", "yaml")]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """`model`, `openai-api-base`, and `openai-api-key` only for a key written as a value."""
        edits: list[Edit] = [
            Set(("model",), self.reference(selection.provider.id, selection.model.id)),
            Set(("openai-api-base",), selection.base_url),
        ]
        if selection.literal_key is not None:
            edits.append(Set(("openai-api-key",), selection.literal_key))
        return edits

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Put back the keys' values from before freemodels (or remove them)."""
        if not str(lookup(current, ("model",)) or "").startswith("openai/"):
            return []
        edits: list[Edit] = []
        for key in _OURS:
            if backup is not None and lookup(backup, (key,)) is not None:
                edits.append(Set((key,), lookup(backup, (key,))))
            else:
                edits += restore_or_delete(current, None, (key,))
        return edits

    def reference(self, provider_id: str, model_id: str) -> str:
        """Aider's name for a model on an OpenAI-compatible server."""
        return f"openai/{model_id}"

    def launch_argv(self, selection: Selection) -> list[str]:
        """`aider --model openai/<id>`."""
        return ["aider", "--model", self.reference(selection.provider.id, selection.model.id)]

    def launch_env(self, selection: Selection, key: str | None) -> dict[str, str]:
        """Aider reads the key of `openai/` models from OPENAI_API_KEY."""
        return {} if key is None else {"OPENAI_API_KEY": key}

    def notes(self, selection: Selection, key_in_env: bool) -> list[str]:
        """Aider reads OPENAI_API_KEY, not the provider's variable."""
        if selection.key_var is None or selection.literal_key is not None:
            return []
        return [
            "Aider reads the key of openai/ models from OPENAI_API_KEY: "
            f'export OPENAI_API_KEY="${selection.key_var}" before starting aider '
            "(or use --launch, or --inline-key)"
        ]

    def project_override(self, document: Any) -> bool:
        """A project file overrides us when it sets `model`."""
        return not isinstance(document, dict) or "model" in document


TOOL = Aider()
