"""`freemodels providers [--json]` and `freemodels providers refresh [PROVIDER] [--add-new]`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from freemodels.core.catalog.parse import Catalog
from freemodels.core.records import Model, Provider

if TYPE_CHECKING:
    from freemodels.cli.context import Context
    from freemodels.core.catalog.refresh import RefreshResult


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `providers` and its `refresh` subcommand."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "providers",
        help="list the catalog's providers and models, or refresh them from the live lists",
        description="List the catalog's providers and models.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON array")
    actions = parser.add_subparsers(dest="providers_action", metavar="ACTION")
    refresh = actions.add_parser(
        "refresh",
        help="compare the live GET /models with the catalog and update the user overlay",
        description=(
            "Fetch each provider's live model list: report catalog models it no longer lists, "
            "add new models listed at a zero price to the user overlay, and offer other new ids."
        ),
    )
    refresh.add_argument("provider", nargs="?", metavar="PROVIDER", help="only this provider")
    refresh.add_argument(
        "--add-new",
        action="store_true",
        help="also add the new ids whose listing shows no price to the overlay",
    )
    # `providers refresh` is a nested parser: give it the global options too, so
    # `freemodels providers refresh --catalog X` works like every other command.
    for option, kwargs in _GLOBALS.items():
        refresh.add_argument(option, default=argparse.SUPPRESS, **kwargs)
    from freemodels.cli import providers_add

    providers_add.add_parser(actions, _GLOBALS)
    return parser


_GLOBALS: dict[str, dict[str, Any]] = {
    "--demo": {"action": "store_true", "help": "run on the built-in simulated fleet"},
    "--catalog": {"metavar": "PATH", "help": "use this catalog instead of the bundled one"},
    "--debug": {"metavar": "FILE", "help": "write a redacted debug log to FILE"},
}


def run(args: argparse.Namespace) -> int:
    """List the catalog, or refresh it from the providers' live model lists."""
    from freemodels.cli.context import load_catalog_for, open_context

    if getattr(args, "providers_action", None) == "add":
        from freemodels.cli import providers_add

        return providers_add.run(args)
    if getattr(args, "providers_action", None) == "refresh":
        with open_context(args) as ctx:
            return _refresh(ctx, args.provider, add_new=args.add_new)
    if getattr(args, "demo", False):
        with open_context(args) as ctx:
            catalog = ctx.catalog
    else:
        # Listing needs no key: skip the key stores (and their warnings) entirely.
        catalog = load_catalog_for(args)
    _warn_lint(catalog)
    if args.json:
        from freemodels.cli.render import print_json

        print_json([provider_record(p) for p in catalog.providers])
    else:
        _print_table(catalog)
    return 0


def provider_record(provider: Provider) -> dict[str, Any]:
    """The JSON record of one provider (`providers --json`)."""
    return {
        "id": provider.id,
        "name": provider.name,
        "base_url": provider.base_url,
        "api_key_env": list(provider.api_key_env),
        "signup_url": provider.signup_url,
        "key_required": provider.key_required,
        "rpm": provider.rpm,
        "rpd": provider.rpd,
        "budget": provider.budget_id,
        "free": provider.free,
        "until": provider.until.isoformat() if provider.until else None,
        "verified": provider.verified.isoformat() if provider.verified else None,
        "models": [model_record(m) for m in provider.models],
    }


def model_record(model: Model) -> dict[str, Any]:
    """The JSON record of one model (`providers --json`)."""
    return {
        "id": model.id,
        "name": model.name,
        "context": model.context,
        "max_output": model.max_output,
        "tier": model.tier,
        "swe_bench": model.swe_bench,
        "reasoning": model.reasoning,
        "tool_calls": model.tool_calls,
        "rpd": model.rpd,
        "until": model.until.isoformat() if model.until else None,
    }


def limits_text(rpm: int | None, rpd: int | None) -> str:
    """`30/min · 1,000/day`, or a dash when the catalog sets no cap."""
    parts = [f"{rpm:,}/min" if rpm else "", f"{rpd:,}/day" if rpd else ""]
    return " · ".join(p for p in parts if p) or "–"


def free_text(provider: Provider) -> str:
    """The kind of free use in words: `free tier`, `trial credit` or `keyless`."""
    return {"tier": "free tier", "trial": "trial credit", "keyless": "keyless"}.get(
        provider.free, provider.free
    )


def _warn_lint(catalog: Catalog) -> None:
    # A user overlay is checked like the bundled file, but its faults are warnings here:
    # listing the catalog should still work while the user fixes them.
    from freemodels.core.catalog.lint import validate_catalog

    for problem in validate_catalog(catalog):
        print(f"freemodels: warning: catalog: {problem}", file=sys.stderr)


def _print_table(catalog: Catalog) -> None:
    from rich.table import Table

    from freemodels.cli.render import stdout_console

    table = Table(header_style="bold")
    table.add_column("provider")
    table.add_column("name")
    table.add_column("models", justify="right")
    table.add_column("key variable(s)")
    table.add_column("free")
    table.add_column("free limits")
    table.add_column("verified")
    table.add_column("sign-up")
    for p in catalog.providers:
        keys = ", ".join(p.api_key_env) + ("" if p.key_required else " (optional)")
        verified = p.verified.isoformat() if p.verified else "–"
        table.add_row(
            p.id,
            p.name,
            str(len(p.models)),
            keys,
            free_text(p),
            limits_text(p.rpm, p.rpd),
            verified,
            p.signup_url,
        )
    stdout_console().print(table)


def _refresh(ctx: Context, provider_id: str | None, *, add_new: bool) -> int:
    from freemodels.errors import UsageError

    providers: Sequence[Provider] = ctx.catalog.providers
    if provider_id is not None:
        chosen = ctx.catalog.provider(provider_id)
        if chosen is None:
            known = ", ".join(p.id for p in providers)
            raise UsageError(f"unknown provider {provider_id!r}", f"known providers: {known}")
        providers = [chosen]
    import asyncio  # only here: listing the catalog needs no event loop

    results = asyncio.run(_refresh_all(ctx, providers, add_new=add_new))
    return _report(results)


async def _refresh_all(
    ctx: Context, providers: Sequence[Provider], *, add_new: bool
) -> list[RefreshResult]:
    import asyncio

    from freemodels import paths
    from freemodels.core.catalog.refresh import refresh_provider, write_overlay
    from freemodels.core.monitor.budget import RequestGate
    from freemodels.core.monitor.ledger_select import open_ledger
    from freemodels.core.probe.clients import ClientPool
    from freemodels.core.store.history import History

    history = History(ctx.history_path)
    try:
        gate = RequestGate(open_ledger(history.db, ctx.catalog.providers, ctx.keys))
        async with ClientPool() as pool:
            results = await asyncio.gather(
                *(
                    refresh_provider(
                        p,
                        pool.client(p.resolve_base_url(ctx.env) or p.base_url),
                        ctx.keys.resolve(p),
                        gate,
                        add_new=add_new,
                        env=ctx.env,
                    )
                    for p in providers
                )
            )
    finally:
        history.close()
    if not ctx.demo:
        # The demo fleet's models never belong in the user's real overlay.
        added = write_overlay(paths.overlay_catalog_path(), {r.provider: r.add for r in results})
        if added:
            print(f"added {added} model(s) to {paths.overlay_catalog_path()}", file=sys.stderr)
    return list(results)


def _report(results: Sequence[RefreshResult]) -> int:
    # One line per provider on stdout (the result); failures go to stderr (diagnostics).
    for r in results:
        if not r.ok:
            print(f"{r.provider}: failed: {r.error}", file=sys.stderr)
            continue
        line = f"{r.provider}: {r.listed} listed"
        if r.not_listed:
            line += f"; not_listed: {', '.join(r.not_listed)}"
        added = {m.id for m in r.add}
        if added:
            line += f"; added: {', '.join(sorted(added))}"
        offered = [m.id for m in r.new if m.id not in added]
        if offered:
            label = "new free" if r.kind == "marked" else "new"
            line += f"; {label} (add with --add-new): {', '.join(offered)}"
        print(line)
    return 0
