"""The continuous monitor: schedules probes, keeps rolling stats and history, publishes Snapshots.

Run it on its own event loop (the dashboard starts it in a thread worker; `serve` in the main
thread). Its public methods are safe to call from any thread. Subscribers receive each new
immutable `Snapshot`, at most `publish_interval_s` apart, on the monitor's thread.

While another process's monitor is alive (a heartbeat in the history database), this one
*attaches*: it reads that monitor's samples from the database instead of probing, so ten open
dashboards cost no more requests than one. It takes over if that monitor goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.broadcast import Subscriber, Subscribers
from freemodels.core.monitor.budget import BudgetLedger, RequestGate, budget_limits
from freemodels.core.monitor.config import MonitorConfig
from freemodels.core.monitor.gaps import TICK_S, GapWatch, absorb, elapsed_clock
from freemodels.core.monitor.ledger_select import budget_states, ledger_status, open_ledger
from freemodels.core.monitor.scheduler import Scheduler
from freemodels.core.monitor.stats import ModelInfo
from freemodels.core.monitor.windows import EARLIER_S, SampleWindows
from freemodels.core.probe.clients import ClientPool, TransportFactory
from freemodels.core.probe.probe import ProbeSpec
from freemodels.core.probe.prober import Prober
from freemodels.core.records import (
    BudgetState,
    Model,
    ModelRef,
    ProbeKind,
    ProbeResult,
    Provider,
    Snapshot,
)
from freemodels.core.store.history import ROUTER_ONLY_ROLE, History

log = logging.getLogger("freemodels.monitor")

HOUSEKEEPING_S = 2.0
EARLIER_SAMPLES = 20


class Monitor:
    """Probes the catalog continuously within every budget and publishes Snapshots."""

    def __init__(
        self,
        catalog: Catalog,
        keys: KeyRing,
        history_path: Path,
        config: MonitorConfig | None = None,
        *,
        transport_factory: TransportFactory | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        elapsed: Callable[[], float] | None = None,
    ) -> None:
        self.catalog = catalog
        self.keys = keys
        self.history_path = history_path
        self.config = config if config is not None else MonitorConfig()
        self._transport_factory = transport_factory
        self._clock = clock
        self._sleep = sleep
        # Pauses and clock steps are watched with a clock that only counts time passing; a test
        # that injects `clock` alone (an accelerated soak) has no second clock to compare with.
        if elapsed is None and clock is time.time:
            elapsed = elapsed_clock()
        self._gaps = GapWatch(clock, elapsed) if elapsed is not None else None
        self._windows = SampleWindows(
            (ModelInfo.of(p, m) for p, m in catalog.models()),
            self.config.window_s,
        )
        self._limits = budget_limits(catalog.providers)
        self.scheduler = Scheduler(catalog.providers, self._limits, self.config.cadence)
        self._pending: list[ProbeResult] = []
        self._subscribers = Subscribers()
        self._snapshot = Snapshot(self._clock(), self.config.window_s, ())
        self._dirty = asyncio.Event()
        self._wake = asyncio.Event()
        """Cuts the dispatcher's sleep short: a user's request, a budget free again, a pause."""
        self._first_ttft = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._requests: deque[tuple[ModelRef | None, ProbeKind]] = deque()
        self._probes: set[asyncio.Task[None]] = set()
        self._favourites: tuple[ModelRef, ...] = ()
        self._attached = False
        self._history: History | None = None
        self._ledger: BudgetLedger | None = None
        self._router: str | None = None
        self._live_router: str | None = None
        self.probes_sent = 0
        self.discarded = 0
        """Results thrown away because they were in flight across a pause or a clock step."""
        self.first_probe = threading.Event()
        """Set once the first pass's probes are handed to the network, or there is none to send
        (the dashboard loads its UI after that: the monitor then mostly waits on the network)."""
        self._unsent = 0
        self._sent = asyncio.Event()  # first_probe, seen from the loop

    # -- public, thread-safe -------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The newest Snapshot."""
        return self._snapshot

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback` with every new Snapshot; returns the unsubscribe function."""
        return self._subscribers.add(callback)

    def probe_now(self, ref: ModelRef | None = None) -> None:
        """Re-probe one model (or every model) as soon as its budget allows."""
        self._request(ref, ProbeKind.PROBE)

    def speed_test(self, ref: ModelRef) -> None:
        """Measure one model's decode speed as soon as its budget allows."""
        self._request(ref, ProbeKind.SPEED)

    def tool_test(self, ref: ModelRef) -> None:
        """Check one model's function calling as soon as its budget allows."""
        self._request(ref, ProbeKind.TOOLS)

    def set_favourites(self, refs: Iterable[ModelRef]) -> None:
        """Models to probe first within each turn."""
        self._favourites = tuple(refs)

    def record(self, result: ProbeResult) -> None:
        """Take a sample measured elsewhere in this process (a routed request): it counts for
        health and ranking like a probe, and the model needs no probe for a while."""
        self._call(lambda: self._take_routed(result))

    def advertise_router(self, url: str | None) -> None:
        """Record in the heartbeat that this process serves a router at `url`."""
        self._router = url
        self._live_router = url

    def stop(self) -> None:
        """Ask `run()` to finish (flushing history first)."""
        self._call(lambda: self._stop.set() if self._stop else None)

    def _request(self, ref: ModelRef | None, kind: ProbeKind) -> None:
        def ask() -> None:
            self._requests.append((ref, kind))
            self._wake.set()

        self._call(ask)

    def _call(self, action: Callable[[], object]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            action()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            action()
        else:
            loop.call_soon_threadsafe(action)

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Monitor until `stop()` or cancellation; history is flushed on the way out."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        history = History(self.history_path)
        self._history = history
        self._ledger = open_ledger(
            history.db,
            self.catalog.providers,
            self.keys,
            clock=self._clock,
            routed_reserve=self.config.routed_reserve,
        )
        self._ledger.router_live(self._live_router is not None)
        started = self._clock()
        self._warm_start(history)
        try:
            async with ClientPool(self._transport_factory) as pool:
                prober = Prober(pool, self.keys, RequestGate(self._ledger), wall=self._clock)
                # Keys resolve in threads (a key store may load for a while) while the clients
                # are made and the transport imported, all before the first probe's timer starts.
                prober.warm(self.catalog.providers)
                async with asyncio.TaskGroup() as group:
                    tasks = [
                        group.create_task(self._watcher()),
                        group.create_task(self._publisher()),
                        group.create_task(self._flusher(history, started)),
                        group.create_task(self._dispatcher(prober, group)),
                    ]
                    await self._stop.wait()
                    # Probes still waiting on a slow endpoint would hold the shutdown for up to
                    # their timeout: they are abandoned, unrecorded.
                    for task in [*tasks, *self._probes]:
                        task.cancel()
        finally:
            self._flush(history)
            # Best effort: a heartbeat left behind goes stale in seconds anyway.
            with contextlib.suppress(sqlite3.Error):
                history.end_beat()
            history.close()
            self._history = None

    def _warm_start(self, history: History) -> None:
        """Load the window's samples so ranks show before the first new probe; models with none
        in the window show their last day's numbers until they are probed again."""
        now = self._clock()
        windows = self._windows
        windows.resume_not_found(history.not_found_runs())
        for sample in history.samples(now - self.config.window_s):
            windows.add(sample)
            self.scheduler.seen(sample.ref, sample.started_at)
        if windows.unmeasured():
            windows.resume_earlier(history.latest_per_model(now - EARLIER_S, EARLIER_SAMPLES))
        if windows.measured():
            self._first_ttft.set()
        self._mark_dirty()

    def _take_routed(self, sample: ProbeResult) -> None:
        self._pending.append(sample)
        if self._attached:
            # The samples read back from the database include this one: adding it here too
            # would count it twice.
            return
        self._windows.add(sample)
        self.scheduler.seen(sample.ref, sample.started_at)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty.set()

    async def _dispatcher(self, prober: Prober, group: asyncio.TaskGroup) -> None:
        assert self._history is not None and self._ledger is not None
        attached_id = 0
        next_housekeeping = 0.0
        live = None
        while True:
            self._check_gaps()
            now = self._clock()
            # (A wall clock stepped back must not put it off for as long as the step.)
            if now >= next_housekeeping or next_housekeeping - now > HOUSEKEEPING_S:
                # Once in a while, not every pass: another process's heartbeat and pauses, and
                # the ranking the turns favour.
                next_housekeeping = now + HOUSEKEEPING_S
                live = self._history.live_monitor(now) if self.config.attach else None
                router = self._router or self._history.live_router(now)
                if router != self._live_router:
                    self._live_router = router
                    self._mark_dirty()  # the status line shows it without waiting for a sample
                # Probes leave the routed reserve while a router serves here, this process's or
                # one attached to it (each call also refreshes a team ledger's router mark).
                self._ledger.router_live(router is not None)
                for budget, until in self._ledger.pauses().items():
                    self.scheduler.delay(budget, until)
                self.scheduler.set_priority(self._priority())
            if live is not None:
                if not self._attached:
                    log.info("attached to the monitor of process %d (%s)", live.pid, live.role)
                    attached_id = self._history.latest_sample_id()
                self._attached = True
                self._first_pass_sent()  # nothing of ours to wait for
                attached_id = self._follow(attached_id)
                await self._sleep(0.5)
                continue
            self._attached = False
            self._handle_requests(prober, group)
            for budget in self.scheduler.budgets():
                # Several at once during the warm-up burst; one per slot afterwards.
                while (picked := self.scheduler.take(budget, now)) is not None:
                    sent = self._first_pass_probe()
                    self._start(group, self._probe(prober, *picked, ProbeKind.PROBE, sent))
            if self._unsent == 0 and not self.first_probe.is_set():
                self._first_pass_sent()  # nothing (more) of the first pass to send
            wait = max(0.02, min(1.0, self.scheduler.next_due(now) - self._clock()))
            await self._nap(wait)

    async def _nap(self, seconds: float) -> None:
        """Sleep until the next turn is due, or until something wakes the dispatcher."""
        if self._wake.is_set():
            self._wake.clear()
            return
        nap = asyncio.ensure_future(self._sleep(seconds))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((nap, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            nap.cancel()
            woken.cancel()
        self._wake.clear()

    async def _watcher(self) -> None:
        """Tick often, so a pause or a clock step is noticed within a tick of resuming."""
        while True:
            await self._sleep(TICK_S)
            self._check_gaps()

    @property
    def gaps_seen(self) -> int:
        """Pauses and clock steps noticed so far."""
        return self._gaps.epoch if self._gaps is not None else 0

    def _check_gaps(self) -> None:
        gap = self._gaps.check() if self._gaps is not None else None
        if gap is None:
            return
        # Only the probing monitor moves the shared ledger (an attached one would move it twice).
        ledger = self._ledger if not self._attached else None
        absorb(gap, self._clock(), self._windows, self.scheduler, ledger)
        self._mark_dirty()
        self._wake.set()  # the overdue turns were spread from now: the first is due

    def _start(self, group: asyncio.TaskGroup, probe: Coroutine[Any, Any, None]) -> None:
        task = group.create_task(probe)
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)

    def _follow(self, after_id: int) -> int:
        """Read the samples another process's monitor added since `after_id`."""
        assert self._history is not None
        newest, samples = self._history.samples_since_id(after_id)
        for sample in samples:
            self._windows.add(sample)
        if samples:
            self._mark_dirty()
        return newest

    def _handle_requests(self, prober: Prober, group: asyncio.TaskGroup) -> None:
        while self._requests:
            ref, kind = self._requests.popleft()
            if ref is None:
                for each in self._windows.refs:
                    self.scheduler.reset_turn(each)
                continue
            found = self.catalog.get(ref)
            if found is None:
                continue
            if kind is ProbeKind.PROBE:
                self.scheduler.reset_turn(ref)
            else:
                self._start(group, self._probe(prober, *found, kind))

    def _priority(self) -> list[ModelRef]:
        ranked = [row.ref for row in self._snapshot.rows]
        return [*self._favourites, *ranked]

    def _first_pass_probe(self) -> Callable[[], None] | None:
        """For a probe of the first pass: the callback that counts it as sent (once)."""
        if self.first_probe.is_set():
            return None
        self._unsent += 1
        done = False

        def sent() -> None:
            nonlocal done
            if not done:
                done = True
                self._unsent -= 1
                if self._unsent == 0:
                    self._first_pass_sent()

        return sent

    def _first_pass_sent(self) -> None:
        self.first_probe.set()
        self._sent.set()

    async def _probe(
        self,
        prober: Prober,
        provider: Provider,
        model: Model,
        kind: ProbeKind,
        sent: Callable[[], None] | None = None,
    ) -> None:
        spec = ProbeSpec.for_kind(kind, self.config.timeout_s)
        if kind is not ProbeKind.PROBE:
            spec = replace(spec, timeout_s=max(self.config.timeout_s, 30.0))
        epoch = self._gaps.epoch if self._gaps is not None else 0
        try:
            result = await prober.try_run(provider, model, spec, max_wait_s=0.0, on_sent=sent)
        finally:
            if sent is not None:
                sent()  # also when nothing was sent (no room in the budget, an error)
        # This may run before the ticker on resuming: look for a gap first.
        self._check_gaps()
        now = self._clock()
        ref = ModelRef(provider.id, model.id)
        if self._gaps is not None and self._gaps.epoch != epoch and result is not None:
            # In flight across a pause or a step: its TTFT (or its timeout) measured the gap.
            log.info("%s: a result from across a pause is discarded", ref)
            self.discarded += 1
            if self.scheduler.release(ref):
                self._wake.set()
            return
        if result is None:
            # Another process used the room: try this budget again shortly.
            self.scheduler.done(ref, None, now)
            self.scheduler.delay(provider.budget_id, now + 2.0)
            return
        self.probes_sent += 1
        if self.scheduler.done(ref, result.outcome, now):
            self._wake.set()
        self._windows.add(result)
        self._pending.append(result)
        self._mark_dirty()
        if result.ttft_ms is not None:
            self._first_ttft.set()

    async def _flusher(self, history: History, started: float) -> None:
        last_beat = -1e9
        last_prune = self._clock()
        while True:
            await self._sleep(self.config.flush_interval_s)
            self._flush(history)
            now = self._clock()
            # A clock stepped back makes these negative: beat now (other processes would take a
            # silent monitor for a dead one and start probing too), and restart the prune timer.
            late = not 0 <= now - last_beat < self.config.heartbeat_interval_s
            if late and not self._attached:
                history.beat(self.config.role, started, now, router=self._router)
            elif late and self._router is not None:
                # Attached, this process probes nothing, but its router still serves.
                history.beat(ROUTER_ONLY_ROLE, started, now, router=self._router)
            if late:
                last_beat = now
            if now < last_prune:
                last_prune = now
            if now - last_prune >= self.config.prune_interval_s:
                history.prune(now)
                last_prune = now
            if now - self._snapshot.at >= self.config.stats_refresh_s:
                # Nothing new may arrive for a while (every model backing off or paused): the
                # window slides all the same, and the stats shown must age with it.
                self._mark_dirty()

    def _flush(self, history: History) -> None:
        pending, self._pending = self._pending, []
        if pending:
            history.add(pending)

    async def _publisher(self) -> None:
        # The first requests leave before the first Snapshot is built (ranking every model and
        # reading every budget): the warm start's Snapshot can wait that long, a probe cannot.
        await self._sent.wait()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self.publish()
            rest = asyncio.ensure_future(self._sleep(self.config.publish_interval_s))
            if self._first_ttft.is_set():
                await rest
                continue
            # Until a TTFT has been shown, the first one goes out at once (launch to first row).
            first = asyncio.ensure_future(self._first_ttft.wait())
            await asyncio.wait((rest, first), return_when=asyncio.FIRST_COMPLETED)
            for task in (rest, first):
                task.cancel()

    # -- snapshots -----------------------------------------------------------------------------

    def ledger_status(self) -> tuple[str, bool]:
        """The request ledger's backend (`sqlite` or `redis`) and whether it answers."""
        return ledger_status(self._ledger)

    def publish(self) -> Snapshot:
        """Build a Snapshot from the current samples and hand it to every subscriber."""
        # Before reading the clock for the windows: a step not yet noticed would age every
        # sample out of them (and they drop what ages out).
        self._check_gaps()
        now = self._clock()
        rows = self._windows.refresh(now)
        budgets: dict[str, BudgetState] = {}
        if self._ledger is not None:
            budgets = budget_states(self._ledger, self.scheduler.budgets())
        snapshot = Snapshot(
            at=now,
            window_s=self.config.window_s,
            rows=rows,
            budgets=budgets,
            in_flight=self.scheduler.in_flight(),
            attached=self._attached,
            router=self._live_router,
            samples=self._windows.samples(),
        )
        self._snapshot = snapshot
        self._subscribers.publish(snapshot)
        return snapshot
