"""The router's upstream side: kept-alive connections, a stream that stalls, usage in chunks."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import openai
import pytest

from freemodels.core.probe import lean_wire
from freemodels.core.probe.lean_wire import LeanWire
from freemodels.core.records import Outcome
from freemodels.fleet.answers import HUGE_TOTAL_BYTES
from freemodels.fleet.server import Behaviour, Fleet
from freemodels.servers.router.sse import EventSplitter
from freemodels.servers.router.stream import Opened, carries_usage
from freemodels.servers.router.upstream import Timeouts
from router_fixtures import CLIENT_KEY, Spec, router_rig, wait_for

ASK = [{"role": "user", "content": "Say hello."}]


def client(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)


async def test_routed_requests_reuse_kept_alive_upstream_connections() -> None:
    async with router_rig([Spec("alpha", "a1")]) as rig:
        api = client(rig.url)
        for streamed in (True, False) * 4:
            if streamed:
                stream = await api.chat.completions.create(
                    model="alpha/a1", messages=ASK, stream=True
                )
                async for _ in stream:
                    pass
            else:
                await api.chat.completions.create(model="alpha/a1", messages=ASK)
        await api.close()
        peers = [request.peer for request in rig.chat_requests("alpha")]
    assert len(peers) == 8 and None not in peers
    # Each answer is read to its end before the next request: its connection goes back to the
    # pool. A margin for a next request that comes before the last bytes were read.
    assert len(set(peers)) <= 4, peers


async def test_a_stream_that_stalls_after_its_first_token_ends_with_an_error_event() -> None:
    stalls = Behaviour(tokens=3, token_interval_s=120.0)
    async with router_rig(
        [Spec("alpha", "a1", stalls)], timeouts=Timeouts(first_token_s=20.0, idle_s=0.5)
    ) as rig:
        api = client(rig.url)
        stream = await api.chat.completions.create(model="auto", messages=ASK, stream=True)
        seen: list[str] = []
        with pytest.raises(openai.APIError, match="stalled"):
            async for chunk in stream:
                seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
        await api.close()
        assert any(seen), "the first token reached the client before the stall"
        upstream = rig.chat_requests("alpha")[0]
        await wait_for(lambda: upstream.sent.hung_up is not None)  # type: ignore[attr-defined]
        assert [s.outcome for s in rig.samples] == [Outcome.BAD_RESPONSE]


def test_usage_null_in_every_chunk_is_relayed_unparsed_and_the_usage_chunk_counted() -> None:
    content = '{"choices":[{"index":0,"delta":{"content":"hi \\"usage\\":{"}}],"usage":null}'
    spaced = '{"choices":[{"index":0,"delta":{"content":"x"}}], "usage": null}'
    final = '{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}'
    assert not carries_usage(content) and not carries_usage(spaced)
    assert carries_usage(final)
    opened = Opened(None, EventSplitter(), [], 200, 0.0, 1.0, 1.0)
    relayed, broken = opened._check([content, spaced, final, "[DONE]"])
    assert relayed == [content, spaced, final] and broken is None
    assert opened.usage == {"prompt_tokens": 7, "completion_tokens": 2}
    assert opened.finished


async def test_a_client_reading_slowly_gets_a_huge_answer_whole() -> None:
    async with router_rig([Spec("alpha", "a1", Behaviour(shape="huge"))]) as rig:
        body = {"model": "alpha/a1", "messages": ASK, "stream": True}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{rig.url}/v1/chat/completions", json=body) as response,
        ):
            assert response.status == 200
            upstream = rig.chat_requests("alpha")[0]
            await wait_for(lambda: upstream.sent.first_content is not None)  # type: ignore[attr-defined]
            await asyncio.sleep(0.5)  # not a timing claim: only lets a backlog build up
            events = (await response.read()).split(b"\n\n")
    contents = [json.loads(e[6:])["choices"][0]["delta"].get("content") or "" for e in events
                if e.startswith(b"data: {") and b'"choices":[{' in e]  # fmt: skip
    assert sum(len(text) for text in contents) >= HUGE_TOTAL_BYTES // 2
    assert set("".join(contents)) == {"x"}
    assert events[-2] == b"data: [DONE]"
    assert [s.outcome for s in rig.samples] == [Outcome.OK]


async def test_the_lean_wire_stops_reading_while_a_backlog_waits_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lean_wire, "PAUSE_AT", 64 * 1024)
    fleet = Fleet()
    fleet.set("alpha", "a1", Behaviour(shape="huge"))
    async with fleet:
        wire = LeanWire(fleet.base_url("alpha"), False, limit=1, keepalive_s=60.0, headers={})
        body = json.dumps({"model": "a1", "messages": ASK, "stream": True}).encode()
        response = await wire.post(f"{fleet.base_url('alpha')}/chat/completions", body, {})
        transport = response.connection.transport  # type: ignore[union-attr]
        await wait_for(lambda: not transport.is_reading())
        received = bytearray()
        while piece := await response.read(20.0):
            received += piece
        assert transport.is_reading(), "reading resumed once the backlog was taken"
        response.close()
        await wire.aclose()
    assert len(received) >= HUGE_TOTAL_BYTES
    assert received.rstrip().endswith(b"data: [DONE]")
