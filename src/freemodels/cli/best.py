"""`freemodels best`: the top usable model as `provider/model`, or as a tool's reference."""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from freemodels.cli import EXIT_NOTHING_USABLE
from freemodels.cli.context import Context, open_context
from freemodels.cli.render import print_json
from freemodels.core.monitor.stats import WINDOWS, rank_results
from freemodels.core.records import ModelRef, ModelStats, ProbeKind
from freemodels.core.report import to_record
from freemodels.core.store.history import History
from freemodels.errors import UsageError

FRESH_S = WINDOWS["5m"]
MAX_TOOL_TESTS = 5


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `best`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "best",
        help="print provider/model of the top usable model",
        description="Print provider/model of the top usable model, for scripts: from the "
        "history when it has samples under 5 minutes old, else after one sweep. Exit 3 (and "
        "nothing on stdout) when no model is usable. Example: "
        'freemodels use opencode "$(freemodels best)".',
    )
    parser.add_argument("--fresh", action="store_true", help="sweep now instead of using history")
    parser.add_argument(
        "--for", dest="tool", metavar="TOOL", help="print the reference TOOL expects"
    )
    parser.add_argument("--json", action="store_true", help="print the model's record (or null)")
    parser.add_argument(
        "--tools", action="store_true",
        help="only a model whose function calling works (tested now when not known)",
    )  # fmt: skip
    parser.add_argument(
        "--at", metavar="HH:MM",
        help="the best model at that local time of day over the last 14 days (from history)",
    )  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    """Find the top usable model and print it."""
    reference = _reference_for(args.tool) if args.tool else None
    hour = _at_hour(args)
    with open_context(args) as ctx:
        rows: list[ModelStats] | None
        if hour is not None:
            from freemodels.cli.best_at import ranked_at

            rows = ranked_at(ctx.catalog, ctx.history_path, hour)
        else:
            rows = None if args.fresh else _from_history(ctx)
        if rows is None:
            # Only a sweep needs the probe machinery (and an event loop): history does not.
            import asyncio

            from freemodels.cli.check import sweep_and_rank

            rows = asyncio.run(sweep_and_rank(ctx, ctx.catalog))
        usable = [row for row in rows if row.usable]
        if args.tools:
            import asyncio

            found = asyncio.run(_first_with_tools(ctx, usable))
            usable = [found] if found is not None else []
    if not usable:
        if args.json:
            print_json(None)
        print(_nothing(args), file=sys.stderr)
        return EXIT_NOTHING_USABLE
    top = usable[0]
    if args.json:
        print_json(to_record(top, 1))
    elif reference is not None:
        print(reference(top.ref))
    else:
        print(top.ref)
    return 0


def _at_hour(args: argparse.Namespace) -> int | None:
    """The local hour `--at` names (None without it); it reads history, so no --fresh/--tools."""
    if args.at is None:
        return None
    from freemodels.cli.best_at import parse_time

    if args.fresh or args.tools:
        raise UsageError("--at reads the history: it cannot go with --fresh or --tools")
    return parse_time(args.at)


async def _first_with_tools(ctx: Context, usable: list[ModelStats]) -> ModelStats | None:
    """The best usable model with working tool calls, testing up to a few unknown ones."""
    from freemodels.cli.check import probing
    from freemodels.core.probe.probe import ProbeSpec

    async with probing(ctx) as (prober, history):
        tested = 0
        for row in usable:
            if row.tool_calls is True:
                return row
            if row.tool_calls is False or tested >= MAX_TOOL_TESTS:
                continue
            found = ctx.catalog.get(row.ref)
            if found is None:
                continue
            provider, model = found
            result = await prober.run(provider, model, ProbeSpec.for_kind(ProbeKind.TOOLS, 30.0))
            history.add([result])
            tested += 1
            if result.tool_calls:
                return replace(row, tool_calls=True)
    return None


def _from_history(ctx: Context) -> list[ModelStats] | None:
    """The ranking from stored samples when some are under 5 minutes old, else None."""
    if not ctx.history_path.exists():
        return None
    now = time.time()
    history = History(ctx.history_path)
    try:
        samples = history.samples(now - WINDOWS["30m"])
    finally:
        history.close()
    known = set(ctx.catalog.refs())
    samples = [s for s in samples if s.ref in known]
    if not any(now - s.started_at <= FRESH_S for s in samples):
        return None
    fresh = {s.ref for s in samples if now - s.started_at <= FRESH_S}
    rows = rank_results(ctx.catalog, samples, now)
    return [row for row in rows if row.ref in fresh]


def _reference_for(tool: str) -> Callable[[ModelRef], str]:
    """The function that turns provider/model into TOOL's reference (checked before sweeping)."""
    from freemodels.integrations import registry

    registry.direct(tool)  # an unknown or router-only tool is a usage error before any request
    return functools.partial(registry.reference, tool)


def _nothing(args: argparse.Namespace) -> str:
    if args.at is not None:
        return f"freemodels: no usable model at {args.at} in the last 14 days of history"
    return "freemodels: no usable model right now (see 'freemodels check')"
