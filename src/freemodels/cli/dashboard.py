"""The bare `freemodels` command: the live dashboard.

The monitor starts first, on its own thread and event loop, and only then is Textual imported
(~0.25 s): the first probes are in flight while the UI loads, so the first measured row shows as
soon as the slowest part (the endpoint itself) allows.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable

from freemodels.errors import FreemodelsError

log = logging.getLogger("freemodels.dashboard")
FIRST_PROBE_WAIT_S = 0.4


class MonitorThread(threading.Thread):
    """Runs `Monitor.run()` on a daemon thread with its own event loop."""

    def __init__(self, monitor: object) -> None:
        super().__init__(name="freemodels-monitor", daemon=True)
        self.monitor = monitor
        self.error: BaseException | None = None
        self.on_error: Callable[[str], None] | None = None

    def run(self) -> None:
        from freemodels.core.monitor.monitor import Monitor

        assert isinstance(self.monitor, Monitor)
        try:
            asyncio.run(self.monitor.run())
        except Exception as exc:  # reported to the user in the dashboard, not swallowed
            self.error = exc
            log.debug("the monitor stopped", exc_info=True)
            text = str(exc) if isinstance(exc, FreemodelsError) else f"{type(exc).__name__}: {exc}"
            if self.on_error is not None:
                self.on_error(text)


def run(args: argparse.Namespace) -> int:
    """Open the dashboard (Textual is imported only here, after the probes started)."""
    from freemodels import paths
    from freemodels.cli.context import open_context
    from freemodels.core.monitor.config import MonitorConfig
    from freemodels.core.monitor.monitor import Monitor

    # `serve --web` runs the dashboard through pipes, with Textual's web driver.
    if not sys.stdout.isatty() and not os.environ.get("TEXTUAL_DRIVER"):
        raise FreemodelsError(
            "the dashboard needs a terminal", "use 'freemodels check' or 'freemodels watch' instead"
        )
    log.debug("startup: arguments parsed")
    with open_context(args, interactive=True) as context:
        log.debug("startup: catalog and keys ready")
        monitor = Monitor(
            context.catalog, context.keys, context.history_path,
            MonitorConfig.for_demo(context.demo),
        )  # fmt: skip
        thread = MonitorThread(monitor)
        thread.start()
        # Let the first probes leave before Textual's import (a quarter second of CPU) competes
        # with the monitor for the interpreter: the UI then loads while the endpoints answer.
        # With rows from the history and nothing due, there is nothing to wait for.
        monitor.first_probe.wait(FIRST_PROBE_WAIT_S)
        log.debug("startup: first probe sent: %s", monitor.first_probe.is_set())
        try:
            from freemodels.ui import preferences
            from freemodels.ui.app import DashboardApp
            from freemodels.ui.messages import MonitorFailed
            from freemodels.ui.services import Services

            log.debug("startup: the UI is imported")
            prefs, warning = preferences.load(paths.preferences_path())
            services = Services(
                context.catalog, context.keys, context.history_path, paths.preferences_path()
            )
            app = DashboardApp(
                monitor, context.catalog, services, prefs, demo=context.demo, notice=warning
            )

            def failed(text: str) -> None:
                app.post_message(MonitorFailed(text))

            thread.on_error = failed
            if thread.error is not None:
                raise thread.error
            app.run()
        finally:
            monitor.stop()
            thread.join(timeout=5)
    return 0
