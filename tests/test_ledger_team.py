"""A team on one Redis ledger: several freemodels processes, each with its own HOME and XDG dirs
(three "machines"), probing an rpm-capped fleet provider through `check`; the fleet's own request
log is the ground truth. Slow by nature (a sliding minute must slide), so marked e2e."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from freemodels.core.monitor import ledger_lua
from freemodels.core.monitor.ledger_lua import fingerprint
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.fleet.synthetic import catalog_toml
from redis_server import RedisServer
from waiting import wait_until

pytestmark = pytest.mark.e2e

KEY_A = "team_key_alpha_0123456789abcdef"
KEY_B = "team_key_bravo_fedcba9876543210"
# The grant is made on Redis's clock, the arrival logged on the fleet's: a request reaches the
# fleet a moment after its grant, so the windows checked are this much shorter than a minute.
ARRIVAL_SLACK_S = 2.0


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    fleet = Fleet()
    fleet.set("team", "a", Behaviour(ttft_s=0.01))
    fleet.set("team", "b", Behaviour(ttft_s=0.01))
    with FleetThread(fleet):
        yield fleet


class Machine:
    """One freemodels process with a home of its own."""

    def __init__(self, root: Path, name: str, catalog: Path, env: Mapping[str, str]) -> None:
        home = root / name
        self.env = {**os.environ, "HOME": str(home), **env, "FREEMODELS_LEDGER_HOST": name}
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            self.env[var] = str(home / var.lower())
            Path(self.env[var]).mkdir(parents=True)
        self.catalog = catalog
        self.stderr = home / "stderr.txt"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """`check` round after round until stopped."""
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "freemodels", "--catalog", str(self.catalog), "check",
                 "--rounds", "1000", "--interval", "1", "--json"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip

    def said(self, text: str) -> int:
        """How many stderr lines contain `text`."""
        return sum(text in line for line in self.stderr.read_text(errors="replace").splitlines())

    def stop(self) -> None:
        """End the process (it may be mid-round)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def ledger_report(self) -> dict[str, object]:
        """`freemodels ledger --json` as this machine sees it."""
        done = subprocess.run(
            [sys.executable, "-m", "freemodels", "--catalog", str(self.catalog),
             "ledger", "--json"],
            env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        report: dict[str, object] = json.loads(done.stdout)
        return report


def wait_for(condition: Callable[[], bool], what: str) -> None:
    # A sliding minute must pass for some conditions: two minutes is the generous deadline.
    wait_until(condition, timeout=120, interval=0.2, what=what)


def arrivals(fleet: Fleet, key: str) -> list[float]:
    return [
        r.at for r in list(fleet.requests)
        if r.provider == "team" and r.authorization == f"Bearer {key}"
    ]  # fmt: skip


def zcard(server: RedisServer, key: str) -> int:
    with server.client() as client:
        return int(client.zcard(key))


def busiest_window(times: list[float], span: float) -> int:
    times = sorted(times)
    return max((sum(t <= x < t + span for x in times) for t in times), default=0)


def machines(
    tmp_path: Path, fleet: Fleet, server: RedisServer, rpm: int, keys: list[str]
) -> list[Machine]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(catalog_toml(fleet, rpm=rpm), encoding="utf-8")
    env = {"FREEMODELS_LEDGER": server.url, "FREEMODELS_LEDGER_TIMEOUT_MS": "2000"}
    return [
        Machine(tmp_path, f"machine-{i}", catalog, {**env, "TEAM_API_KEY": key})
        for i, key in enumerate(keys, 1)
    ]


def test_one_key_one_budget_across_machines_and_each_key_its_own(
    tmp_path: Path, fleet: Fleet
) -> None:
    server = RedisServer(tmp_path, password="team-secret-pw")
    server.start()
    team = machines(tmp_path, fleet, server, 6, [KEY_A, KEY_A, KEY_A, KEY_B, KEY_B])
    try:
        for machine in team:
            machine.start()
        # Past a minute, each key's window has slid: more than 6 requests in all, never 6 in 60 s.
        wait_for(
            lambda: len(arrivals(fleet, KEY_A)) >= 8 and len(arrivals(fleet, KEY_B)) >= 8,
            "both keys have spent more than a minute's budget",
        )
        report = team[0].ledger_report()
    finally:
        for machine in team:
            machine.stop()
        server.stop()
    for key in (KEY_A, KEY_B):
        assert busiest_window(arrivals(fleet, key), 60 - ARRIVAL_SLACK_S) <= 6
    assert report["backend"] == "redis" and report["healthy"] is True
    assert "team-secret-pw" not in json.dumps(report)
    (budget,) = [b for b in report["budgets"] if b["budget"] == "team"]  # type: ignore[attr-defined]
    assert set(budget["hosts"]) <= {"machine-1", "machine-2", "machine-3"}
    assert len(budget["hosts"]) >= 2, "key A's grants came from several machines"
    for machine in team:
        assert machine.said("unreachable") == 0
        assert "team-secret-pw" not in machine.stderr.read_text()


def test_redis_killed_mid_run_then_restarted(tmp_path: Path, fleet: Fleet) -> None:
    server = RedisServer(tmp_path)
    server.start()
    rpm, share = 8, 4
    team = machines(tmp_path, fleet, server, rpm, [KEY_A] * 3)
    grants = ledger_lua.budget_key("team", fingerprint("team", KEY_A))
    try:
        for machine in team:
            machine.start()
        wait_for(
            lambda: zcard(server, grants) == rpm and len(arrivals(fleet, KEY_A)) == rpm,
            "the shared minute is spent",
        )
        server.stop()
        before = len(arrivals(fleet, KEY_A))
        wait_for(
            lambda: (
                all(m.said("unreachable") for m in team)
                and len(arrivals(fleet, KEY_A)) - before >= len(team) * (rpm // share)
            ),
            "every machine warned and spent its local share",
        )
        during = len(arrivals(fleet, KEY_A)) - before
        server.start()
        wait_for(lambda: all(m.said("reconnected") for m in team), "every machine reconnected")
        with server.client() as client:
            shared = client.zrange(grants, 0, -1)
    finally:
        for machine in team:
            machine.stop()
        server.stop()
    assert during <= len(team) * (rpm // share), "while Redis was down, each kept to its share"
    for machine in team:
        assert machine.said("unreachable") == 1, "the warning appears once"
    # Each machine wrote back what it had spent, so the restarted (empty) Redis counts it all.
    assert len(shared) >= rpm + during
    assert {member.split("|")[1] for member in shared} == {
        m.env["FREEMODELS_LEDGER_HOST"] for m in team
    }
