"""OpenClaw: `~/.openclaw/openclaw.json` (JSON5), strict about unknown keys."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from freemodels.integrations.base import (
    Integration,
    Selection,
    Target,
    home,
    is_ours,
    restore_or_delete,
    upsert_model,
)
from freemodels.integrations.formats.edits import Delete, Edit, Insert, Set, lookup

_DEFAULTS = ("agents", "defaults")


def state_dir(env: Mapping[str, str]) -> Path:
    """OpenClaw's state folder (`OPENCLAW_STATE_DIR`, else ~/.openclaw)."""
    value = env.get("OPENCLAW_STATE_DIR")
    return Path(value).expanduser() if value else home(env) / ".openclaw"


class OpenClaw(Integration):
    """`models.providers.<id>` plus `agents.defaults.model.primary`."""

    name = "openclaw"
    title = "OpenClaw"
    install_hint = "npm install -g openclaw (needs Node >= 24; see https://docs.openclaw.ai)"
    executable = "openclaw"
    env_file = ".openclaw/.env"

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """`OPENCLAW_CONFIG_PATH`, else `<state dir>/openclaw.json`."""
        override = env.get("OPENCLAW_CONFIG_PATH")
        path = Path(override).expanduser() if override else state_dir(env) / "openclaw.json"
        return [Target(path, "json")]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """Provider, primary model, and the allow-lists when the user keeps them."""
        model, pid = selection.model, selection.provider_id
        ref = self.reference(selection.provider.id, model.id)
        provider_path = ("models", "providers", pid)
        if selection.literal_key is not None:
            api_key = selection.literal_key
        elif selection.key_var is not None:
            api_key = "${" + selection.key_var + "}"
        else:
            api_key = None
        entry: dict[str, Any] = {"baseUrl": selection.base_url}
        if api_key is not None:
            entry["apiKey"] = api_key
        entry["api"] = "openai-completions"
        listed = {
            "id": model.id,
            "name": model.name,
            "contextWindow": model.context,
            "maxTokens": model.output_limit,
        }
        if model.context is None:  # unknown (a user's server): OpenClaw's default applies
            del listed["contextWindow"]
        if model.reasoning:
            listed["reasoning"] = True
        entry["models"] = upsert_model(lookup(current, (*provider_path, "models")), listed)
        edits: list[Edit] = []
        if lookup(current, ("models", "mode")) is None:
            edits.append(Set(("models", "mode"), "merge"))
        edits.append(Set(provider_path, entry))
        if isinstance(lookup(current, (*_DEFAULTS, "model")), str):
            edits.append(Set((*_DEFAULTS, "model"), ref))
        else:
            edits.append(Set((*_DEFAULTS, "model", "primary"), ref))
        allow = lookup(current, (*_DEFAULTS, "modelPolicy", "allow"))
        # An empty allow-list permits every model; a non-empty one must name ours.
        if isinstance(allow, list) and allow and ref not in allow:
            edits.append(Insert((*_DEFAULTS, "modelPolicy", "allow"), ref))
        allowed = lookup(current, (*_DEFAULTS, "models"))
        # Older versions treat a non-empty `agents.defaults.models` as the allow-list; creating
        # one where none exists would hide the user's other models there.
        if isinstance(allowed, dict) and allowed and ref not in allowed:
            edits.append(Set((*_DEFAULTS, "models", ref), {}))
        return edits

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Remove our providers and references; restore the primary model from before."""
        edits: list[Edit] = []
        providers = lookup(current, ("models", "providers"))
        if isinstance(providers, dict):
            mine = [pid for pid in providers if is_ours(pid)]
            edits += [Delete(("models", "providers", pid)) for pid in mine]
            we_added_mode = lookup(backup, ("models", "mode")) is None
            if mine and we_added_mode and lookup(current, ("models", "mode")) == "merge":
                edits.append(Delete(("models", "mode")))
        model = lookup(current, (*_DEFAULTS, "model"))
        if isinstance(model, str) and is_ours(model):
            edits += restore_or_delete(current, backup, (*_DEFAULTS, "model"))
        elif isinstance(model, dict) and is_ours(model.get("primary")):
            edits += restore_or_delete(current, backup, (*_DEFAULTS, "model", "primary"))
        allow = lookup(current, (*_DEFAULTS, "modelPolicy", "allow"))
        if isinstance(allow, list):
            ours = [i for i, ref in enumerate(allow) if is_ours(ref)]
            edits += [Delete((*_DEFAULTS, "modelPolicy", "allow", i)) for i in reversed(ours)]
        allowed = lookup(current, (*_DEFAULTS, "models"))
        if isinstance(allowed, dict):
            edits += [Delete((*_DEFAULTS, "models", ref)) for ref in allowed if is_ours(ref)]
        return edits

    def launch_argv(self, selection: Selection) -> list[str]:
        """`openclaw tui` (the primary model is already ours)."""
        assert self.executable is not None
        return [self.executable, "tui"]

    def notes(self, selection: Selection, key_in_env: bool) -> list[str]:
        """OpenClaw fails on an unset `${VAR}`: offer its documented `.env` file."""
        if selection.key_var is None or selection.literal_key is not None or key_in_env:
            return []
        return [
            f"OpenClaw stops on an unset ${{{selection.key_var}}}: export {selection.key_var}, "
            "or rerun with --env-file to put the key in ~/.openclaw/.env (mode 0600)"
        ]


TOOL = OpenClaw()
