"""The monitor against a real local fleet: warm start, 429 pauses, attaching to another process."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from freemodels.core.catalog.parse import parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.config import MonitorConfig
from freemodels.core.monitor.monitor import Monitor
from freemodels.core.monitor.scheduler import Cadence
from freemodels.core.records import ModelRef, Outcome, ProbeResult, Snapshot
from freemodels.core.store.history import RAW_RETENTION_S, History
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.fleet.synthetic import catalog_toml
from waiting import async_wait_until, wait_until

FAST = MonitorConfig(
    cadence=Cadence(min_interval_s=0.5), publish_interval_s=0.05, flush_interval_s=0.1
)


async def run_until(
    monitor: Monitor, done: Callable[[], object], what: str, *, quiet_s: float = 0.0
) -> None:
    """Run the monitor until `done()` holds, then `quiet_s` more (for "nothing else happens")."""
    task = asyncio.create_task(monitor.run())
    try:
        await async_wait_until(lambda: done() or task.done(), what=what)
        assert not task.done(), f"the monitor ended early: {task}"
        # A quiet window only ever makes a "nothing was sent" claim weaker on a slow machine,
        # never red: it is not a wait for something to happen.
        await asyncio.sleep(quiet_s)
    finally:
        monitor.stop()
        await asyncio.wait_for(task, 20)


def row_of(monitor: Monitor, model: str) -> Any:
    """The model's row in the monitor's newest Snapshot (None before it has one)."""
    return monitor.snapshot.row(ModelRef("p", model))


async def test_monitor_ranks_publishes_and_stores(tmp_path: Path) -> None:
    async with Fleet() as fleet:
        fleet.set("p", "fast", Behaviour(ttft_s=0.01))
        fleet.set("p", "slow", Behaviour(ttft_s=0.2))  # far apart: stalls cannot reorder
        fleet.set("p", "gone", Behaviour(status=404))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3", FAST)
        seen: list[Snapshot] = []
        monitor.subscribe(seen.append)

        def ranked() -> bool:
            fast, gone = row_of(monitor, "fast"), row_of(monitor, "gone")
            # Three samples of "fast" take a second: "gone" had its chances to be probed again.
            return bool(fast and fast.samples >= 3 and fast.usable and gone and gone.outcome)

        await run_until(monitor, ranked, "three samples of the fast model")
    last = monitor.snapshot
    assert [r.model for r in last.rows] == ["fast", "slow", "gone"]
    assert last.rows[0].samples >= 2 and last.rows[0].usable
    assert last.rows[2].outcome is Outcome.NOT_FOUND
    gone_probes = [r for r in fleet.requests if r.model == "gone"]
    assert len(gone_probes) == 1, "not_found backs off for a minute"
    assert seen and all(b.at >= a.at for a, b in itertools.pairwise(seen))
    stored = History(tmp_path / "h.sqlite3").samples(0)
    sent = [r for r in fleet.requests if r.path == "chat/completions"]
    # Every answered probe is stored; stopping cancels at most one probe per model in flight
    # ("fast" and "slow": "gone" is backed off), and a cancelled probe leaves no sample.
    assert len(sent) - 2 <= len(stored) <= len(sent), (len(stored), len(sent))


async def test_warm_start_shows_yesterdays_ranking_before_any_probe(tmp_path: Path) -> None:
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour(ttft_s=5.0))
        fleet.set("p", "b", Behaviour(ttft_s=5.0))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        history = History(tmp_path / "h.sqlite3")
        now = time.time()
        history.add(
            [ProbeResult("p", m, Outcome.OK, now - 60 - i, ttft_ms=t) for i, (m, t) in
             enumerate([("a", 300.0), ("b", 100.0)] * 3)]
        )  # fmt: skip
        history.close()
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3", FAST)
        first: list[Snapshot] = []
        monitor.subscribe(lambda s: first.append(s) if not first else None)
        await run_until(monitor, lambda: first, "the first Snapshot")
    assert [r.model for r in first[0].rows] == ["b", "a"]
    assert first[0].rows[0].samples == 3, "published from history alone, before a probe answered"


async def test_429_pauses_the_budget_visibly(tmp_path: Path) -> None:
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour(status=429, retry_after="30"))
        fleet.set("p", "b", Behaviour())
        catalog = parse_catalog(catalog_toml(fleet, rpm=600), "test", allow_http=True)
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3", FAST)

        def paused() -> bool:
            budget = monitor.snapshot.budgets.get("p")
            return budget is not None and budget.paused_until is not None

        # Unpaused, 1.5 s at a 0.5 s cadence would probe each model three times or more.
        await run_until(monitor, paused, "the 429 to pause the budget", quiet_s=1.5)
    budget = monitor.snapshot.budgets["p"]
    assert budget.paused_until is not None and budget.paused_until > time.time() + 20
    chats = [r.model for r in fleet.requests if r.path == "chat/completions"]
    # The first round (one probe per model, sent together) and nothing after the 429.
    assert "a" in chats and len(chats) <= 2, chats


SERVE = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from freemodels.core.catalog.parse import load_catalog
    from freemodels.core.keys.lookup import KeyRing
    from freemodels.core.monitor.config import MonitorConfig
    from freemodels.core.monitor.monitor import Monitor
    from freemodels.core.monitor.scheduler import Cadence
    catalog = load_catalog(Path(sys.argv[1]))
    config = MonitorConfig(
        cadence=Cadence(min_interval_s=0.5), flush_interval_s=0.1, heartbeat_interval_s=0.5,
        role="serve",
    )
    monitor = Monitor(catalog, KeyRing(env={}), Path(sys.argv[2]), config)
    def announce(s):
        if s.rows and s.rows[0].samples:
            print("snapshot", flush=True)
    monitor.subscribe(announce)
    asyncio.run(monitor.run())
""")


def test_a_second_monitor_attaches_instead_of_probing(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.set("p", "a", Behaviour(ttft_s=0.01))
    fleet.set("p", "b", Behaviour(ttft_s=0.02))
    with FleetThread(fleet):
        catalog_path = tmp_path / "c.toml"
        catalog_path.write_text(catalog_toml(fleet), encoding="utf-8")
        history = tmp_path / "h.sqlite3"
        owner = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(catalog_path), str(history)],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        try:
            assert owner.stdout is not None and owner.stdout.readline().startswith("snapshot")
            beats = History(history)
            try:
                wait_until(beats.live_monitor, what="the owner's heartbeat")
            finally:
                beats.close()
            catalog = parse_catalog(catalog_path.read_text(), "test", allow_http=True)
            guest = Monitor(catalog, KeyRing(env={}), history, FAST)

            def shows_both() -> bool:
                rows = guest.snapshot.rows
                return guest.snapshot.attached and {r.model for r in rows if r.samples} == {
                    "a",
                    "b",
                }

            asyncio.run(run_until(guest, shows_both, "the guest to show the owner's samples"))
        finally:
            owner.terminate()
            owner.wait(10)
            owner.stdout.close()  # type: ignore[union-attr]
    assert guest.probes_sent == 0, "the guest sent nothing of its own"
    assert guest.snapshot.attached
    assert {r.model for r in guest.snapshot.rows if r.samples} == {"a", "b"}


async def test_a_model_not_found_for_a_day_is_marked_gone(tmp_path: Path) -> None:
    from freemodels.core.monitor.stats import is_gone
    from freemodels.ui.format import verdict

    async with Fleet() as fleet:
        fleet.set("p", "retired", Behaviour(status=404))
        fleet.set("p", "fine", Behaviour())
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        history = History(tmp_path / "h.sqlite3")
        now = time.time()
        history.add(
            [ProbeResult("p", "retired", Outcome.NOT_FOUND, now - 26 * 3600 + i * 3600)
             for i in range(3)]
        )  # fmt: skip
        history.close()
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3", FAST)

        def probed() -> bool:
            fine = row_of(monitor, "fine")
            answered = fine is not None and fine.outcome is Outcome.OK
            return answered and fleet.request_count("p", "retired") >= 1

        await run_until(monitor, probed, "both models to be probed")
    row = monitor.snapshot.row(ModelRef("p", "retired"))
    assert row is not None and row.outcome is Outcome.NOT_FOUND
    assert row.not_found_since == now - 26 * 3600
    assert is_gone(row, time.time())
    assert verdict(row, None, time.time(), probing=False) == "gone?"
    fine = monitor.snapshot.row(ModelRef("p", "fine"))
    assert fine is not None and not is_gone(fine, time.time())


async def test_the_first_measured_ttft_is_published_at_once(tmp_path: Path) -> None:
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour(ttft_s=0.05))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        slow = MonitorConfig(publish_interval_s=30.0, flush_interval_s=0.1)
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3", slow)
        seen: list[float] = []
        started = time.monotonic()
        monitor.subscribe(
            lambda s: (
                seen.append(time.monotonic() - started)
                if any(r.ttft_ms is not None for r in s.rows)
                else None
            )
        )
        # The deadline (15 s) is half the publish interval: waiting for it would time out.
        task = asyncio.create_task(monitor.run())
        try:
            await async_wait_until(lambda: seen, timeout=15.0, what="the first TTFT")
            # Keep running 1 s more: a later Snapshot waits for the 30 s interval.
            await asyncio.sleep(1.0)
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 20)
    assert seen[0] < 15.0, "not held back by the 30 s publish interval"
    assert len(seen) == 1, "later Snapshots keep to the interval"


async def test_stop_does_not_wait_for_slow_endpoints(tmp_path: Path) -> None:
    async with Fleet() as fleet:
        fleet.set("p", "queued", Behaviour(ttft_s=30.0))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3", FAST)
        task = asyncio.create_task(monitor.run())
        await async_wait_until(lambda: fleet.requests, what="the probe to reach the fleet")
        started = time.monotonic()
        monitor.stop()
        await asyncio.wait_for(task, 20)
        # The endpoint answers after 30 s; stopping cancels the probe instead of waiting for it.
        assert time.monotonic() - started < 10.0


async def test_a_restart_resumes_with_yesterdays_numbers(tmp_path: Path) -> None:
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour(ttft_s=5.0))
        fleet.set("p", "b", Behaviour(ttft_s=5.0))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        history = History(tmp_path / "h.sqlite3")
        yesterday = time.time() - 20 * 3600
        history.add(
            [ProbeResult("p", m, Outcome.OK, yesterday + i, ttft_ms=t) for i, (m, t) in
             enumerate([("a", 400.0), ("b", 120.0)] * 4)]
        )  # fmt: skip
        history.close()
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3", FAST)
        first: list[Snapshot] = []
        monitor.subscribe(lambda s: first.append(s) if not first else None)
        await run_until(monitor, lambda: first, "the first Snapshot")
    rows = first[0].rows
    assert [r.model for r in rows] == ["b", "a"], "ranked on yesterday's samples"
    assert rows[0].samples == 4 and rows[0].ttft_p50_ms == 120.0
    assert first[0].samples[ModelRef("p", "b")], "the sparkline has them too"


def test_a_guest_takes_over_when_the_owning_monitor_dies(tmp_path: Path) -> None:
    """What every dashboard runs: attached while the owner beats, probing once it is gone."""
    fleet = Fleet()
    fleet.set("p", "a", Behaviour(ttft_s=0.01))
    with FleetThread(fleet):
        catalog_path = tmp_path / "c.toml"
        catalog_path.write_text(catalog_toml(fleet), encoding="utf-8")
        history = tmp_path / "h.sqlite3"
        owner = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(catalog_path), str(history)],
            stdout=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        guest = Monitor(
            parse_catalog(catalog_path.read_text(), "test", allow_http=True),
            KeyRing(env={}),
            history,
            FAST,
        )
        thread = threading.Thread(target=asyncio.run, args=(guest.run(),), daemon=True)
        try:
            assert owner.stdout is not None and owner.stdout.readline().startswith("snapshot")
            reader = History(history)
            wait_until(reader.live_monitor, what="the owner's heartbeat")
            reader.close()
            thread.start()
            wait_until(lambda: guest.snapshot.attached, what="the guest attached")
            assert guest.probes_sent == 0
            owner.kill()  # no clean shutdown: its heartbeat stays behind
            owner.wait(10)
            wait_until(lambda: not guest.snapshot.attached, what="the guest took over")
            wait_until(lambda: guest.probes_sent > 0, what="the guest probes on its own")
        finally:
            guest.stop()
            thread.join(10)
            if owner.poll() is None:
                owner.kill()
                owner.wait(10)
            owner.stdout.close()  # type: ignore[union-attr]
    assert not thread.is_alive()


async def test_stats_age_out_of_the_window_without_new_samples(tmp_path: Path) -> None:
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour(ttft_s=0.01))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        now = [time.time()]
        config = replace(
            FAST, cadence=Cadence(min_interval_s=1e9), window_s=300.0, stats_refresh_s=5.0
        )
        monitor = Monitor(
            catalog, KeyRing(env={}), tmp_path / "h.sqlite3", config, clock=lambda: now[0]
        )
        task = asyncio.create_task(monitor.run())
        try:
            ref = ModelRef("p", "a")

            def samples() -> int:
                row = monitor.snapshot.row(ref)
                return -1 if row is None else row.samples

            await async_wait_until(lambda: samples() == 1, what="the first sample is shown")
            now[0] += 301.0  # the clock moves on; the model is not due again
            await async_wait_until(lambda: samples() == 0, what="the sample aged out")
            assert monitor.snapshot.at == now[0]
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 10)
    assert len([r for r in fleet.requests if r.path == "chat/completions"]) == 1


async def test_the_monitor_prunes_the_history_periodically(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    old = time.time() - RAW_RETENTION_S - 7200
    history = History(path)
    history.add([ProbeResult("p", "a", Outcome.OK, old, 200, ttft_ms=120.0)])
    history.close()
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour(ttft_s=0.01))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        monitor = Monitor(catalog, KeyRing(env={}), path, replace(FAST, prune_interval_s=0.2))
        task = asyncio.create_task(monitor.run())
        reader = History(path)
        try:
            await async_wait_until(
                lambda: reader.rollups(0) != [], what="the old sample was rolled up"
            )
            assert all(s.started_at > old for s in reader.samples(0)), "and dropped"
        finally:
            reader.close()
            monitor.stop()
            await asyncio.wait_for(task, 10)
