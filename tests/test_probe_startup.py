"""What happens before the first probe: the key lookup that needs no keyring, the env key first,
no redis import for a local ledger, and the signal that the first probes are out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from freemodels.core.catalog.parse import parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.keys.os_keyring import NO_BACKEND, KeyringStore, keyring_unreachable
from freemodels.core.monitor.monitor import Monitor
from freemodels.core.probe.clients import ClientPool
from freemodels.core.probe.prober import Prober
from freemodels.core.records import Model, Outcome, ProbeResult, Provider
from freemodels.core.store.history import History
from freemodels.fleet.server import Behaviour, Fleet
from freemodels.fleet.synthetic import catalog_toml
from waiting import async_wait_until

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the D-Bus shortcut applies to Linux only"
)


@pytest.fixture
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    core = sys.modules.get("keyring.core")
    if core is not None:
        monkeypatch.setattr(core, "_keyring_backend", None)


@linux_only
def test_without_a_dbus_session_the_keyring_is_known_missing(headless: None) -> None:
    if keyring_unreachable() is False:
        pytest.skip("a third-party keyring backend (keyrings.*) is installed here")
    store = KeyringStore()
    assert store.check() == NO_BACKEND
    assert store.missing


@linux_only
def test_anything_that_could_give_keyring_a_backend_keeps_it_in_use(
    headless: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    assert not keyring_unreachable()
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    assert not keyring_unreachable()
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    config = tmp_path / "cfg"
    (config / "python_keyring").mkdir(parents=True)
    (config / "python_keyring" / "keyringrc.cfg").write_text("[backend]\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    assert not keyring_unreachable()


def test_a_backend_set_in_this_process_is_used() -> None:
    from keyring.backends import fail

    from keys_fixtures import installed

    with installed(fail.Keyring()):
        assert not keyring_unreachable()


async def test_a_key_in_the_environment_never_waits_for_the_stores() -> None:
    """The stores' factory would block: a provider whose key is in the environment is answered
    without it, at once (no thread), so its first probe goes out while the stores load."""

    def stores() -> tuple[()]:
        raise AssertionError("the key stores were consulted for a key in the environment")

    provider = Provider("p", "P", "http://127.0.0.1:9/v1", ("P_KEY",), "https://x.invalid",
                        models=(Model("m", "M", 8192),))  # fmt: skip
    keys = KeyRing(stores, env={"P_KEY": "sk-env"})
    async with ClientPool() as pool:
        prober = Prober(pool, keys)
        future = prober.prefetch(provider)
        assert future.done()
        resolved = future.result()
        assert resolved is not None and resolved.source == "env:P_KEY"


async def test_the_monitor_says_when_its_first_probes_are_sent(tmp_path: Path) -> None:
    """The dashboard loads its UI once the first pass's requests are out, not once they are
    answered (nor once their headers are in): this endpoint holds both for 30 s."""
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour(headers_delay_s=30.0, ttft_s=30.0))
        fleet.set("p", "b", Behaviour(headers_delay_s=30.0, ttft_s=30.0))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3")
        task = asyncio.create_task(monitor.run())
        try:
            await async_wait_until(monitor.first_probe.is_set, what="the first probes sent")
            assert not monitor.snapshot.rows or all(r.samples == 0 for r in monitor.snapshot.rows)
            await async_wait_until(
                lambda: len(fleet.requests) == 2, what="both requests at the fleet"
            )
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 20)


async def test_with_nothing_due_the_monitor_says_so_at_once(tmp_path: Path) -> None:
    """Every model measured a moment ago (the history): nothing to send, nothing to wait for."""
    async with Fleet() as fleet:
        fleet.set("p", "a", Behaviour())
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        history = History(tmp_path / "h.sqlite3")
        history.add([ProbeResult("p", "a", Outcome.OK, time.time() - 1, ttft_ms=100.0)])
        history.close()
        monitor = Monitor(catalog, KeyRing(env={}), tmp_path / "h.sqlite3")
        task = asyncio.create_task(monitor.run())
        try:
            await async_wait_until(monitor.first_probe.is_set, what="the start signal")
            assert not fleet.requests
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 20)


def test_a_local_ledger_never_imports_the_redis_client(tmp_path: Path) -> None:
    """The first Snapshot reads the budgets: with the SQLite ledger that must not import redis
    (a tenth of a second or more, before the first probe)."""
    code = (
        "import sqlite3, sys\n"
        "from freemodels.core.monitor.budget import Ledger\n"
        "from freemodels.core.monitor.ledger_select import budget_states, ledger_status\n"
        "ledger = Ledger(sqlite3.connect(':memory:'), {})\n"
        "budget_states(ledger, []); ledger_status(ledger)\n"
        "print('redis' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
