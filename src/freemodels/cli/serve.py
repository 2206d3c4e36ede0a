"""`freemodels serve`: the monitor, headless, with metrics, the web dashboard and the router.

Metrics are on by default (127.0.0.1:9464; `--no-metrics` turns them off); the web dashboard
only with `--web` (127.0.0.1:8765 when no address follows), the router only with `--router`
(127.0.0.1:8766). Loopback needs no token; any other bind address gets a random access token,
printed once. SIGINT or SIGTERM stops the monitor,
which flushes the history, and the command exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from freemodels.cli.context import Context, open_context
from freemodels.core.catalog.parse import Catalog
from freemodels.core.monitor.config import MonitorConfig
from freemodels.core.monitor.monitor import Monitor
from freemodels.core.monitor.scheduler import Cadence
from freemodels.errors import UsageError
from freemodels.servers.address import Address, outward_host, parse_address

if TYPE_CHECKING:
    from freemodels.servers.router.app import RouterServer
    from freemodels.servers.web.dashboard import WebDashboard

DEFAULT_METRICS = "127.0.0.1:9464"
DEFAULT_WEB = "127.0.0.1:8765"
DEFAULT_ROUTER = "127.0.0.1:8766"


def address(text: str) -> Address:
    """argparse type: HOST:PORT."""
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def public_url(text: str) -> str:
    """argparse type: an absolute http(s) URL without query or fragment."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"expected http(s)://HOST[:PORT][/PATH], got {text!r}")
    return text.rstrip("/")


def interval_seconds(text: str) -> float:
    """argparse type: seconds between two probes of one model (at least 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 1.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be at least 1 second, got {text}")
    return value


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `serve`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run the monitor headless, with Prometheus metrics, a web dashboard, a router",
        description="Run the monitor until SIGINT/SIGTERM. Metrics are on by default; "
        "the web dashboard only with --web.",
    )
    parser.add_argument(
        "--metrics", type=address, default=parse_address(DEFAULT_METRICS), metavar="HOST:PORT",
        help=f"serve Prometheus metrics at http://HOST:PORT/metrics (default {DEFAULT_METRICS})",
    )  # fmt: skip
    parser.add_argument("--no-metrics", action="store_true", help="do not serve metrics")
    parser.add_argument(
        "--interval", type=interval_seconds, metavar="S",
        help=f"probe one model at most every S seconds (default {Cadence().min_interval_s:g}, "
        "5 with --demo); the providers' rate budgets still cap every request",
    )  # fmt: skip
    parser.add_argument(
        "--web", type=address, nargs="?", const=parse_address(DEFAULT_WEB), metavar="HOST:PORT",
        help=f"serve the dashboard to browsers (default address {DEFAULT_WEB}); "
        "beyond loopback it requires the access token printed at start",
    )  # fmt: skip
    add_router_option(parser)
    parser.add_argument(
        "--public-url", type=public_url, metavar="URL",
        help="the URL browsers reach the dashboard at (behind a proxy, or for 0.0.0.0)",
    )  # fmt: skip
    return parser


def add_router_option(parser: argparse.ArgumentParser) -> None:
    """The `--router [HOST:PORT]` option."""
    parser.add_argument(
        "--router", type=address, nargs="?", const=parse_address(DEFAULT_ROUTER),
        metavar="HOST:PORT",
        help=f"serve the router, one OpenAI and Anthropic endpoint that answers from the best "
        f"model now (default address {DEFAULT_ROUTER}); beyond loopback it requires the token "
        "printed at start",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Monitor until a signal; serve metrics and the web dashboard meanwhile."""
    if args.public_url and not args.web:
        raise UsageError("--public-url needs --web", "add --web HOST:PORT")
    with open_context(args) as ctx:
        return asyncio.run(_serve(ctx, args))


async def _serve(ctx: Context, args: argparse.Namespace) -> int:
    from aiohttp import web

    overrides: dict[str, Any] = {"role": "serve"}
    if args.interval is not None:
        overrides["cadence"] = Cadence(min_interval_s=args.interval)
    config = MonitorConfig.for_demo(ctx.demo, **overrides)
    monitor = Monitor(ctx.catalog, ctx.keys, ctx.history_path, config)
    runners: list[web.AppRunner] = []
    dashboard: WebDashboard | None = None
    router: RouterServer | None = None
    try:
        lines = [_summary(ctx)]
        from freemodels.core.monitor.ledger_config import ledger_settings

        ledger = ledger_settings()
        if ledger.url is not None:
            lines.append(f"request ledger: {ledger.shown_url} (budgets shared with the team)")
        if args.router is not None:
            router = _router(ctx, monitor, args.router)
            await router.start()
            monitor.advertise_router(router.url)
            lines.append(f"router: {router.url}/v1 (OpenAI; model auto, auto:tools or "
                         f"provider/model) · ANTHROPIC_BASE_URL={router.url}")  # fmt: skip
            if router.token:
                lines.append(f"  router token (shown only now): {router.token}")
        if not args.no_metrics:
            from freemodels.servers.listen import start_site
            from freemodels.servers.metrics import (
                SnapshotCollector,
                build_registry,
                metrics_app,
            )

            collector = SnapshotCollector(ledger=monitor.ledger_status)
            monitor.subscribe(collector.observe)
            registry = build_registry(collector)
            if router is not None:
                registry.register(router.metrics)
            runner, bound = await start_site(metrics_app(registry), args.metrics, "--metrics")
            runners.append(runner)
            lines.append(f"metrics: {bound.url('/metrics')}")
        if args.web:
            dashboard = _web_dashboard(ctx, args)
            bound = await dashboard.start()
            host = outward_host() if bound.is_wildcard else None
            lines.append(f"web dashboard: {dashboard.url(host)}")
            if dashboard.token:
                lines.append("  (the token is shown only now; anyone with this URL can use it)")
        _say(*lines)

        async def before_stop() -> None:
            # Sessions and routed requests end before the monitor they feed.
            if router is not None:
                await router.stop()
            if dashboard is not None:
                await dashboard.stop()

        await run_until_signalled(monitor, before_stop)
    finally:
        if router is not None:
            await router.stop()
        if dashboard is not None:
            await dashboard.stop()
        for runner in runners:
            await runner.cleanup()
    _say("freemodels serve: stopped; history flushed")
    return 0


def _router(ctx: Context, monitor: Monitor, where: Address) -> RouterServer:
    from freemodels.paths import router_config_path
    from freemodels.servers.router.app import RouterServer
    from freemodels.servers.router.deadlines import load_client_timeouts
    from freemodels.servers.router.groups import load_groups

    groups = load_groups(router_config_path(), ctx.catalog)
    timeouts = load_client_timeouts(router_config_path())
    token = None if where.is_loopback else secrets.token_urlsafe(24)
    server = RouterServer(
        ctx.catalog,
        ctx.keys,
        lambda: monitor.snapshot,
        monitor.record,
        where,
        history_path=ctx.history_path,
        token=token,
        groups=groups,
        client_timeouts=timeouts,
    )
    if where.is_wildcard:
        server.public_host = outward_host()
    return server


def _web_dashboard(ctx: Context, args: argparse.Namespace) -> WebDashboard:
    from freemodels.servers.web.dashboard import WebDashboard

    where: Address = args.web
    token = None if where.is_loopback else secrets.token_urlsafe(24)
    return WebDashboard(
        dashboard_argv(args),
        key_variables(ctx.catalog),
        where,
        token=token,
        public_url=args.public_url,
    )


def dashboard_argv(args: argparse.Namespace) -> list[str]:
    """The command each browser session runs: this Python's `freemodels` dashboard."""
    argv = [sys.executable, "-m", "freemodels"]
    if getattr(args, "demo", False):
        argv.append("--demo")
    if getattr(args, "catalog", None):
        argv += ["--catalog", str(Path(args.catalog).resolve())]
    return argv


def key_variables(catalog: Catalog) -> set[str]:
    """Every environment variable the catalog reads keys or URL parts from."""
    names: set[str] = set()
    for provider in catalog.providers:
        names.update(provider.api_key_env)
        names.update(provider.url_variables)
    return names


async def run_until_signalled(
    monitor: Monitor, before_stop: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Run the monitor until SIGINT or SIGTERM (or until it stops by itself).

    `before_stop` runs first on a signal: web sessions end before the monitor they attach to,
    or one of them would take over probing for its last seconds.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    task = asyncio.create_task(monitor.run())
    try:
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if before_stop is not None:
            await before_stop()
        # stop() before run() has set up its loop would be lost: repeat until it ends.
        while not task.done():
            monitor.stop()
            await asyncio.wait({task}, timeout=0.5)
        await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _summary(ctx: Context) -> str:
    models = sum(1 for _ in ctx.catalog.models())
    return (
        f"freemodels serve: monitoring {models} models of {len(ctx.catalog.providers)} "
        f"providers; history in {ctx.history_path}"
    )


def _say(*lines: str) -> None:
    # Addresses and progress are diagnostics, not a result: stderr.
    for line in lines:
        print(line, file=sys.stderr, flush=True)
