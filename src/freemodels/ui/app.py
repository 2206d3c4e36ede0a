"""The freemodels dashboard app: wires a snapshot source, the services and the screens.

The monitor runs on its own thread and event loop; it posts each Snapshot here as a
`SnapshotReady` message, and the app applies at most one every `refresh_s` (the newest wins), so
a busy fleet never floods the terminal. The first measured TTFT is shown the moment it arrives.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import ClassVar

from textual import constants as textual_constants
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyStatus
from freemodels.core.records import ProbeKind, Snapshot
from freemodels.errors import FreemodelsError
from freemodels.ui.messages import (
    HistoryRequested,
    KeysLoaded,
    KeysRequested,
    MonitorFailed,
    PreferencesChanged,
    ProbeRequested,
    RhythmsLoaded,
    SnapshotReady,
    UseRequested,
)
from freemodels.ui.preferences import THEMES, Preferences
from freemodels.ui.screens.dashboard import ACTIONS, DashboardScreen
from freemodels.ui.screens.help import HelpScreen
from freemodels.ui.services import Services
from freemodels.ui.source import SnapshotSource

# At most one update every 2 s: each model is probed about once a minute, so on the real catalog
# a result lands every second or so, and redrawing for each was most of an idle dashboard's CPU.
# The first measured TTFT, keys and the user's own actions are drawn at once all the same.
REFRESH_S = 2.0
TICK_S = 1.0  # countdowns (rate-limit pauses) advance between Snapshots
KEYS_DELAY_S = 1.0  # the key statuses load after the first measured row, or after this
RHYTHMS_DELAY_S = 2.0  # trends and fastest hours: once the first rows are drawn
RHYTHMS_EVERY_S = 600.0  # then as often as the rollups change (the monitor prunes every 10 min)

log = logging.getLogger("freemodels.ui")


class DashboardApp(App[None]):
    """`freemodels`: the live ranking of free LLM endpoints."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "freemodels"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(
        self,
        source: SnapshotSource,
        catalog: Catalog,
        services: Services,
        prefs: Preferences | None = None,
        *,
        demo: bool = False,
        clock: Callable[[], float] = time.time,
        refresh_s: float = REFRESH_S,
        tick_s: float | None = TICK_S,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.catalog = catalog
        self.services = services
        self.prefs = prefs or Preferences()
        self.demo = demo
        self.clock = clock
        self.refresh_s = refresh_s
        self.tick_s = tick_s
        self.notice = notice
        self.key_statuses: tuple[KeyStatus, ...] = ()
        self._pending: Snapshot | None = None
        self._applied_at = -1e9
        self._timer: Timer | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._keys_requested = False
        self._keys_timer: Timer
        self._rhythms_shown = False
        self.updates = 0
        """Snapshots applied to the screen (tests and benchmarks read it)."""
        self.theme = self.prefs.theme if self.prefs.theme in self.available_themes else THEMES[0]

    # -- lifecycle -----------------------------------------------------------------------------

    def get_driver_class(self) -> type[Driver]:
        driver = super().get_driver_class()
        # A driver named in TEXTUAL_DRIVER (textual-serve's, for the web view) is kept. Compared
        # by name: textual.drivers.linux_driver does not import on Windows.
        linux = (driver.__module__, driver.__name__) == (
            "textual.drivers.linux_driver",
            "LinuxDriver",
        )
        if linux and textual_constants.DRIVER is None:
            # The same driver, minus its input thread's ten wake-ups a second (ui/driver.py).
            from freemodels.ui.driver import QuietLinuxDriver

            return QuietLinuxDriver
        return driver

    def get_default_screen(self) -> Screen[None]:
        screen = DashboardScreen(self.catalog, self.prefs, demo=self.demo)
        screen.now = self.clock
        screen.env = self.services.env
        return screen

    @property
    def dashboard(self) -> DashboardScreen:
        """The main screen (whatever modal is on top of it)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, DashboardScreen)
        return screen

    def _screens_gone(self) -> bool:
        # Messages from threads (snapshots, keys, rhythms) may land while the app is closing,
        # after its screens are gone: there is nothing to show them on then.
        return not self.screen_stack

    def on_mount(self) -> None:
        log.debug("startup: the dashboard is mounted")
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._unsubscribe = self.source.subscribe(self._from_source)
        self.source.set_favourites(sorted(self.prefs.favourites))
        self.dashboard.take(self.source.snapshot)
        self._applied_at = time.monotonic()
        # The key chain may load the OS keyring (a tenth of a second of imports): not while the
        # first probes are answering, but once their row is drawn, or after a second anyway.
        self._keys_timer = self.set_timer(KEYS_DELAY_S, self._after_first_row)
        if _first_measurement(None, self.source.snapshot):
            # Rows from history or another monitor: nothing to wait for.
            self._load_keys_once()
            self.call_after_refresh(self._after_first_row)
        if self.tick_s:
            self.set_interval(self.tick_s, self._tick)
        self.set_timer(RHYTHMS_DELAY_S, self.load_rhythms)
        self.set_interval(RHYTHMS_EVERY_S, self.load_rhythms)
        if self.notice:
            self.notify(self.notice, severity="warning", timeout=10)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _from_source(self, snapshot: Snapshot) -> None:
        # Runs on the monitor's thread: post_message is thread-safe, and the message collapses.
        self.post_message(SnapshotReady(snapshot))

    # -- snapshots -----------------------------------------------------------------------------

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if self._screens_gone():
            return
        self._pending = message.snapshot
        waited = time.monotonic() - self._applied_at
        if waited >= self.refresh_s or _first_measurement(self.dashboard.snapshot, self._pending):
            self._apply()
        elif self._timer is None:
            self._timer = self.set_timer(self.refresh_s - waited, self._apply)

    def _apply(self) -> None:
        self._timer = None
        if self._screens_gone() or self._dashboard_hidden():
            return  # kept in `_pending`: applied when the dashboard shows again
        snapshot, self._pending = self._pending, None
        if snapshot is None:
            return
        if _first_measurement(self.dashboard.snapshot, snapshot):
            log.debug("startup: the first measured row is drawn")
            self.call_after_refresh(self._after_first_row)
        self._applied_at = time.monotonic()
        self.updates += 1
        self.dashboard.take(snapshot)

    def _dashboard_hidden(self) -> bool:
        """An opaque screen (the history) covers the dashboard: redrawing it would show nothing
        and take the UI thread from that screen twice a second."""
        top = self.screen
        return top is not self.dashboard and top.styles.background.a >= 1

    def _shown_again(self, _: object = None) -> None:
        # The screen's result callback may run before the screen is off the stack.
        self.call_after_refresh(self._apply_held)

    def _apply_held(self) -> None:
        if self._pending is not None and self._timer is None:
            self._apply()

    def _tick(self) -> None:
        if self._screens_gone() or self._dashboard_hidden():
            return
        snapshot = self.dashboard.snapshot
        if snapshot is None:
            return
        # One more render after a pause ends clears its countdown.
        since = self.clock() - (self.tick_s or 0.0)
        paused = (b.paused_until for b in snapshot.budgets.values())
        if any(until is not None and until > since for until in paused):
            self.dashboard.render_snapshot()

    def on_monitor_failed(self, message: MonitorFailed) -> None:
        self.notify(message.text, title="Monitor stopped", severity="error", timeout=30)

    def _after_first_row(self) -> None:
        """What the first frame does without: the key hints, the key chain (a tenth of a
        second of keyring imports), once the first measured row is drawn or a second passed."""
        if self._screens_gone():
            return
        self.dashboard.show_footer()
        self._load_keys_once()

    # -- keys ----------------------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, group="keys")
    def _load_keys_once(self) -> None:
        if not self._keys_requested:
            self._keys_requested = True
            self._keys_timer.stop()
            self.load_keys()

    def load_keys(self) -> None:
        """Read the key chain off the UI thread (keyring may prompt or stall)."""
        self.post_message(KeysLoaded(self.services.key_statuses()))

    def on_keys_loaded(self, message: KeysLoaded) -> None:
        if self._screens_gone():
            return
        changed = bool(self.key_statuses) and _fingerprint(self.key_statuses) != _fingerprint(
            message.statuses
        )
        self.key_statuses = message.statuses
        self.dashboard.set_keys(message.statuses)
        if changed:
            # A key was added or removed: measure with it now rather than at the next turn.
            self.source.probe_now(None)

    def on_keys_requested(self, _: KeysRequested) -> None:
        """Push the provider keys screen (its module loads on first use)."""
        from freemodels.ui.screens.keys import KeysScreen

        self.push_screen(KeysScreen(self.services, self.key_statuses), self._keys_closed)

    def _keys_closed(self, _: None) -> None:
        self.load_keys()

    # -- history -------------------------------------------------------------------------------

    def on_history_requested(self, message: HistoryRequested) -> None:
        """Push the model's history screen (its module, and plotext, load on first use)."""
        from freemodels.ui.screens.history import HistoryScreen

        found = self.catalog.provider(message.ref.provider)
        model = found.model(message.ref.model) if found else None
        name = model.name if model else message.ref.model
        now = self.clock()
        self.push_screen(
            HistoryScreen(
                message.ref,
                name,
                lambda: self.services.model_history(message.ref, now),
                lambda: self.services.provider_heatmap(message.ref.provider, now),
            ),
            self._shown_again,
        )

    @work(thread=True, exit_on_error=False, group="rhythms", exclusive=True)
    def load_rhythms(self) -> None:
        """Read every model's trend and fastest hours off the UI thread."""
        rhythms = self.services.rhythms(self.clock())
        if rhythms or self._rhythms_shown:
            self.post_message(RhythmsLoaded(rhythms))
        # The history screen's module (and plotext, ~0.2 s of imports) loads here, in a thread
        # after the first rows, so the first `h` does not wait for it; never at launch.
        importlib.import_module("freemodels.ui.screens.history")

    def on_rhythms_loaded(self, message: RhythmsLoaded) -> None:
        if self._screens_gone() or not self.dashboard.is_mounted:
            return
        self._rhythms_shown = bool(message.rhythms)
        self.dashboard.set_rhythms(message.rhythms)

    # -- requests for the monitor and tool configs ---------------------------------------------

    def on_probe_requested(self, message: ProbeRequested) -> None:
        """Hand a re-probe, speed test or tool-call test to the snapshot source."""
        ref = message.ref
        if message.kind is ProbeKind.SPEED and ref is not None:
            self.source.speed_test(ref)
        elif message.kind is ProbeKind.TOOLS and ref is not None:
            self.source.tool_test(ref)
        else:
            self.source.probe_now(ref)

    def on_use_requested(self, message: UseRequested) -> None:
        """Push the dry-run diff of writing the model (or the router) into the target tool."""
        from freemodels.ui.screens.use import UseScreen

        self.push_screen(UseScreen(self.services, message.tool, message.ref))

    # -- preferences ---------------------------------------------------------------------------

    def on_preferences_changed(self, message: PreferencesChanged) -> None:
        """Remember and persist new preferences (in a worker: it writes a file); new favourites
        go to the monitor, which probes them first."""
        prefs = message.prefs
        if prefs.favourites != self.prefs.favourites:
            self.source.set_favourites(sorted(prefs.favourites))
        self.prefs = prefs
        self.save_preferences()

    @work(thread=True, exit_on_error=False, group="preferences", exclusive=True)
    def save_preferences(self) -> None:
        """Write the newest preferences off the UI thread."""
        # Overlapping saves finish in any order: each writes the newest preferences (not the
        # ones of its key press), so the last to finish leaves the file as the user left it.
        self.services.save_preferences(self.prefs)

    def _theme_changed(self, theme: object) -> None:
        if self.prefs.theme != self.theme:
            self.dashboard.prefs = self.prefs = _with_theme(self.prefs, self.theme)
            self.save_preferences()

    def action_toggle_dark(self) -> None:
        """Switch between the dark and the light theme."""
        self.theme = THEMES[1] if self.current_theme.dark else THEMES[0]

    # -- help, palette, errors -----------------------------------------------------------------

    def action_help(self) -> None:
        """Show every key."""
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen([(a.shown, a.text) for a in ACTIONS]))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Toggle light/dark", "Switch theme", self.action_toggle_dark)
        for a in ACTIONS:
            if not a.action or a.action in ("quit", "help"):
                continue
            title = a.text.split(" (")[0]
            yield SystemCommand(
                title[0].upper() + title[1:],
                f"key: {a.shown}",
                partial(self._dashboard_action, a.action),
            )
        yield SystemCommand("Help", "key: ?", self.action_help)

    def _dashboard_action(self, action: str) -> None:
        self.call_later(self.dashboard.run_action, action)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Workers run with exit_on_error=False: a failure becomes a notification, never a crash.
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, FreemodelsError):
            self.notify(str(error), severity="error", timeout=8)
        else:
            self.notify(f"{type(error).__name__}: {error}", title="Error", severity="error")


def _with_theme(prefs: Preferences, theme: str) -> Preferences:
    from dataclasses import replace

    return replace(prefs, theme=theme)


def _fingerprint(statuses: tuple[KeyStatus, ...]) -> set[tuple[str, str | None, str | None]]:
    return {(s.provider_id, s.source, s.masked) for s in statuses}


def _first_measurement(shown: Snapshot | None, new: Snapshot) -> bool:
    """Whether `new` brings the first measured TTFT (shown at once: launch-to-first-row)."""
    if shown is not None and any(row.ttft_ms is not None for row in shown.rows):
        return False
    return any(row.ttft_ms is not None for row in new.rows)
