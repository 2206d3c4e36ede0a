"""The router's server: access rules, bad input, hang-ups, idle sockets and 200 streams at once."""

from __future__ import annotations

import asyncio
import io
import json
import os
import resource
import socket

import aiohttp
import pytest

from freemodels.core.probe.clients import MAX_IN_FLIGHT_PER_PROVIDER
from freemodels.fleet.server import Behaviour
from freemodels.servers.address import Address
from router_fixtures import Spec, router_rig, wait_for

ASK = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}


async def post(
    url: str, body: object, *, raw: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object], dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=io.BytesIO(raw) if raw is not None else json.dumps(body), headers=headers
        ) as r,
    ):
        return r.status, await r.json(content_type=None), dict(r.headers)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_bad_input_gets_a_clear_error_in_the_clients_protocol(path: str) -> None:
    async with router_rig([Spec("alpha", "a1")]) as rig:
        url = rig.url + path
        cases = [
            (400, b"{not json"),
            (400, b"[1, 2]"),
            (400, json.dumps({"model": "auto", "max_tokens": 5}).encode()),
            (404, json.dumps({**ASK, "model": "nobody/nothing", "max_tokens": 5}).encode()),
            (413, b'{"messages": "' + b"x" * (21 * 1024 * 1024) + b'"}'),
        ]
        for status, raw in cases:
            got, body, _ = await post(url, None, raw=raw)
            assert got == status, (status, body)
            if path == "/v1/messages":
                assert body["type"] == "error"
                assert isinstance(body["error"], dict) and body["error"]["message"]
            else:
                assert isinstance(body["error"], dict) and body["error"]["message"]
        assert not rig.chat_requests(), "nothing reached a provider"


async def test_web_pages_and_rebound_names_are_refused_before_any_upstream_request() -> None:
    async with router_rig([Spec("alpha", "a1")]) as rig:
        url = rig.url + "/v1/chat/completions"
        plain = {"Content-Type": "text/plain"}
        refused = [
            {"Origin": "https://evil.example", **plain},
            {"Origin": "null"},
            {"Host": "evil.example:8766"},
        ]
        for headers in refused:
            status, body, _ = await post(url, ASK, headers=headers)
            assert status == 403, headers
            assert "error" in body
        status, _, _ = await post(url, ASK, headers={"Origin": rig.url})
        assert status == 200, "the router's own origin may call it"
        assert len(rig.chat_requests()) == 1


async def test_beyond_loopback_a_token_is_required() -> None:
    where = Address("0.0.0.0", 0)
    async with router_rig([Spec("alpha", "a1")], address=where, token="tok-123") as rig:
        assert rig.server.bound is not None
        url = f"http://127.0.0.1:{rig.server.bound.port}/v1/chat/completions"
        status, body, _ = await post(url, ASK)
        assert status == 401 and "token" in json.dumps(body)
        status, _, _ = await post(url, ASK, headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, _, _ = await post(url, ASK, headers={"Authorization": "Bearer tok-123"})
        assert status == 200
        status, _, _ = await post(url, ASK, headers={"x-api-key": "tok-123"})
        assert status == 200
        assert "tok-123" not in json.dumps([r.headers for r in rig.fleet.requests])


async def test_models_and_health() -> None:
    async with router_rig([Spec("alpha", "a1"), Spec("beta", "vendor/b1")]) as rig:
        async with aiohttp.ClientSession() as session:
            async with session.get(rig.url + "/v1/models") as response:
                ids = [m["id"] for m in (await response.json())["data"]]
            async with session.get(rig.url + "/health") as response:
                health = await response.json()
        assert ids == ["auto", "auto:tools", "alpha/a1", "beta/vendor/b1"]
        assert health["status"] == "ok" and health["usable_models"] == 2
        assert "key" not in json.dumps(health).lower()


async def test_a_client_hanging_up_mid_stream_cancels_the_upstream_request_at_once() -> None:
    async with router_rig([Spec("alpha", "a1", Behaviour(shape="forever"))]) as rig:
        session = aiohttp.ClientSession()
        response = await session.post(
            rig.url + "/v1/chat/completions", json={**ASK, "stream": True}
        )
        first = await response.content.readline()
        assert first.startswith(b"data: ")
        response.close()
        await session.close()
        upstream = rig.fleet.requests[0]
        # The fleet's endless stream stops writing once the router dropped its connection.
        await wait_for(lambda: upstream.sent.hung_up is not None)
        await wait_for(lambda: len(rig.samples) == 1)
        assert rig.samples[0].ttft_ms is not None


IDLE = 1000


async def test_a_thousand_idle_connections_do_not_stop_the_router() -> None:
    # Both ends live in this process: 2 descriptors per connection.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * IDLE + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    async with router_rig([Spec("alpha", "a1")]) as rig:
        assert rig.server.bound is not None
        loop = asyncio.get_running_loop()
        idle: list[socket.socket] = []
        try:
            for _ in range(IDLE):
                sock = socket.socket()
                sock.setblocking(False)
                await loop.sock_connect(sock, ("127.0.0.1", rig.server.bound.port))
                idle.append(sock)
            status, body, _ = await post(rig.url + "/v1/chat/completions", ASK)
            assert status == 200, body
        finally:
            for sock in idle:
                sock.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_two_hundred_concurrent_streams_all_answer_and_nothing_leaks() -> None:
    specs = [Spec("alpha", "a1", Behaviour(ttft_s=0.2, tokens=5)), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        tasks_before = len(asyncio.all_tasks())
        fds_before = _open_fds()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one() -> str:
                async with session.post(
                    rig.url + "/v1/chat/completions", json={**ASK, "stream": True}
                ) as response:
                    assert response.status == 200
                    text = (await response.read()).decode()
                assert text.endswith("data: [DONE]\n\n")
                return text

            answers = await asyncio.gather(*(one() for _ in range(200)))
        assert len(answers) == 200
        await wait_for(lambda: len(rig.samples) == 200)
        assert {s.outcome.value for s in rig.samples} == {"ok"}
        # Upstream keep-alive connections stay pooled, at most 32 per provider: each holds a
        # socket at both ends and a connection task in the fleet (which runs in this loop).
        pooled = MAX_IN_FLIGHT_PER_PROVIDER
        await wait_for(lambda: len(asyncio.all_tasks()) <= tasks_before + pooled)
        await wait_for(lambda: _open_fds() <= fds_before + 2 * pooled + 4)


async def test_a_client_hanging_up_before_the_first_token_cancels_the_attempt() -> None:
    slow = Behaviour(ttft_s=30.0)
    async with router_rig([Spec("alpha", "a1", slow), Spec("beta", "b1")]) as rig:
        session = aiohttp.ClientSession()
        request = asyncio.ensure_future(
            session.post(rig.url + "/v1/chat/completions", json={**ASK, "stream": True})
        )
        await wait_for(lambda: len(rig.chat_requests("alpha")) == 1)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await session.close()
        upstream = rig.fleet.requests[0]
        await wait_for(lambda: upstream.sent.hung_up is not None)
        assert not rig.chat_requests("beta"), "no failover for a client that left"
