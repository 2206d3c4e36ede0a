"""Noticing that time jumped: the process was stopped or the machine slept, or the wall clock
was stepped (NTP, a user setting the time).

A stop or a sleep shows as the event loop's own lag: a ticker that should run every quarter of
a second finds that far more time passed since its last run. A step shows as the wall clock
moving by a different amount than a clock that only counts time passing (Linux's
CLOCK_BOOTTIME, which also counts a suspend, so a laptop's sleep is a pause, not a step).

What the monitor does about each (see `Monitor`): after a pause, probes that were in flight
across it are discarded (their TTFT would be the pause's length, their timeout the pause's
fault) and overdue probes are spread over the normal cadence instead of all firing at once;
after a step, every time the monitor holds (sample windows, scheduler turns, the shared
ledger's request times and pauses) moves by the step, so no budget window, no window of
samples and no turn sees the clock jump.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from freemodels.core.monitor.budget import BudgetLedger, Ledger

if TYPE_CHECKING:
    from freemodels.core.monitor.scheduler import Scheduler
    from freemodels.core.monitor.windows import SampleWindows

log = logging.getLogger("freemodels.monitor")

TICK_S = 0.25
"""How often the monitor's ticker runs."""
PAUSE_S = 10.0
"""Lag beyond a tick that counts as a pause: a loaded 2-core machine delays a loop by seconds at
times, and a false pause would discard good results; a closed lid or a stop lasts longer (a
shorter one records TTFTs of a few seconds at worst, as a slow answer would)."""
STEP_S = 2.0
"""Disagreement between the wall clock and elapsed time that counts as a step."""


def elapsed_clock() -> Callable[[], float]:
    """Seconds passing, also while the machine sleeps, never stepped (CLOCK_BOOTTIME on Linux;
    elsewhere `time.monotonic`, with which a sleep looks like a forward step)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return functools.partial(time.clock_gettime, boottime)
    return time.monotonic


@dataclass(frozen=True, slots=True)
class Gap:
    """Time that jumped since the previous check."""

    paused_s: float
    """Seconds the event loop did not run beyond its tick (0 when it ran on time)."""
    step_s: float
    """How far the wall clock moved beyond elapsed time: + forward, - back (0 when it did not)."""


class GapWatch:
    """Compares two clocks at every check; each gap found bumps `epoch`."""

    def __init__(
        self,
        wall: Callable[[], float],
        elapsed: Callable[[], float],
        *,
        tick_s: float = TICK_S,
        pause_s: float = PAUSE_S,
        step_s: float = STEP_S,
    ) -> None:
        self._wall = wall
        self._elapsed = elapsed
        self._tick_s = tick_s
        self._pause_s = pause_s
        self._step_s = step_s
        self._last_wall = wall()
        self._last_elapsed = elapsed()
        self.epoch = 0
        """How many gaps were found: a probe that sees it change while in flight is discarded."""

    def check(self) -> Gap | None:
        """The gap since the previous check, if time jumped (call often: from a ticker, and
        whenever a result arrives, which may run before the ticker on resuming)."""
        wall, elapsed = self._wall(), self._elapsed()
        passed = elapsed - self._last_elapsed
        step = (wall - self._last_wall) - passed
        self._last_wall, self._last_elapsed = wall, elapsed
        paused = passed - self._tick_s
        if paused <= self._pause_s and abs(step) <= self._step_s:
            return None
        self.epoch += 1
        return Gap(
            paused_s=paused if paused > self._pause_s else 0.0,
            step_s=step if abs(step) > self._step_s else 0.0,
        )


def absorb(
    gap: Gap,
    now: float,
    windows: SampleWindows,
    scheduler: Scheduler,
    ledger: BudgetLedger | None,
) -> None:
    """What the monitor does about a gap: a step moves every time it holds (and the ledger's,
    when it is the process that probes); a pause spreads the overdue turns over the cadence."""
    if gap.step_s:
        log.warning("the wall clock stepped by %+.1f s: times held move with it", gap.step_s)
        windows.shift(gap.step_s)
        scheduler.shift(gap.step_s)
        # Only this machine's SQLite ledger moves: a team's Redis ledger is shared with
        # machines whose clocks did not step.
        if isinstance(ledger, Ledger):
            ledger.shift(gap.step_s)
    if gap.paused_s:
        log.warning(
            "the monitor did not run for %.1f s (stopped or asleep): probes in flight are "
            "discarded, overdue ones spread over the cadence",
            gap.paused_s,
        )
        scheduler.spread(now)
