"""Save the README's picture of the dashboard: the real app on the demo fleet, as an SVG.

    python scripts/screenshot.py                        # writes docs/dashboard.svg
    python scripts/screenshot.py --output x.svg --size 120x32 --samples 3

The simulated fleet starts on 127.0.0.1 and the monitor probes it as `freemodels --demo` does;
once the top model has `--samples` ok samples and most rows are measured, Textual saves what the
terminal shows. Nothing of the user's is read or written: the history goes to a temporary
directory and no key store is consulted. The numbers differ from run to run (they are measured);
tests/test_screenshot.py checks that the script still produces a ranked dashboard.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "dashboard.svg"


def size(text: str) -> tuple[int, int]:
    """`120x32` as (columns, lines)."""
    columns, _, lines = text.partition("x")
    return int(columns), int(lines)


async def shoot(terminal: tuple[int, int], samples: int, wait_s: float) -> tuple[str, int]:
    """Run the dashboard until the ranking is measured; the SVG and the rows measured."""
    from freemodels.cli.context import open_context
    from freemodels.cli.dashboard import MonitorThread
    from freemodels.core.monitor.config import MonitorConfig
    from freemodels.core.monitor.monitor import Monitor
    from freemodels.ui.app import DashboardApp
    from freemodels.ui.services import Services

    with tempfile.TemporaryDirectory() as tmp, open_context(argparse.Namespace(demo=True)) as ctx:
        context = replace(ctx, history_path=Path(tmp) / "history-demo.sqlite3")
        monitor = Monitor(
            context.catalog, context.keys, context.history_path, MonitorConfig.for_demo(True)
        )
        thread = MonitorThread(monitor)
        thread.start()
        try:
            services = Services(context.catalog, context.keys, context.history_path)
            app = DashboardApp(monitor, context.catalog, services, demo=True)
            async with app.run_test(size=terminal) as pilot:
                try:
                    async with asyncio.timeout(wait_s):
                        while not _ready(app, samples):
                            await pilot.pause(0.5)
                except TimeoutError:
                    raise SystemExit(
                        f"the demo ranking was not measured in {wait_s:.0f} s"
                    ) from None
                await app.workers.wait_for_complete()
                await pilot.pause()
                snapshot = app.dashboard.snapshot
                measured = sum(1 for r in snapshot.rows if r.ttft_ms is not None) if snapshot else 0
                return app.export_screenshot(), measured
        finally:
            monitor.stop()
            thread.join(timeout=5)


def _ready(app: object, samples: int) -> bool:
    """The top model proven and most rows measured: the picture reads like a real session."""
    from freemodels.ui.app import DashboardApp

    assert isinstance(app, DashboardApp)
    snapshot = app.dashboard.snapshot
    if snapshot is None or not snapshot.rows:
        return False
    measured = sum(1 for row in snapshot.rows if row.ttft_ms is not None)
    return snapshot.rows[0].ok >= samples and measured * 4 >= len(snapshot.rows) * 3


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, save the screenshot, say where."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the SVG to write")
    parser.add_argument("--size", type=size, default=(120, 32), help="COLUMNSxLINES (120x32)")
    parser.add_argument("--samples", type=int, default=3, help="ok samples of the top model")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait at most")
    args = parser.parse_args(argv)
    # The picture is for people: colours on, whatever this shell asks of terminals.
    os.environ.pop("NO_COLOR", None)
    svg, measured = asyncio.run(shoot(args.size, args.samples, args.timeout))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(svg, encoding="utf-8")
    print(f"{args.output}: {measured} measured rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
