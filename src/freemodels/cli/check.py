"""`freemodels check`: sweep the catalog now and print the ranking."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from freemodels import runtime
from freemodels.cli.context import (
    Context,
    expired_models,
    open_context,
    require_models,
    select_providers,
)
from freemodels.cli.render import print_json, ranking_table
from freemodels.core.catalog.parse import Catalog
from freemodels.core.monitor.budget import ROUTED_RESERVE, RequestGate
from freemodels.core.monitor.ledger_select import open_ledger
from freemodels.core.monitor.stats import rank_results
from freemodels.core.probe.clients import ClientPool
from freemodels.core.probe.probe import ProbeSpec
from freemodels.core.probe.prober import Prober, pairs_of, sweep
from freemodels.core.records import ModelRef, ModelStats, Outcome, ProbeKind
from freemodels.core.report import to_records
from freemodels.core.store.history import History
from freemodels.runtime import sweep_gc


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seconds(text: str) -> float:
    """argparse type: a non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def positive_seconds(text: str) -> float:
    """argparse type: a positive number of seconds."""
    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `check`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="ping every model now and print the ranking",
        description="Probe every model of the catalog now (one streaming request each, within "
        "each provider's rate budget), store the samples, and print the models best first: "
        "usable ones by TTFT p50, then the rest. The table fits the terminal without cutting a "
        "number or a provider/model id; --json prints one JSON array instead.",
    )
    parser.add_argument("--rounds", type=positive_int, default=1, help="sweeps to run (default 1)")
    parser.add_argument(
        "--interval", type=seconds, default=1.0, help="seconds between sweeps (default 1)"
    )
    parser.add_argument(
        "--timeout", type=positive_seconds, default=15.0,
        help="one probe's overall deadline in seconds (default 15)",
    )  # fmt: skip
    parser.add_argument(
        "--provider", action="append", metavar="ID", help="only this provider (repeatable)"
    )
    parser.add_argument("--speed", action="store_true", help="also measure decode tokens/s")
    parser.add_argument("--tools", action="store_true", help="also test function calling")
    parser.add_argument("--json", action="store_true", help="print one JSON array")
    return parser


def run(args: argparse.Namespace) -> int:
    """Sweep, then print the table or the JSON array."""
    # Through the printing: the collector's thresholds restored any earlier would run a full
    # collection of everything the imports made just before the process ends.
    with sweep_gc():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        catalog = select_providers(ctx.catalog, args.provider)
        require_models(catalog, args)
        count = sum(1 for _ in catalog.models())
        if sys.stderr.isatty():
            print(
                f"probing {count} models across {len(catalog.providers)} providers…",
                file=sys.stderr,
            )
        rows = runtime.run(
            sweep_and_rank(
                ctx, catalog, rounds=args.rounds, interval_s=args.interval,
                timeout_s=args.timeout, speed=args.speed, tools=args.tools,
            )
        )  # fmt: skip
        keyless = not args.json and not ctx.demo and no_key_at_all(ctx, catalog)
        expired = [] if args.json else expired_models(args)
    _say_gone(rows)
    if args.json:
        print_json(to_records(rows, speed=args.speed, tools=args.tools))
    else:
        models = "1 model" if count == 1 else f"{count} models"
        rounds = "1 round" if args.rounds == 1 else f"{args.rounds} rounds"
        ranking_table(
            rows, title=f"freemodels check: {models}, {rounds}",
            speed=args.speed, tools=args.tools,
        )  # fmt: skip
        for note in table_notes(rows, keyless, expired):
            print(f"freemodels: {note}", file=sys.stderr)
    return 0


def table_notes(rows: list[ModelStats], keyless: bool, expired: list[str]) -> list[str]:
    """What the table cannot say by itself (stderr, after it)."""
    notes = []
    if expired:
        notes.append(
            f"{len(expired)} catalog model{'s' if len(expired) != 1 else ''} past "
            f"{'their' if len(expired) != 1 else 'its'} shutdown date, hidden: {', '.join(expired)}"
        )
    skipped = sum(1 for row in rows if row.skipped)
    if skipped:
        notes.append(
            f"{skipped} model{'s' if skipped != 1 else ''} skipped: the local rate budget "
            "(rpm/rpd) had no room, so no request was sent"
        )
    if keyless:
        notes.append(
            "no API keys yet: `freemodels keys set PROVIDER` stores one; "
            "`freemodels keys list` shows where to sign up for each"
        )
    return notes


def no_key_at_all(ctx: Context, catalog: Catalog) -> bool:
    """Whether not one provider that needs a key has one (a first run)."""
    needing = [p for p in catalog.providers if p.key_required]
    return bool(needing) and all(ctx.keys.resolve(p) is None for p in needing)


def _say_gone(rows: list[ModelStats]) -> None:
    # One line for all of them, on stderr: a retired model is news once, not a row of errors.
    gone = [f"{r.provider}/{r.model}" for r in rows if r.outcome is Outcome.NOT_FOUND]
    if gone:
        print(
            f"freemodels: gone: {', '.join(gone)} answered 404/410 (no longer served); "
            "`freemodels providers refresh` lists what the providers serve now",
            file=sys.stderr,
        )


async def sweep_and_rank(
    ctx: Context,
    catalog: Catalog,
    *,
    rounds: int = 1,
    interval_s: float = 1.0,
    timeout_s: float = 15.0,
    speed: bool = False,
    tools: bool = False,
) -> list[ModelStats]:
    """Probe the catalog, store the samples, and rank the models on this run's samples alone."""
    async with probing(ctx) as (prober, history):
        pairs = pairs_of(catalog.providers)
        spec = ProbeSpec.for_kind(ProbeKind.PROBE, timeout_s)
        results = await sweep(prober, pairs, spec, rounds=rounds, interval_s=interval_s)
        for wanted, kind in ((speed, ProbeKind.SPEED), (tools, ProbeKind.TOOLS)):
            if wanted:
                # Only models that answered: a dead model would just burn budget again.
                working = {r.ref for r in results if r.outcome is Outcome.OK}
                extra = [(p, m) for p, m in pairs if ModelRef(p.id, m.id) in working]
                results += await sweep(
                    prober, extra, ProbeSpec.for_kind(kind, max(timeout_s, 30.0))
                )
        history.add(results)
    return rank_results(catalog, results, time.time())


@contextlib.asynccontextmanager
async def probing(ctx: Context) -> AsyncIterator[tuple[Prober, History]]:
    """A Prober whose requests pass the shared budget ledger, and the history to store in."""
    history = History(ctx.history_path)
    try:
        ledger = open_ledger(
            history.db, ctx.catalog.providers, ctx.keys, routed_reserve=ROUTED_RESERVE
        )
        # A sweep beside a running router leaves it its reserve, as the monitor's probes do.
        ledger.router_live(history.live_router() is not None)
        gate = RequestGate(ledger)
        pool = ClientPool()
        try:
            yield Prober(pool, ctx.keys, gate), history
        finally:
            if not runtime.leaving_at_once():
                await pool.aclose()
    finally:
        # Leaving at once: every transaction is committed, and the next open of the database
        # reads its write-ahead log; closing would only copy that log into the file and fsync
        # it (a tenth of the sweep's tail), which the next writer's checkpoint does anyway.
        if not runtime.leaving_at_once():
            history.close()
