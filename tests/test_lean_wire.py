"""The lean wire's addresses: one lookup of a provider's name serves a burst of new connections.

No test here resolves a real name: the lookup is replaced by one that counts its calls and
answers with the fleet's loopback address (or fails, as an offline machine's would).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable

import pytest

from freemodels.core.probe import lean_wire
from freemodels.core.probe.lean_wire import LeanWire
from freemodels.fleet.server import Behaviour, Fleet

BODY = json.dumps(
    {"model": "m", "stream": True, "messages": [{"role": "user", "content": "Say OK."}]}
).encode()
NAME = "fleet.invalid"


def counting_lookup(
    monkeypatch: pytest.MonkeyPatch, fail_first: int = 0
) -> Callable[[], list[str]]:
    """Replace the name lookup: every name is the loopback address; the first `fail_first`
    lookups fail as a DNS failure would. Returns the names looked up so far."""
    real = lean_wire._lookup
    names: list[str] = []

    async def lookup(
        loop: asyncio.AbstractEventLoop, host: str, port: int
    ) -> list[tuple[int, int, str, int]]:
        names.append(host)
        await asyncio.sleep(0.01)  # a lookup takes a while: the burst's connections all wait
        if len(names) <= fail_first:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return await real(loop, "127.0.0.1", port)

    monkeypatch.setattr(lean_wire, "_lookup", lookup)
    return lambda: names


async def post_and_read(wire: LeanWire, url: str) -> int:
    response = await wire.post(f"{url}/chat/completions", BODY, {})
    while await response.read(10.0):
        pass
    response.close()
    return response.status


async def test_a_burst_of_new_connections_looks_the_name_up_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up = counting_lookup(monkeypatch)
    fleet = Fleet()
    fleet.set("p", "m", Behaviour(ttft_s=0.2))
    async with fleet:
        url = fleet.base_url("p").replace("127.0.0.1", NAME)
        wire = LeanWire(url, False, limit=16, keepalive_s=60.0, headers={})
        statuses = await asyncio.gather(*(post_and_read(wire, url) for _ in range(16)))
        await wire.aclose()
    assert statuses == [200] * 16
    assert len(fleet.requests) == 16, "16 connections at once, each answered"
    assert looked_up() == [NAME]


async def test_a_failed_lookup_fails_its_connections_and_is_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked_up = counting_lookup(monkeypatch, fail_first=1)
    fleet = Fleet()
    fleet.set("p", "m", Behaviour())
    async with fleet:
        url = fleet.base_url("p").replace("127.0.0.1", NAME)
        wire = LeanWire(url, False, limit=4, keepalive_s=60.0, headers={})
        first = await asyncio.gather(
            *(post_and_read(wire, url) for _ in range(4)), return_exceptions=True
        )
        assert all(isinstance(e, socket.gaierror) for e in first), first
        assert await post_and_read(wire, url) == 200, "the next connection looks the name up again"
        await wire.aclose()
    assert looked_up() == [NAME, NAME]


async def test_a_lookup_outlives_the_connection_that_started_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The probe that asked first is cancelled (a sweep's deadline): the others still connect."""
    looked_up = counting_lookup(monkeypatch)
    fleet = Fleet()
    fleet.set("p", "m", Behaviour())
    async with fleet:
        url = fleet.base_url("p").replace("127.0.0.1", NAME)
        wire = LeanWire(url, False, limit=4, keepalive_s=60.0, headers={})
        first = asyncio.create_task(post_and_read(wire, url))
        await asyncio.sleep(0)  # it starts the lookup
        others = [asyncio.create_task(post_and_read(wire, url)) for _ in range(3)]
        await asyncio.sleep(0)
        first.cancel()
        assert await asyncio.gather(*others) == [200] * 3
        await wire.aclose()
    assert looked_up() == [NAME]


async def test_an_ip_address_is_not_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up = counting_lookup(monkeypatch)
    fleet = Fleet()
    fleet.set("p", "m", Behaviour())
    async with fleet:
        url = fleet.base_url("p")
        wire = LeanWire(url, False, limit=2, keepalive_s=60.0, headers={})
        statuses = await asyncio.gather(*(post_and_read(wire, url) for _ in range(2)))
        assert statuses == [200, 200]
        await wire.aclose()
    assert looked_up() == []
