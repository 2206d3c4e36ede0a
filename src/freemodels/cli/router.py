"""`freemodels router [HOST:PORT]`: `serve --router` alone (no metrics, no web dashboard)."""

from __future__ import annotations

import argparse
from typing import Any

from freemodels.cli import serve
from freemodels.servers.address import parse_address


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `router`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "router",
        help="run the monitor with only the router: one local OpenAI and Anthropic endpoint",
        description="Same as 'freemodels serve --router HOST:PORT --no-metrics': run until "
        "SIGINT/SIGTERM.",
    )
    parser.add_argument(
        "address", type=serve.address, nargs="?", default=parse_address(serve.DEFAULT_ROUTER),
        metavar="HOST:PORT", help=f"where to listen (default {serve.DEFAULT_ROUTER})",
    )  # fmt: skip
    parser.add_argument(
        "--interval", type=serve.interval_seconds, metavar="S",
        help="probe one model at most every S seconds",
    )  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    """Run `serve` with the router only."""
    args.router = args.address
    args.no_metrics = True
    args.web = None
    args.public_url = None
    args.metrics = None
    return serve.run(args)
