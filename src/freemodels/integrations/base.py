"""What every tool integration provides, and the selection it writes.

A tool module subclasses `Integration`: where the tool's config lives (`targets`), the edits that
put the pick in (`render`) or take ours out (`unrender`), and how to launch the tool. It never
touches the disk itself; `freemodels.integrations.formats.writer` does, carefully.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freemodels.core.records import Model, Provider
from freemodels.integrations.formats.edits import Edit

PREFIX = "freemodels-"
MARK = "(freemodels)"
"""Ends the name of list entries freemodels wrote where ids are not ours (Continue, Qwen)."""
ROUTER_ID = "freemodels"  # the local router's provider id in every tool's config
ROUTER_TOKEN_VAR = "FREEMODELS_ROUTER_TOKEN"  # a router off loopback wants its token
ROUTER_PLACEHOLDER_KEY = "freemodels"  # tools insist on some key; the loopback router takes any


@dataclass(frozen=True, slots=True)
class Selection:
    """The model to write, where its key comes from, and the key itself only for --inline-key."""

    provider: Provider
    model: Model
    base_url: str  # with {VAR} parts filled in
    key_var: str | None  # the environment variable the tool should read the key from
    inline_key: str | None = field(default=None, repr=False)
    placeholder_key: str | None = None  # no secret: the loopback router takes any key

    @property
    def provider_id(self) -> str:
        """Our id for the provider inside tool configs (never clashes with a built-in)."""
        return tool_provider_id(self.provider.id)

    @property
    def literal_key(self) -> str | None:
        """The key to write as a value: the --inline-key secret, else the router's placeholder."""
        return self.inline_key if self.inline_key is not None else self.placeholder_key

    @property
    def is_router(self) -> bool:
        """Whether this selection is the local router rather than one catalog model."""
        return self.provider.id == ROUTER_ID


@dataclass(frozen=True, slots=True)
class Target:
    """One file a tool reads; `whole` when the entire file is ours (undo deletes it)."""

    path: Path
    format: str  # "json" (JSONC/JSON5 too) or "yaml"
    whole: bool = False


def tool_provider_id(provider_id: str) -> str:
    """`groq` → `freemodels-groq`; the router is `freemodels` itself."""
    return ROUTER_ID if provider_id == ROUTER_ID else PREFIX + provider_id


def is_ours(value: Any) -> bool:
    """Whether a provider id or `provider/model` reference is one freemodels wrote."""
    if not isinstance(value, str):
        return False
    return value.startswith((PREFIX, ROUTER_ID + "/")) or value == ROUTER_ID


def config_home(env: Mapping[str, str]) -> Path:
    """`$XDG_CONFIG_HOME`, else ~/.config (the tools use it on every OS)."""
    value = env.get("XDG_CONFIG_HOME")
    return Path(value) if value else home(env) / ".config"


def home(env: Mapping[str, str]) -> Path:
    """The home directory as the tools see it."""
    value = env.get("HOME")
    return Path(value) if value else Path(os.path.expanduser("~"))


def first_existing(candidates: list[Path], default: Path) -> Path:
    """The first candidate that exists (a dangling symlink counts), else `default`."""
    for path in candidates:
        if path.exists() or path.is_symlink():
            return path
    return default


class Integration:
    """One coding tool: its files, its edits, its launch command."""

    name: str = ""
    title: str = ""
    install_hint: str = ""
    executable: str | None = None  # None: cannot be launched from a terminal
    supports_inline_key = True
    project_files: tuple[str, ...] = ()  # relative to the cwd; they override the user config
    env_file: str | None = None  # documented .env the tool reads keys from (relative to home)
    # The router's model names this tool lists, in order; the last is its default. Agents that
    # call tools default to `auto:tools`, so the router never picks a model whose tool calls fail.
    router_models: tuple[str, ...] = ("auto", "auto:tools")
    router_only = False  # the tool speaks another API (Claude Code): only the router fits it
    env_references = True  # the config can name an environment variable for the key

    def targets(self, env: Mapping[str, str], selection: Selection | None) -> list[Target]:
        """The files to edit for this selection (None: every file we may have written)."""
        raise NotImplementedError

    def render(self, target: Target, selection: Selection, current: Any) -> list[Edit]:
        """The edits that put `selection` into the document `current`."""
        raise NotImplementedError

    def unrender(self, target: Target, current: Any, backup: Any) -> list[Edit]:
        """The edits that take our entries out of `current` (`backup`: the pre-freemodels file)."""
        raise NotImplementedError

    def reference(self, provider_id: str, model_id: str) -> str:
        """The model reference this tool expects after `use` (e.g. `freemodels-groq/<id>`)."""
        return f"{tool_provider_id(provider_id)}/{model_id}"

    def launch_argv(self, selection: Selection) -> list[str]:
        """The command line that starts the tool on the selection."""
        assert self.executable is not None
        return [self.executable]

    def launch_env(self, selection: Selection, key: str | None) -> dict[str, str]:
        """Environment variables the tool needs at launch (the key under its variable)."""
        if key is None or selection.key_var is None:
            return {}
        return {selection.key_var: key}

    def notes(self, selection: Selection, key_in_env: bool) -> list[str]:
        """Things the user must know after a write (which variable to export, ...)."""
        if selection.key_var is None or selection.literal_key is not None or key_in_env:
            return []
        return [
            f"{self.title} reads the key from ${selection.key_var}, which is not set in this "
            f"shell: export {selection.key_var}=... before starting {self.title}, "
            "or start it with `freemodels use ... --launch`"
        ]

    def project_override(self, document: Any) -> bool:
        """Whether a project-level config (parsed) would override the pick."""
        return True


def is_marked(entry: Any) -> bool:
    """Whether a list entry is one freemodels wrote (its `name` ends with MARK)."""
    return isinstance(entry, dict) and str(entry.get("name", "")).endswith(MARK)


def upsert_model(models: Any, entry: dict[str, Any], key: str = "id") -> list[Any]:
    """A model list with `entry` replacing the item of the same `key`, or appended."""
    items = list(models) if isinstance(models, list) else []
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get(key) == entry[key]:
            items[index] = {**item, **entry}
            return items
    return [*items, entry]


def restore_or_delete(current: Any, backup: Any, path: tuple[str, ...]) -> list[Edit]:
    """Undo of a value we overwrote: the backup's value when it was not ours, else removal."""
    from freemodels.integrations.formats.edits import Delete, Set, lookup

    before = lookup(backup, path) if backup is not None else None
    if before is not None and not is_ours(before) and not _holds_ours(before):
        return [Set(path, before)]
    return [Delete(path)] if lookup(current, path) is not None else []


def _holds_ours(value: Any) -> bool:
    return isinstance(value, dict) and any(is_ours(v) for v in value.values())
