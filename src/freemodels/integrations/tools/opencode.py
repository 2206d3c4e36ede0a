"""OpenCode: `opencode.json(c)` with an `@ai-sdk/openai-compatible` provider and `model`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from freemodels.integrations.base import (
    Integration,
    Selection,
    Target,
    config_home,
    first_existing,
    is_ours,
    restore_or_delete,
)
from freemodels.integrations.formats.edits import Delete, Edit, Set, lookup


class OpenCode(Integration):
    """OpenCode reads `$XDG_CONFIG_HOME/opencode/opencode.jsonc`, `opencode.json`, `config.json`."""

    name = "opencode"
    title = "OpenCode"
    install_hint = "npm install -g opencode-ai (or see https://opencode.ai)"
    executable = "opencode"
    env_override = "OPENCODE_CONFIG"
    folder = "opencode"
    file_names: tuple[str, ...] = ("opencode.jsonc", "opencode.json", "config.json")
    schema_url = "https://opencode.ai/config.json"
    project_files = (
        "opencode.jsonc",
        "opencode.json",
        ".opencode/opencode.jsonc",
        ".opencode/opencode.json",
    )

    def config_path(self, env: Mapping[str, str]) -> Path:
        """The file this tool reads: the env override, else the first that exists."""
        override = env.get(self.env_override)
        if override:
            return Path(override).expanduser()
        folder = config_home(env) / self.folder
        return first_existing([folder / n for n in self.file_names], folder / f"{self.folder}.json")

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """One JSONC file."""
        return [Target(self.config_path(env), "json")]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """Our provider entry (one model per `use`, earlier ones kept) and the default model."""
        model = selection.model
        options: dict[str, Any] = {"baseURL": selection.base_url}
        if selection.literal_key is not None:
            options["apiKey"] = selection.literal_key
        elif selection.key_var is not None:
            options["apiKey"] = "{env:" + selection.key_var + "}"
        entry = {
            "npm": "@ai-sdk/openai-compatible",
            "name": f"{selection.provider.name} (freemodels)",
            "options": options,
            "models": {
                model.id: {
                    "name": model.name,
                    "limit": {"context": model.context, "output": model.output_limit}
                    if model.context is not None
                    else {"output": model.output_limit},
                }
            },
        }
        edits: list[Edit] = []
        if not current:
            edits.append(Set(("$schema",), self.schema_url))
        edits.append(Set(("provider", selection.provider_id), entry))
        edits.append(Set(("model",), self.reference(selection.provider.id, model.id)))
        return edits

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Remove our providers; give `model` back its value from before freemodels."""
        providers = lookup(current, ("provider",))
        edits: list[Edit] = []
        if isinstance(providers, dict):
            edits += [Delete(("provider", pid)) for pid in providers if is_ours(pid)]
        if is_ours(lookup(current, ("model",))):
            edits += restore_or_delete(current, backup, ("model",))
        return edits

    def launch_argv(self, selection: Selection) -> list[str]:
        """`opencode -m freemodels-groq/<model>`."""
        assert self.executable is not None
        return [self.executable, "-m", self.reference(selection.provider.id, selection.model.id)]

    def project_override(self, document: Any) -> bool:
        """A project file overrides us when it sets `model`."""
        return not isinstance(document, dict) or "model" in document


TOOL = OpenCode()
