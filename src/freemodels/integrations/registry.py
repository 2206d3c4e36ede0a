"""The tools freemodels writes for, and the calls the CLI and the dashboard make.

    reference(tool, provider_id, model_id)   the model name the tool expects after `use`
    apply(tool, provider, model, key, ...)   write the pick (or a dry run); returns a UseResult
    apply_router(tool, where, ...)           write the local router instead of one model
    undo(tool, ...)                          take our entries out again
    launch_command(tool, provider, model, key)  argv and extra environment to start the tool
    launch_router(tool, where)               the same for a tool pointed at the router

Everything here is synchronous and headless, so the TUI can call it from a thread worker.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.records import Model, ModelRef, Provider
from freemodels.errors import UsageError
from freemodels.integrations import router
from freemodels.integrations.base import ROUTER_ID, Integration, Selection, Target, home
from freemodels.integrations.formats import writer
from freemodels.integrations.formats.edits import (
    Delete,
    Edit,
    ShapeError,
    apply_to_value,
    lookup,
)
from freemodels.integrations.formats.writer import FileChange
from freemodels.integrations.router import RouterAddress

_MODULES = {
    "opencode": "freemodels.integrations.tools.opencode",
    "kilo": "freemodels.integrations.tools.kilo",
    "openclaw": "freemodels.integrations.tools.openclaw",
    "crush": "freemodels.integrations.tools.crush",
    "goose": "freemodels.integrations.tools.goose",
    "aider": "freemodels.integrations.tools.aider",
    "continue": "freemodels.integrations.tools.continue_dev",
    "qwen": "freemodels.integrations.tools.qwen",
    "claude": "freemodels.integrations.tools.claude",
}
ROUTER_TOOLS: tuple[str, ...] = tuple(_MODULES)  # every tool `use TOOL router` writes
TOOLS: tuple[str, ...] = ROUTER_TOOLS[:-1]  # the tools that also take one PROVIDER/MODEL


@dataclass(frozen=True, slots=True)
class UseResult:
    """What `apply`/`undo` did (or would do, on a dry run) and what the user should know."""

    tool: str
    reference: str | None
    changes: tuple[FileChange, ...]
    notes: tuple[str, ...]
    dry_run: bool

    @property
    def changed(self) -> bool:
        """Whether any file changed (or would change)."""
        return any(change.changed for change in self.changes)

    @property
    def paths(self) -> tuple[Path, ...]:
        """The files changed (or that would change)."""
        return tuple(change.path for change in self.changes if change.changed)

    def diff(self) -> str:
        """A unified diff over every changed file, keys masked."""
        return "".join(change.diff() for change in self.changes if change.changed)


def integration(tool: str) -> Integration:
    """The integration for a tool name; UsageError listing the valid names."""
    module_name = _MODULES.get(tool)
    if module_name is None:
        raise UsageError(f"unknown tool {tool!r}; choose one of: {', '.join(ROUTER_TOOLS)}")
    found: Integration = importlib.import_module(module_name).TOOL
    return found


def direct(tool: str) -> Integration:
    """The integration for a tool that takes one PROVIDER/MODEL; UsageError for router-only ones."""
    spec = integration(tool)
    if spec.router_only:
        raise UsageError(
            f"{spec.title} speaks only Anthropic's API, so it needs the router",
            f"run `freemodels use {tool} router` and keep `freemodels serve --router` running",
        )
    return spec


def reference(tool: str, ref: ModelRef) -> str:
    """The model reference `tool` expects after `use` (e.g. `freemodels-groq/<model>`)."""
    return direct(tool).reference(ref.provider, ref.model)


def selection_for(
    tool: str,
    provider: Provider,
    model: Model,
    key: ResolvedKey | None,
    *,
    inline_key: bool = False,
    env: Mapping[str, str] | None = None,
) -> Selection:
    """The Selection to write: base URL filled in, key variable chosen, the key only if inline."""
    source = os.environ if env is None else env
    base_url = provider.resolve_base_url(source)
    if base_url is None:
        missing = ", ".join(provider.url_variables)
        raise UsageError(f"{provider.id}'s URL needs {missing}", f"export {missing} first")
    if key is not None and key.source.startswith("env:"):
        key_var: str | None = key.source.removeprefix("env:")
    else:
        key_var = provider.api_key_env[0] if provider.api_key_env else None
    if inline_key:
        if not integration(tool).supports_inline_key:
            raise UsageError(
                f"{tool} keeps keys in the environment or its own keyring, not in its config",
                f"export {key_var} instead of --inline-key",
            )
        if key is None:
            raise UsageError(
                f"no key for {provider.id} to write", f"run `freemodels keys set {provider.id}`"
            )
    return Selection(provider, model, base_url, key_var, key.value if inline_key and key else None)


def apply(
    tool: str,
    provider: Provider,
    model: Model,
    key: ResolvedKey | None,
    *,
    dry_run: bool = False,
    inline_key: bool = False,
    env_file: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> UseResult:
    """Write `provider/model` into `tool`'s config; ConfigWriteError leaves every file as it was."""
    source = os.environ if env is None else env
    spec = direct(tool)
    if provider.id == ROUTER_ID:
        raise UsageError(
            f"the provider id {ROUTER_ID!r} is the router's in tool configs",
            "rename that provider in your catalog overlay",
        )
    selection = selection_for(tool, provider, model, key, inline_key=inline_key, env=source)
    changes = _plan(spec, [selection], source)
    notes = _key_notes(spec, selection, key)
    if env_file and key is not None and selection.key_var is not None:
        notes += _env_file(spec, selection.key_var, key.value, source, dry_run=dry_run)
    elif env_file:
        notes.append(f"--env-file: no key for {provider.id} to write")
    notes += project_overrides(spec, cwd)
    if not dry_run:
        for change in changes:
            writer.commit(change)
    return UseResult(
        tool,
        spec.reference(provider.id, model.id),
        tuple(changes),
        tuple(notes),
        dry_run,
    )


def apply_router(
    tool: str,
    where: RouterAddress,
    *,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> UseResult:
    """Write the local router into `tool`'s config as provider `freemodels`; safe like `apply`."""
    source = os.environ if env is None else env
    spec = integration(tool)
    chosen = router.selections(spec, where, source)
    changes = _plan(spec, chosen, source)
    notes = router.notes(spec, where, source) + project_overrides(spec, cwd)
    if not dry_run:
        for change in changes:
            writer.commit(change)
    reference = spec.reference(ROUTER_ID, chosen[-1].model.id)
    return UseResult(tool, reference, tuple(changes), tuple(notes), dry_run)


def _plan(spec: Integration, chosen: list[Selection], env: Mapping[str, str]) -> list[FileChange]:
    """Each target's change for the selections rendered in order (the last one is the default)."""
    last = chosen[-1]
    changes = []
    for target in spec.targets(env, last):
        text = writer.read_text(target.path)
        document = writer.load(target.path, target.format, text or "")
        value, edits = document.value, []
        for index, selection in enumerate(chosen):
            more = spec.render(target, selection, value)
            edits += more
            if index + 1 < len(chosen):
                try:
                    value = apply_to_value(value, more)
                except ShapeError:
                    break  # writer.plan reports the same shape problem, naming the file
        changes.append(
            writer.plan(
                target.path,
                target.format,
                text,
                document,
                edits,
                private=last.inline_key is not None,
                secret=last.inline_key,
            )
        )
    return changes


def undo(tool: str, *, dry_run: bool = False, env: Mapping[str, str] | None = None) -> UseResult:
    """Take freemodels' entries out of `tool`'s config, restoring values we replaced."""
    source = os.environ if env is None else env
    spec = integration(tool)
    changes = []
    for target in spec.targets(source, None):
        text = writer.read_text(target.path)
        if text is None:
            continue
        if target.whole:
            changes.append(FileChange(target.path, text, None))
            continue
        document = writer.load(target.path, target.format, text)
        backup = writer.parsed_value(writer.backup_path(target.path), target.format)
        edits: list[Edit] = spec.unrender(target, document.value, backup)
        edits += _prune(document.value, backup, edits)
        changes.append(writer.plan(target.path, target.format, text, document, edits))
    if not dry_run:
        for change in changes:
            writer.commit(change, backup=False)
    return UseResult(tool, None, tuple(changes), (), dry_run)


def _prune(current: Any, backup: Any, edits: list[Edit]) -> list[Edit]:
    """Deletes for objects our removals left empty, unless the user had them before us."""
    after = apply_to_value(current, edits)
    parents = sorted(
        {
            edit.path[:depth]
            for edit in edits
            if isinstance(edit, Delete)
            for depth in range(1, len(edit.path))
        },
        key=len,
        reverse=True,
    )
    pruned: list[Edit] = []
    for path in parents:
        if any(isinstance(part, int) for part in path):
            continue
        value = lookup(after, path)
        if value in ({}, []) and lookup(backup, path) is None:
            pruned.append(Delete(path))
            after = apply_to_value(after, [Delete(path)])
    return pruned


def launch_command(
    tool: str,
    provider: Provider,
    model: Model,
    key: ResolvedKey | None,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv (executable resolved on PATH) and the extra environment that start `tool`."""
    source = os.environ if env is None else env
    spec = direct(tool)
    selection = selection_for(tool, provider, model, key, env=source)
    argv = _launchable(spec, selection, source)
    return argv, spec.launch_env(selection, key.value if key else None)


def launch_router(
    tool: str, where: RouterAddress, *, env: Mapping[str, str] | None = None
) -> list[str]:
    """The argv that starts `tool` on the router (its token, if any, is already exported)."""
    source = os.environ if env is None else env
    spec = integration(tool)
    return _launchable(spec, router.selections(spec, where, source)[-1], source)


def _launchable(spec: Integration, selection: Selection, env: Mapping[str, str]) -> list[str]:
    if spec.executable is None:
        raise UsageError(
            f"{spec.title} runs inside your editor and cannot be launched from here",
            "reload the editor window to pick up the new model",
        )
    argv = spec.launch_argv(selection)
    path = shutil.which(argv[0], path=env.get("PATH"))
    if path is None:
        raise UsageError(
            f"{spec.title} is not installed ({argv[0]} is not on PATH)",
            f"install it with: {spec.install_hint}",
        )
    return [path, *argv[1:]]


def _key_notes(spec: Integration, selection: Selection, key: ResolvedKey | None) -> list[str]:
    provider = selection.provider
    if key is None and provider.key_required:
        return [
            f"no key for {provider.id} yet: run `freemodels keys set {provider.id}` "
            f"or export {selection.key_var}"
        ]
    return spec.notes(selection, key is not None and key.source.startswith("env:"))


def _env_file(
    spec: Integration, var: str, value: str, env: Mapping[str, str], *, dry_run: bool
) -> list[str]:
    if spec.env_file is None:
        return [f"--env-file: {spec.title} has no documented .env file; export {var} instead"]
    if spec.name == "openclaw":
        from freemodels.integrations.tools.openclaw import state_dir

        path = state_dir(env) / ".env"
    else:
        path = home(env) / spec.env_file
    if dry_run:
        return [f"would set {var} in {path} (mode 0600)"]
    written = writer.write_env_line(path, var, value)
    return [f"{'set' if written else 'kept'} {var} in {path} (mode 0600)"]


def project_overrides(spec: Integration, cwd: Path | None = None) -> list[str]:
    """Warnings for project-level configs in `cwd` (default: the current folder) that override
    the user config."""
    if cwd is None:
        try:
            cwd = Path.cwd()
        except FileNotFoundError:
            return []  # the shell's folder was deleted: no project config can be in it
    warnings = []
    for name in spec.project_files:
        path = cwd / name
        if not path.is_file():
            continue
        fmt = "yaml" if path.suffix in (".yml", ".yaml") else "json"
        if spec.project_override(writer.parsed_value(path, fmt)):
            warnings.append(
                f"{path} overrides the model for {spec.title} when started in this folder"
            )
    return warnings


def targets(tool: str, env: Mapping[str, str] | None = None) -> list[Target]:
    """The files `use TOOL --undo` would look at (for messages and tests)."""
    return integration(tool).targets(os.environ if env is None else env, None)
