"""`freemodels use TOOL PROVIDER/MODEL|router`: write the pick into a coding tool (or undo it).

`router` writes the local router (`freemodels serve --router`) instead of one model, so the tool
always gets the best model of the moment; Claude Code takes only that.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from freemodels.errors import UsageError

if TYPE_CHECKING:
    from freemodels.core.catalog.parse import Catalog
    from freemodels.core.records import Model, Provider

TOOL_NAMES = (
    "opencode",
    "kilo",
    "openclaw",
    "crush",
    "goose",
    "aider",
    "continue",
    "qwen",
    "claude",
)
ROUTER = "router"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `use`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "use",
        help="write a model into a coding tool's config",
        description="Write PROVIDER/MODEL into TOOL's config (keys referenced by environment "
        "variable), or `router` for the local router (`freemodels serve --router`), keeping "
        "everything else in the file; --undo takes it out again. Claude Code (claude) takes "
        "only the router.",
    )
    parser.add_argument("tool", metavar="TOOL", help=f"one of: {', '.join(TOOL_NAMES)}")
    parser.add_argument(
        "model",
        metavar="PROVIDER/MODEL|router",
        nargs="?",
        help="e.g. groq/openai/gpt-oss-120b, or `router`",
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        help="with `router`: its address (default: the running router's, else 127.0.0.1:8766)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print a unified diff, write nothing"
    )
    parser.add_argument(
        "--launch", action="store_true", help="then start the tool with the key in its environment"
    )
    parser.add_argument(
        "--inline-key",
        action="store_true",
        help="write the plaintext key into the config (mode 0600)",
    )
    parser.add_argument(
        "--env-file",
        action="store_true",
        help="also put the key in the tool's own .env file, 0600 (OpenClaw, Continue)",
    )
    parser.add_argument(
        "--undo", action="store_true", help="remove freemodels' entries from TOOL's config"
    )
    parser.add_argument(
        "--allow-demo",
        action="store_true",
        help="with --demo: write the simulated model anyway (its port dies with this command)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Write (or undo) the pick; with --launch hand the terminal to the tool."""
    from freemodels.integrations import registry

    registry.integration(args.tool)  # unknown tool: one line, exit 2
    if args.undo:
        if args.model or args.launch or args.inline_key or args.env_file or args.url:
            raise UsageError("--undo takes only TOOL (and --dry-run)")
        result = registry.undo(args.tool, dry_run=args.dry_run)
        _report(result, undo=True)
        return 0
    if not args.model:
        raise UsageError("use needs TOOL and PROVIDER/MODEL or `router` (or TOOL --undo)")
    if args.model == ROUTER:
        return _use_router(args)
    if args.url:
        raise UsageError("--url goes with `router`", f"freemodels use {args.tool} router --url URL")
    registry.direct(args.tool)  # Claude Code: the router only, said before the catalog loads
    from freemodels.cli.context import open_context

    with open_context(args, interactive=sys.stdin.isatty()) as context:
        provider, model = _pick(context.catalog, args.model)
        if context.demo and not args.dry_run and not args.allow_demo:
            raise UsageError(
                f"{provider.id}/{model.id} is a --demo model: it lives on a simulator at "
                f"{provider.base_url}, which stops with this command, so {args.tool} would be "
                "left pointing at nothing",
                "pick a real model (freemodels check), or add --allow-demo to write it anyway",
            )
        key = context.keys.resolve(provider)
        result = registry.apply(
            args.tool,
            provider,
            model,
            key,
            dry_run=args.dry_run,
            inline_key=args.inline_key,
            env_file=args.env_file,
            env=context.env,
        )
        _report(result, undo=False)
        if not args.launch or args.dry_run:
            return 0
        argv, extra = registry.launch_command(args.tool, provider, model, key, env=context.env)
        sys.stdout.flush()
        # The tool takes over the terminal; its exit code is ours (a --demo fleet keeps running).
        return subprocess.call(argv, env={**context.env, **extra})


def _use_router(args: argparse.Namespace) -> int:
    """Write the local router into the tool; with --launch start it (no key to pass)."""
    from freemodels import paths
    from freemodels.integrations import registry, router

    if args.inline_key or args.env_file:
        raise UsageError(
            "the router takes no provider key", "drop --inline-key/--env-file; keys stay with us"
        )
    # A `--demo` monitor beats in its own history (see cli/context.py), so does its router.
    history = paths.data_dir() / "history-demo.sqlite3" if args.demo else paths.history_path()
    where = router.address(args.url, history)
    result = registry.apply_router(args.tool, where, dry_run=args.dry_run)
    _report(result, undo=False)
    if not args.launch or args.dry_run:
        return 0
    argv = registry.launch_router(args.tool, where)
    sys.stdout.flush()
    return subprocess.call(argv, env=dict(os.environ))


def _report(result: Any, *, undo: bool) -> None:
    if result.dry_run:
        sys.stdout.write(result.diff())
    for note in result.notes:
        print(f"freemodels: {note}", file=sys.stderr)
    if result.dry_run:
        return
    if result.changed:
        verb = "removed freemodels' entries from" if undo else "wrote"
        for path in result.paths:
            print(f"{verb} {path}")
    else:
        print("nothing to change" if not undo else "no freemodels entries found")
    if not undo and result.reference:
        print(f"{result.tool} model: {result.reference}")


def _pick(catalog: Catalog, text: str) -> tuple[Provider, Model]:
    from freemodels.core.records import ModelRef

    try:
        ref = ModelRef.parse(text)
    except ValueError:
        raise UsageError(f"expected PROVIDER/MODEL, got {text!r}") from None
    return catalog.find(ref)
