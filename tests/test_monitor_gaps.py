"""The monitor across time that jumps: a wall clock stepped forward an hour and back ten
minutes, and a pause (the process stopped, the machine asleep), with injected clocks."""

from __future__ import annotations

import asyncio
import bisect
import time
from pathlib import Path

from freemodels.core.catalog.parse import parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.config import MonitorConfig
from freemodels.core.monitor.monitor import Monitor
from freemodels.core.monitor.scheduler import Cadence
from freemodels.core.records import ModelRef
from freemodels.core.store.history import History
from freemodels.fleet.server import Behaviour, Fleet
from freemodels.fleet.synthetic import catalog_toml
from waiting import async_wait_until


class Clocks:
    """Real clocks plus offsets a test moves: the wall clock alone (a step), or both (a pause:
    time passed while the event loop did not run)."""

    def __init__(self) -> None:
        self.wall_offset = 0.0
        self.elapsed_offset = 0.0

    def wall(self) -> float:
        return time.time() + self.wall_offset

    def elapsed(self) -> float:
        return time.monotonic() + self.elapsed_offset


def max_in_window(times: list[float], span: float) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, at + span - 1e-9) - i for i, at in enumerate(ordered)),
        default=0,
    )


async def test_wall_clock_steps_forward_an_hour_then_back_ten_minutes(tmp_path: Path) -> None:
    clocks = Clocks()
    async with Fleet() as fleet:
        for model in ("a", "b", "c"):
            fleet.set("p", model, Behaviour(ttft_s=0.01))
        catalog = parse_catalog(catalog_toml(fleet, rpm=60), "test", allow_http=True)
        config = MonitorConfig(
            cadence=Cadence(min_interval_s=1.0), publish_interval_s=0.05, flush_interval_s=0.1
        )
        path = tmp_path / "h.sqlite3"
        monitor = Monitor(
            catalog, KeyRing(env={}), path, config, clock=clocks.wall, elapsed=clocks.elapsed
        )
        task = asyncio.create_task(monitor.run())
        try:

            def rows_measured(after: float) -> bool:
                rows = monitor.snapshot.rows
                return len(rows) == 3 and all(
                    r.samples and r.last_at is not None and r.last_at > after for r in rows
                )

            await async_wait_until(lambda: rows_measured(0), what="every model measured")
            for step, seen in ((3600.0, 1), (-600.0, 2)):
                sent = monitor.probes_sent
                clocks.wall_offset += step
                await async_wait_until(lambda n=seen: monitor.gaps_seen >= n, what="the step")
                await async_wait_until(lambda n=sent: monitor.probes_sent > n, what="a publish")
                # Right after the step, before every model was probed again: none looks stale.
                assert all(r.samples and r.usable for r in monitor.snapshot.rows), step
                after = clocks.wall()
                await async_wait_until(lambda a=after: rows_measured(a), what="probes go on")
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 20)
    stored = History(path).samples(0)
    sent = [r for r in fleet.requests if r.path == "chat/completions"]
    assert len(sent) - 3 <= len(stored) <= len(sent), "no sample was dropped"
    assert all(s.ttft_ms is not None and s.ttft_ms < 5000 for s in stored)
    ledger = History(path).db.execute("SELECT at FROM ledger").fetchall()
    assert max_in_window([at for (at,) in ledger], 60.0) <= 60, "the ledger's minute held"
    # The fleet's own clock: the real requests never exceeded the budget either.
    assert max_in_window([r.at for r in sent], 60.0) <= 60


async def test_a_pause_discards_probes_in_flight_and_spreads_the_overdue(tmp_path: Path) -> None:
    clocks = Clocks()
    models = [f"m{i}" for i in range(8)]
    async with Fleet() as fleet:
        for model in models:
            fleet.set("p", model, Behaviour(ttft_s=0.01))
        fleet.set("p", "slow", Behaviour(ttft_s=3.0))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        config = MonitorConfig(
            cadence=Cadence(min_interval_s=4.0), publish_interval_s=0.05, flush_interval_s=0.1
        )
        path = tmp_path / "h.sqlite3"
        monitor = Monitor(
            catalog, KeyRing(env={}), path, config, clock=clocks.wall, elapsed=clocks.elapsed
        )
        task = asyncio.create_task(monitor.run())
        slow = ModelRef("p", "slow")
        try:
            await async_wait_until(
                lambda: (
                    # (Not vacuously: before the first Snapshot there are no rows at all.)
                    len(monitor.snapshot.rows) == len(models) + 1
                    and all(r.samples for r in monitor.snapshot.rows if r.model != "slow")
                    and slow in monitor.scheduler.in_flight()
                ),
                what="every model measured and the slow one in flight",
            )
            # A minute passes with the event loop not running (SIGSTOP, a closed lid).
            jumped = time.monotonic()
            clocks.wall_offset += 60.0
            clocks.elapsed_offset += 60.0
            await async_wait_until(lambda: monitor.gaps_seen >= 1, what="the pause")
            await async_wait_until(lambda: monitor.discarded >= 1, what="the slow probe's end")
            await async_wait_until(
                lambda: sum(r.at > jumped and r.model != "slow" for r in fleet.requests) >= 4,
                what="probes after the pause",
            )
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 20)
    after = sorted(r.at for r in fleet.requests if r.at > jumped and r.model in models)
    # Every model was overdue; spread over the 4 s cadence they go one every ~0.5 s, where
    # all eight would have gone at once.
    burst = sum(1 for at in after if at <= after[0] + 1.0)
    offsets = [round(at - after[0], 3) for at in after]
    assert burst <= 4, f"{burst} probes within a second of resuming: {offsets}"
    stored = History(path).samples(0)
    assert all(s.ttft_ms is None or s.ttft_ms < 50_000 for s in stored), "a pause became a TTFT"
    assert not [s for s in stored if s.model == "slow" and s.ttft_ms is None], "nor a timeout"


def test_gap_watch_tells_a_pause_from_a_step() -> None:
    from freemodels.core.monitor.gaps import Gap, GapWatch

    wall, elapsed = [1000.0], [50.0]
    watch = GapWatch(lambda: wall[0], lambda: elapsed[0])

    def advance(wall_s: float, elapsed_s: float) -> Gap | None:
        wall[0] += wall_s
        elapsed[0] += elapsed_s
        return watch.check()

    assert advance(0.25, 0.25) is None and advance(3.0, 3.0) is None, "a busy loop is no pause"
    assert advance(60.0, 60.0) == Gap(paused_s=59.75, step_s=0.0)
    assert advance(3600.25, 0.25) == Gap(paused_s=0.0, step_s=3600.0)
    assert advance(-599.75, 0.25) == Gap(paused_s=0.0, step_s=-600.0)
    assert watch.epoch == 3


def test_spread_turns_overdue_models_into_a_queue() -> None:
    from freemodels.core.catalog.parse import parse_catalog as parse
    from freemodels.core.monitor.budget import budget_limits
    from freemodels.core.monitor.scheduler import Scheduler

    lines = [
        "schema_version = 1", "[providers.p]", 'name = "p"', 'base_url = "http://x/v1"',
        'api_key_env = ["P_KEY"]', 'signup_url = "http://x"', "key_required = false",
    ]  # fmt: skip
    for index in range(4):
        lines += ["[[providers.p.models]]", f'id = "m{index}"', f'name = "m{index}"', "context = 1"]
    catalog = parse("\n".join(lines), "test", allow_http=True)
    scheduler = Scheduler(catalog.providers, budget_limits(catalog.providers), Cadence(60.0))
    for index in range(4):
        scheduler.seen(ModelRef("p", f"m{index}"), 1000.0 + index)
    resumed = 5000.0  # long after every turn fell due
    scheduler.spread(resumed)
    due = [scheduler.take("p", resumed + t) for t in (0.0, 1.0, 15.0, 29.0, 30.0, 45.0)]
    taken = [None if d is None else d[1].id for d in due]
    assert taken == ["m0", None, "m1", None, "m2", "m3"]
