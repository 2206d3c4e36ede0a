"""`freemodels use TOOL PROVIDER/MODEL`: put the pick into a coding tool's config (or undo it)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from freemodels.errors import UsageError

if TYPE_CHECKING:
    from freemodels.core.catalog.parse import Catalog
    from freemodels.core.records import Model, Provider

TOOL_NAMES = ("opencode", "kilo", "openclaw", "crush", "goose", "aider", "continue", "qwen")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `use`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "use",
        help="write a model into a coding tool's config",
        description="Write PROVIDER/MODEL into TOOL's config (keys referenced by environment "
        "variable), keeping everything else in the file; --undo takes it out again.",
    )
    parser.add_argument("tool", metavar="TOOL", help=f"one of: {', '.join(TOOL_NAMES)}")
    parser.add_argument(
        "model", metavar="PROVIDER/MODEL", nargs="?", help="e.g. groq/llama-3.3-70b-versatile"
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
    return parser


def run(args: argparse.Namespace) -> int:
    """Write (or undo) the pick; with --launch hand the terminal to the tool."""
    from freemodels.integrations import registry

    registry.integration(args.tool)  # unknown tool: one line, exit 2
    if args.undo:
        if args.model or args.launch or args.inline_key or args.env_file:
            raise UsageError("--undo takes only TOOL (and --dry-run)")
        result = registry.undo(args.tool, dry_run=args.dry_run)
        _report(result, undo=True)
        return 0
    if not args.model:
        raise UsageError("use needs TOOL and PROVIDER/MODEL (or TOOL --undo)")
    from freemodels.cli.context import open_context

    with open_context(args, interactive=sys.stdin.isatty()) as context:
        provider, model = _pick(context.catalog, args.model)
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
