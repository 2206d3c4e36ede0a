"""The routed reserve holds wherever the router runs: while a router serves, probes use at most
80 % of each cap and routed requests the rest, also when `serve --router` attached to another
process's monitor (it probes; the router's heartbeat is all it sees) and on a team's Redis
ledger (a router on any machine holds back every machine's probes)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from freemodels.core.catalog.parse import parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.budget import Ledger, budget_limits
from freemodels.core.monitor.config import MonitorConfig
from freemodels.core.monitor.ledger_config import LedgerSettings
from freemodels.core.monitor.ledger_redis import RedisLedger
from freemodels.core.monitor.ledger_select import open_ledger
from freemodels.core.monitor.monitor import Monitor
from freemodels.core.monitor.scheduler import Cadence
from freemodels.core.records import Model, ProbeKind, Provider
from freemodels.core.store.history import ROUTER_ONLY_ROLE, History
from freemodels.fleet.server import Behaviour, Fleet
from freemodels.fleet.synthetic import catalog_toml
from redis_server import RedisServer

RPM = 10
MODELS = 14


def probes_this_minute(path: Path) -> int:
    history = History(path)
    try:
        row = history.db.execute(
            "SELECT COUNT(*) FROM ledger WHERE budget = 'p' AND kind != 'routed' AND at > ?",
            (time.time() - 60,),
        ).fetchone()
        return int(row[0])
    finally:
        history.close()


@pytest.mark.parametrize("router", [True, False], ids=["attached-router", "no-router"])
async def test_a_probing_monitor_leaves_the_reserve_to_a_router_attached_to_it(
    tmp_path: Path, router: bool
) -> None:
    path = tmp_path / "h.sqlite3"
    if router:
        # `serve --router` attached to this monitor: its heartbeat is all the monitor sees.
        other = History(path)
        other.db.execute(
            "INSERT INTO heartbeats (pid, role, at, started, router) VALUES (?,?,?,?,?)",
            (os.getppid(), ROUTER_ONLY_ROLE, time.time() + 600, 0.0, "http://127.0.0.1:8766"),
        )
        other.close()
    async with Fleet() as fleet:
        for index in range(MODELS):
            fleet.set("p", f"m{index}", Behaviour(ttft_s=0.01))
        catalog = parse_catalog(catalog_toml(fleet, rpm=RPM), "test", allow_http=True)
        config = MonitorConfig(
            cadence=Cadence(min_interval_s=1), publish_interval_s=0.05, flush_interval_s=0.1
        )
        monitor = Monitor(catalog, KeyRing(env={}), path, config)
        task = asyncio.create_task(monitor.run())
        try:
            # The warm-up burst: the scheduler sends RPM probes, then waits for the minute to
            # pass (those past the ledger's room are held back, unsent).
            # The router shows in the next published Snapshot (its status line).
            deadline = time.monotonic() + 30
            while (
                monitor.scheduler.next_due(time.time()) < time.time() + 30
                or (monitor.snapshot.router is not None) is not router
            ):
                assert time.monotonic() < deadline, probes_this_minute(path)
                await asyncio.sleep(0.05)
            sent = probes_this_minute(path)
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 10)
    assert sent == (8 if router else RPM)
    # The router's own requests (its own ledger connection, no reserve) may use the rest.
    history = History(path)
    provider = catalog.providers[0]
    routed = Ledger(history.db, budget_limits(catalog.providers))
    grants = [routed.try_acquire(provider, None, ProbeKind.ROUTED) == 0 for _ in range(3)]
    history.close()
    assert grants == ([True, True, False] if router else [False, False, False])


MODEL = Model("m", "M", 8192)
KEY = "gsk_teamkeyteamkeyteam1234"


def team_ledger(tmp_path: Path, server: RedisServer, name: str, budget: str) -> RedisLedger:
    """One machine's monitor ledger on the team's Redis (its own history database)."""
    made = open_ledger(
        History(tmp_path / f"{name}.sqlite3").db,
        [team_provider(budget)],
        KeyRing(env={"P_API_KEY": KEY}),
        settings=LedgerSettings(url=server.url),
        routed_reserve=MonitorConfig().routed_reserve,
    )
    assert isinstance(made, RedisLedger)
    return made


def team_provider(budget: str) -> Provider:
    return Provider(
        budget, budget, "https://x.invalid/v1", ("P_API_KEY",), "https://x.invalid",
        rpm=RPM, models=(MODEL,),
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> object:
    srv = RedisServer(tmp_path_factory.mktemp("redis-reserve"))
    srv.start()
    yield srv
    srv.stop()


def granted(ledger: RedisLedger, provider: Provider, kind: ProbeKind, times: int) -> int:
    return sum(ledger.try_acquire(provider, MODEL, kind) == 0 for _ in range(times))


def test_on_a_team_ledger_a_router_on_one_machine_holds_back_every_machines_probes(
    tmp_path: Path, server: RedisServer
) -> None:
    with server.client() as client:
        client.flushall()
    plain, routing = (team_ledger(tmp_path, server, n, "team") for n in ("plain", "routing"))
    try:
        plain.router_live(False)
        routing.router_live(True)  # this machine serves a router: its mark is in Redis
        p = team_provider("team")
        assert granted(plain, p, ProbeKind.PROBE, RPM) == 8, "the other machine's probes too"
        assert granted(routing, p, ProbeKind.SPEED, 2) == 0
        assert granted(routing, p, ProbeKind.ROUTED, 3) == 2, "routed requests get the rest"
        assert plain.state("team").used_minute == RPM
    finally:
        plain.close()
        routing.close()


def test_on_a_team_ledger_without_a_router_probes_use_the_whole_cap(
    tmp_path: Path, server: RedisServer
) -> None:
    with server.client() as client:
        client.flushall()
    ledger = team_ledger(tmp_path, server, "alone", "solo")
    try:
        ledger.router_live(False)
        assert granted(ledger, team_provider("solo"), ProbeKind.PROBE, RPM + 1) == RPM
    finally:
        ledger.close()


def test_a_router_here_holds_on_the_local_fallback_while_redis_is_down(
    tmp_path: Path, server: RedisServer
) -> None:
    ledger = team_ledger(tmp_path, server, "fallback", "down")
    try:
        ledger.router_live(True)
        server.stop()
        p = team_provider("down")
        # The fallback has 1/4 of the cap (2 of 10), of which probes may use 80 %: 1.
        probes = granted(ledger, p, ProbeKind.PROBE, 3)
        routed = granted(ledger, p, ProbeKind.ROUTED, 3)
        assert (probes, routed) == (1, 1)
    finally:
        ledger.close()
        server.start()


@pytest.mark.parametrize("router", [True, False], ids=["router-running", "no-router"])
def test_a_check_sweep_beside_a_running_router_leaves_it_the_reserve(
    tmp_path: Path, router: bool
) -> None:
    import subprocess
    import sys

    from freemodels import paths
    from freemodels.fleet.server import FleetThread

    history_path = paths.history_path()
    history_path.parent.mkdir(parents=True, exist_ok=True)
    if router:
        history = History(history_path)
        history.db.execute(
            "INSERT INTO heartbeats (pid, role, at, started, router) VALUES (?,?,?,?,?)",
            (os.getpid(), ROUTER_ONLY_ROLE, time.time() + 600, 0.0, "http://127.0.0.1:8766"),
        )
        history.close()
    fleet = Fleet()
    for index in range(RPM):
        fleet.set("p", f"m{index}", Behaviour(ttft_s=0.01))
    with FleetThread(fleet):
        catalog = tmp_path / "catalog.toml"
        catalog.write_text(catalog_toml(fleet, rpm=RPM), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "freemodels", "--catalog", str(catalog), "check", "--json"],
            capture_output=True, text=True, timeout=120, env=dict(os.environ),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert probes_this_minute(history_path) == (8 if router else RPM)
