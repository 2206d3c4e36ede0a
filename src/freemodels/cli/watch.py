"""`freemodels watch --json-lines`: one JSON record per model update, until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from freemodels.cli.context import open_context
from freemodels.cli.serve import run_until_signalled
from freemodels.cli.updates import UpdateWriter
from freemodels.core.monitor.config import MonitorConfig
from freemodels.core.monitor.monitor import Monitor
from freemodels.core.records import Snapshot


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `watch`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "watch",
        help="print one JSON object per model update until interrupted",
        description="Run (or attach to) the monitor and print a model's record, with the fields "
        "of 'check --json', each time it has a new latest sample; one line each, flushed.",
    )
    parser.add_argument(
        "--json-lines", action="store_true", required=True,
        help="one JSON object per line (the only format)",
    )  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    """Print updates until SIGINT/SIGTERM or a closed pipe; exit 0."""
    with open_context(args) as ctx:
        monitor = Monitor(
            ctx.catalog, ctx.keys, ctx.history_path, MonitorConfig.for_demo(ctx.demo, role="watch")
        )
        writer = UpdateWriter(sys.stdout)
        closed = False

        def observe(snapshot: Snapshot) -> None:
            nonlocal closed
            if closed:
                return
            try:
                writer.observe(snapshot)
            except BrokenPipeError:
                # The reader went away (`| head`): stop as if interrupted.
                closed = True
                monitor.stop()

        monitor.subscribe(observe)
        asyncio.run(run_until_signalled(monitor))
    if closed:
        # Python would flush stdout once more at exit and complain about the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0
