"""A router in front of the fake fleet, in the test's event loop, with a ranking the test sets.

The ranking is a list of rows the test orders (the monitor's is tested elsewhere); every routed
sample lands in `samples`. Each provider has its own key in the fleet, so a test can check that
the provider's key, and never the client's, reached it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.records import Model as CatalogModel
from freemodels.core.records import ModelStats, ProbeResult, Provider, Snapshot
from freemodels.fleet.server import Behaviour, Fleet
from freemodels.servers.address import Address
from freemodels.servers.router.app import RouterServer
from freemodels.servers.router.deadlines import ClientTimeouts
from freemodels.servers.router.upstream import Timeouts

CLIENT_KEY = "sk-client-secret-0123456789"


@dataclass(frozen=True)
class Spec:
    """One fake model: its provider, id, behaviour and catalog facts."""

    provider: str
    model: str
    behaviour: Behaviour = field(default_factory=Behaviour)
    context: int = 131072
    tool_calls: bool | None = True
    max_output: int | None = None


def fleet_key(provider: str) -> str:
    """The key the fleet requires of one provider."""
    return f"fk-{provider}-secret"


def row(provider: str, model: str, *, usable: bool = True, **extra: object) -> ModelStats:
    """A ranking row."""
    return ModelStats(
        provider, model, model, None, 200, 5, 5, 1.0, 100.0, 100.0, 100.0, 100.0, 110.0,
        1.0, 90, None, usable, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


@dataclass
class Rig:
    """The fleet, the router and what it recorded."""

    fleet: Fleet
    server: RouterServer
    rows: list[ModelStats]
    samples: list[ProbeResult]

    @property
    def url(self) -> str:
        """The router's base URL."""
        return self.server.url

    def snapshot(self) -> Snapshot:
        """The ranking the router reads."""
        return Snapshot(time.time(), 1800.0, tuple(self.rows))

    def chat_requests(self, provider: str | None = None, model: str | None = None) -> list[object]:
        """Chat requests the fleet received (of one provider/model when given)."""
        return [
            r
            for r in self.fleet.requests
            if r.path == "chat/completions"
            and (provider is None or r.provider == provider)
            and (model is None or r.model == model)
        ]


@asynccontextmanager
async def router_rig(
    specs: list[Spec],
    *,
    history: Path | None = None,
    address: Address | None = None,
    token: str | None = None,
    timeouts: Timeouts | None = None,
    groups: dict[str, tuple[str, ...]] | None = None,
    client_timeouts: ClientTimeouts | None = None,
) -> AsyncIterator[Rig]:
    """Start the fleet and a router ranked in the order of `specs`."""
    fleet = Fleet()
    for spec in specs:
        fleet.set(spec.provider, spec.model, spec.behaviour)
        fleet.require_key(spec.provider, fleet_key(spec.provider))
    await fleet.start()
    providers: dict[str, list[CatalogModel]] = {}
    for spec in specs:
        providers.setdefault(spec.provider, []).append(
            CatalogModel(
                spec.model,
                spec.model,
                spec.context,
                max_output=spec.max_output,
                tool_calls=spec.tool_calls,
            )
        )
    catalog = Catalog(
        tuple(
            Provider(
                pid,
                pid,
                fleet.base_url(pid),
                (f"{pid.upper()}_KEY",),
                "http://x.invalid",
                models=tuple(models),
            )
            for pid, models in providers.items()
        )
    )
    keys = KeyRing(env={f"{pid.upper()}_KEY": fleet_key(pid) for pid in providers})
    rows = [row(spec.provider, spec.model) for spec in specs]
    samples: list[ProbeResult] = []
    rig: Rig | None = None

    def snapshot() -> Snapshot:
        assert rig is not None
        return rig.snapshot()

    server = RouterServer(
        catalog,
        keys,
        snapshot,
        samples.append,
        address or Address("127.0.0.1", 0),
        history_path=history,
        token=token,
        timeouts=timeouts or Timeouts(first_token_s=20.0),
        groups=groups,
        client_timeouts=client_timeouts,
    )
    rig = Rig(fleet, server, rows, samples)
    await server.start()
    try:
        yield rig
    finally:
        await server.stop()
        await fleet.stop()


async def wait_for(condition: object, within_s: float = 20.0) -> None:
    """Poll `condition()` until it is true; fail after `within_s` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        await asyncio.sleep(0.02)
