"""Claude Code: `env.ANTHROPIC_BASE_URL` in `~/.claude/settings.json`, pointing at the router.

Claude Code speaks only Anthropic's Messages API, so it cannot use one OpenAI-compatible model:
it talks to the router's `/v1/messages`, which maps its `claude-…` model names to `auto:tools`.
A settings file's `env` wins over the shell's variables, and its values are literal (no
`${VAR}`), so the token of a router off loopback is written as a value (mode 0600).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from freemodels.errors import UsageError
from freemodels.integrations.base import (
    ROUTER_ID,
    ROUTER_PLACEHOLDER_KEY,
    ROUTER_TOKEN_VAR,
    Integration,
    Selection,
    Target,
    home,
)
from freemodels.integrations.formats.edits import Delete, Edit, Set, lookup, same

BASE_URL = ("env", "ANTHROPIC_BASE_URL")
TOKEN = ("env", "ANTHROPIC_AUTH_TOKEN")
# Claude Code asks for up to 128000 output tokens, more than most free models give (a 400).
MAX_OUTPUT = ("env", "CLAUDE_CODE_MAX_OUTPUT_TOKENS")
SCHEMA_URL = "https://json.schemastore.org/claude-code-settings.json"


def settings_dir(env: Mapping[str, str]) -> Path:
    """Claude Code's user folder (`CLAUDE_CONFIG_DIR`, else ~/.claude)."""
    value = env.get("CLAUDE_CONFIG_DIR")
    return Path(value).expanduser() if value else home(env) / ".claude"


class ClaudeCode(Integration):
    """The user settings file; a project's `.claude/settings*.json` wins over it."""

    name = "claude"
    title = "Claude Code"
    install_hint = (
        "npm install -g @anthropic-ai/claude-code (or see https://claude.com/claude-code)"
    )
    executable = "claude"
    project_files = (".claude/settings.json", ".claude/settings.local.json")
    router_models = ("auto:tools",)  # what the router serves Claude Code's own model names with
    router_only = True
    env_references = False

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """One JSON file."""
        return [Target(settings_dir(env) / "settings.json", "json")]

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """The router's root URL (Claude Code adds `/v1/messages`), the output limit the router's
        models are described with, and a token Claude Code will send."""
        if not selection.is_router:
            raise UsageError(f"{self.title} needs the router", "run `freemodels use claude router`")
        edits: list[Edit] = []
        if not current:
            edits.append(Set(("$schema",), SCHEMA_URL))
        edits += _set(current, BASE_URL, selection.base_url.removesuffix("/v1"))
        edits += _set(current, MAX_OUTPUT, str(selection.model.output_limit))
        if selection.literal_key is not None:
            edits += _set(current, TOKEN, selection.literal_key)
        elif lookup(current, TOKEN) == ROUTER_PLACEHOLDER_KEY:
            # The router moved off loopback: the old placeholder would be sent as its token.
            edits.append(Delete(TOKEN))
        return edits

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """Give our variables their values from before freemodels (or remove them)."""
        if lookup(current, BASE_URL) is None:
            return []
        if backup is None and lookup(current, TOKEN) != ROUTER_PLACEHOLDER_KEY:
            return []  # neither a file we changed nor one we created: not ours to touch
        edits: list[Edit] = []
        for path in (BASE_URL, MAX_OUTPUT, TOKEN):
            before = lookup(backup, path)
            if before is not None:
                edits += _set(current, path, before)
            elif lookup(current, path) is not None:
                edits.append(Delete(path))
        return edits

    def reference(self, provider_id: str, model_id: str) -> str:
        """Claude Code keeps its own model names; the router answers them with `model_id`."""
        if provider_id != ROUTER_ID:
            raise UsageError(f"{self.title} needs the router", "run `freemodels use claude router`")
        return model_id

    def notes(self, selection: Selection, key_in_env: bool) -> list[str]:
        """A router off loopback wants its token, which Claude Code's settings hold as a value."""
        if selection.literal_key is not None:
            return []
        return [
            f"the router at {selection.base_url.removesuffix('/v1')} wants its token: export "
            f"{ROUTER_TOKEN_VAR}=... and rerun, or set ANTHROPIC_AUTH_TOKEN in the settings env"
        ]

    def project_override(self, document: Any) -> bool:
        """A project settings file overrides us when it sets the base URL."""
        return not isinstance(document, dict) or lookup(document, BASE_URL) is not None


def _set(current: Any, path: tuple[str, ...], value: Any) -> list[Edit]:
    # Nothing when the value is already there, so a second `use` leaves the file's bytes alone.
    return [] if same(lookup(current, path), value) else [Set(path, value)]


TOOL = ClaudeCode()
