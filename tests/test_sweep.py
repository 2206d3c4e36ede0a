"""Sending probes: a slow key store must not hold other providers' probes back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.budget import Ledger, RequestGate, budget_limits
from freemodels.core.probe import prober as prober_module
from freemodels.core.probe.clients import ClientPool
from freemodels.core.probe.probe import ProbeSpec
from freemodels.core.probe.prober import Prober, sweep
from freemodels.core.records import Model, Outcome, ProbeResult, Provider
from freemodels.core.store.history import History
from freemodels.fleet.server import Behaviour, Fleet

STORE_S = 2.0


class SlowStore:
    """A key store that takes two seconds to answer (a keyring waking up)."""

    name = "slow"

    def get(self, provider_id: str) -> str | None:
        time.sleep(STORE_S)
        return None


async def test_a_slow_key_store_does_not_stall_the_event_loop() -> None:
    async with Fleet() as fleet:
        fleet.set("fast", "m", Behaviour(ttft_s=0.05))
        fleet.set("stored", "m", Behaviour(ttft_s=0.05))
        model = Model("m", "M", 8192)
        fast = Provider("fast", "Fast", fleet.base_url("fast"), ("FAST_KEY",), "https://x.invalid",
                        models=(model,))  # fmt: skip
        stored = Provider("stored", "Stored", fleet.base_url("stored"), ("STORED_KEY",),
                          "https://x.invalid", models=(model,))  # fmt: skip
        keys = KeyRing([SlowStore()], env={"FAST_KEY": "k-fast"})
        finished: dict[str, float] = {}
        started = time.monotonic()

        def done(result: ProbeResult) -> None:
            finished[result.provider] = time.monotonic() - started

        async with ClientPool() as pool:
            results = await sweep(
                Prober(pool, keys), [(stored, model), (fast, model)], ProbeSpec(), on_result=done
            )
    assert {r.outcome for r in results} == {Outcome.OK}
    # Had the store blocked the event loop, the fast probe would end after it, and its TTFT
    # would hold the store's 2 s; half of that is the margin a loaded machine keeps.
    assert finished["fast"] < STORE_S / 2, "the env-keyed provider did not wait for the store"
    assert finished["stored"] >= STORE_S
    fast_result = next(r for r in results if r.provider == "fast")
    assert fast_result.ttft_ms is not None and fast_result.ttft_ms < STORE_S * 1000 / 2


class QuickStore:
    """A key store that answers after a few ms, in the lookup thread (a keyring round trip)."""

    name = "quick"

    def get(self, provider_id: str) -> str | None:
        time.sleep(0.02)
        return f"k-{provider_id}"


async def test_a_sweeps_probes_are_granted_together_once_the_stores_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probes of a provider whose key comes from a store are granted in the same ledger
    transaction as those of an env-keyed one: started while the loop opened the others'
    connections, the lookup came back tens of ms late and its probes left that much later."""
    # The bound is for a store that hangs; a loaded machine must not make a quick one miss it.
    monkeypatch.setattr(prober_module, "KEYS_WAIT_S", 30.0)
    async with Fleet() as fleet:
        model = Model("m", "M", 8192)
        providers = [
            Provider(
                name,
                name,
                fleet.base_url(name),
                (f"{name.upper()}_KEY",),
                "https://x.invalid",
                models=(model,),
            )
            for name in ("env", "stored")
        ]
        for p in providers:
            fleet.set(p.id, "m", Behaviour(ttft_s=0.01))
        keys = KeyRing([QuickStore()], env={"ENV_KEY": "k-env"})
        ledger = Ledger(History(tmp_path / "h.sqlite3").db, budget_limits(providers))
        batches: list[list[str]] = []
        many = ledger.try_acquire_many

        def counting(requests: Any) -> list[float]:
            batches.append(sorted(request[0].id for request in requests))
            return many(requests)

        ledger.try_acquire_many = counting  # type: ignore[method-assign]
        async with ClientPool() as pool:
            pairs = [(p, model) for p in providers]
            results = await sweep(Prober(pool, keys, RequestGate(ledger)), pairs, ProbeSpec())
    assert {r.outcome for r in results} == {Outcome.OK}
    assert batches == [["env", "stored"]]
