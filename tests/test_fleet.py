"""The fake fleet over real sockets: every shape, timing ground truth, keys, the demo, the CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from freemodels.core.catalog.parse import parse_catalog
from freemodels.fleet.demo import configure_demo, demo_catalog_toml, demo_env
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.fleet.synthetic import catalog_toml, configure_uniform
from waiting import async_wait_until

KEY = "sk-fleet-test-0123456789"


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet() as fleet:
        yield fleet


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


class Answer:
    """What a client saw: status, headers, raw lines, and when each line arrived."""

    def __init__(self, response: httpx.Response, lines: list[tuple[float, str]]) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.lines = lines

    @property
    def data(self) -> list[str]:
        return [line[len("data: ") :] for _, line in self.lines if line.startswith("data: ")]

    @property
    def chunks(self) -> list[dict[str, Any]]:
        return [json.loads(d) for d in self.data if d != "[DONE]"]

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [c["choices"][0]["delta"] for c in self.chunks if c.get("choices")]

    def first_content_at(self) -> float:
        for at, line in self.lines:
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[len("data: ") :]).get("choices") or [{}]
            delta = choices[0].get("delta", {})
            if delta.get("content") or delta.get("reasoning_content"):
                return at
        raise AssertionError("no content event")


async def chat(
    client: httpx.AsyncClient,
    fleet: Fleet,
    model: str = "m",
    *,
    provider: str = "p",
    max_lines: int | None = None,
    headers: dict[str, str] | None = None,
    **body: Any,
) -> tuple[Answer, float]:
    """POST a streaming chat request; the answer and t0 (time.monotonic() before sending)."""
    payload = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    payload.update(body)
    lines: list[tuple[float, str]] = []
    t0 = time.monotonic()
    url = f"{fleet.base_url(provider)}/chat/completions"
    async with client.stream("POST", url, json=payload, headers=headers) as response:
        async for line in response.aiter_lines():
            lines.append((time.monotonic(), line))
            if max_lines is not None and len(lines) >= max_lines:
                break
    return Answer(response, [(at, line) for at, line in lines if line]), t0


# -- stream shapes ---------------------------------------------------------------------------


async def test_sse_is_shaped_like_openai(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(ttft_s=0.01, tokens=4))
    answer, _ = await chat(client, fleet)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.data[-1] == "[DONE]"
    chunks = answer.chunks
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    contents = [d["content"] for d in answer.deltas[1:-1]]
    assert len(contents) == 4 and all(contents)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 5 + ["stop"]


async def test_role_chunk_can_be_left_out(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(ttft_s=0.0, role_chunk=False, tokens=2))
    answer, _ = await chat(client, fleet)
    assert "role" not in answer.deltas[0]
    assert answer.deltas[0]["content"]


async def test_reasoning_comes_first(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(ttft_s=0.0, reasoning=True, tokens=4))
    answer, _ = await chat(client, fleet)
    fields = [next(iter(d)) for d in answer.deltas[1:-1]]
    assert fields == ["reasoning_content", "reasoning_content", "content", "content"]


async def test_usage_chunk_only_when_asked(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(ttft_s=0.0, tokens=2))
    answer, _ = await chat(client, fleet, stream_options={"include_usage": True})
    last = answer.chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 2
    plain, _ = await chat(client, fleet)
    assert all("usage" not in c for c in plain.chunks)
    fleet.behaviour("p", "m").usage = False
    off, _ = await chat(client, fleet, stream_options={"include_usage": True})
    assert all("usage" not in c for c in off.chunks)


async def test_tool_call_when_tools_are_offered(fleet: Fleet, client: httpx.AsyncClient) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city", "days"],
                },
            },
        }
    ]
    fleet.set("p", "m", Behaviour(ttft_s=0.0, tool_call=True))
    answer, _ = await chat(client, fleet, tools=tools)
    calls = [d["tool_calls"][0] for d in answer.deltas if "tool_calls" in d]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    arguments = json.loads("".join(c["function"]["arguments"] for c in calls))
    assert isinstance(arguments["city"], str) and isinstance(arguments["days"], int)
    assert answer.chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    # A model that does not call tools just answers.
    fleet.set("p", "m", Behaviour(ttft_s=0.0, tool_call=False))
    plain, _ = await chat(client, fleet, tools=tools)
    assert not any("tool_calls" in d for d in plain.deltas)


async def test_json_shape_answers_a_whole_completion(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    fleet.set("p", "m", Behaviour(shape="json", ttft_s=0.05, tokens=3))
    t0 = time.monotonic()
    response = await client.post(
        f"{fleet.base_url('p')}/chat/completions", json={"model": "m", "stream": True}
    )
    elapsed = time.monotonic() - t0
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Hello from the"
    assert elapsed >= 0.05  # the whole body waits for the first token's time


@pytest.mark.parametrize(
    ("shape", "content_type"), [("html", "text/html"), ("bad_json", "application/json")]
)
async def test_broken_200_bodies(
    fleet: Fleet, client: httpx.AsyncClient, shape: str, content_type: str
) -> None:
    fleet.set("p", "m", Behaviour(shape=shape))
    response = await client.post(f"{fleet.base_url('p')}/chat/completions", json={"model": "m"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


async def test_error_event_after_content(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(shape="error_event", ttft_s=0.0))
    answer, _ = await chat(client, fleet)
    events = [json.loads(d) for d in answer.data]
    assert events[1]["choices"][0]["delta"]["content"]
    assert events[-1]["error"]["message"]
    assert "[DONE]" not in answer.data


async def test_no_content_stream(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(shape="no_content", ttft_s=0.0))
    answer, _ = await chat(client, fleet)
    assert answer.data[-1] == "[DONE]"
    assert not any(d.get("content") or d.get("reasoning_content") for d in answer.deltas)


async def test_huge_stream_passes_two_mib(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(shape="huge", ttft_s=0.0))
    answer, _ = await chat(client, fleet)
    assert sum(len(line) for _, line in answer.lines) > 2 * 1024 * 1024
    assert answer.data[-1] == "[DONE]"


def handler_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if "_handle_request" in repr(t.get_coro())]


async def test_forever_stream_ends_when_the_client_leaves(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    fleet.set("p", "m", Behaviour(shape="forever", ttft_s=0.0, token_interval_s=0.001))
    async with httpx.AsyncClient() as client:
        answer, _ = await chat(client, fleet, max_lines=200)
    assert len(answer.data) == 100  # lines alternate with the blank event separators
    await async_wait_until(lambda: handler_tasks() == [], what="the stream's handler to end")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_client_giving_up_mid_wait_leaves_nothing_running(
    fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    # The handler would sleep 60 s; it must end long before, when the client hangs up.
    fleet.set("p", "m", Behaviour(headers_delay_s=60.0, ttft_s=60.0))
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=0.1)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await chat(client, fleet)
    await async_wait_until(
        lambda: handler_tasks() == [], timeout=20.0, what="the abandoned handler to end"
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_keepalive_forever_never_sends_content(fleet: Fleet) -> None:
    fleet.set("p", "m", Behaviour(shape="keepalive_forever", keepalive_interval_s=0.01))
    async with httpx.AsyncClient() as client:
        answer, _ = await chat(client, fleet, max_lines=12)
    comments = [line for _, line in answer.lines if line.startswith(":")]
    assert len(comments) >= 5 and set(comments) == {": keep-alive"}
    assert all("content" not in d or not d["content"] for d in answer.deltas)
    await async_wait_until(lambda: handler_tasks() == [], what="the keep-alive handler to end")


async def test_reset_drops_the_connection(
    fleet: Fleet, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    fleet.set("p", "m", Behaviour(shape="reset"))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await client.post(f"{fleet.base_url('p')}/chat/completions", json={"model": "m"})
    # The fleet goes on serving, and dropping a connection on purpose is not an error to log.
    fleet.set("p", "m", Behaviour(ttft_s=0.0))
    assert (await chat(client, fleet))[0].status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_stop_is_prompt_with_open_streams(caplog: pytest.LogCaptureFixture) -> None:
    fleet = Fleet()
    await fleet.start()
    fleet.set("p", "m", Behaviour(shape="forever", token_interval_s=0.01))
    async with httpx.AsyncClient() as client:
        url = f"{fleet.base_url('p')}/chat/completions"
        async with client.stream("POST", url, json={"model": "m"}) as response:
            lines = response.aiter_lines()
            await anext(lines)
            started = time.monotonic()
            await fleet.stop()
            # The fleet cuts streams after 0.25 s; aiohttp's default would wait 60 s for them.
            assert time.monotonic() - started < 10.0
            with pytest.raises(httpx.HTTPError):
                async for _ in lines:
                    pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- timing ----------------------------------------------------------------------------------


NAGLE_STALL_S = 0.04
"""What a socket without TCP_NODELAY adds to a small write after another (Nagle + delayed ACK)."""


async def test_first_content_arrives_at_ttft(fleet: Fleet, client: httpx.AsyncClient) -> None:
    ttft = 0.3
    fleet.set("p", "m", Behaviour(ttft_s=ttft, headers_delay_s=0.0, role_chunk=True))
    headers, late, transit = [], [], []
    # A loaded machine delays single wake-ups by tens of ms; the best of several tries shows
    # what the fleet itself adds. At least 5 tries, more (up to 20) only while every try is slow.
    for attempt in range(20):
        answer, t0 = await chat(client, fleet)
        record = fleet.requests[-1]
        sent = record.sent
        assert sent.headers is not None and sent.first_content is not None
        assert answer.lines[0][0] < answer.first_content_at()  # role chunk before content
        # Never early: neither the fleet's own record nor what the client saw.
        assert sent.first_content - record.at >= ttft
        assert answer.first_content_at() - t0 >= ttft
        headers.append(sent.headers - record.at)
        late.append(sent.first_content - record.at - ttft)
        # The client runs in the same process: what it saw against the fleet's own record.
        transit.append(answer.first_content_at() - sent.first_content)
        if (
            attempt >= 4
            and min(transit) < NAGLE_STALL_S / 2
            and max(min(headers), min(late)) < ttft / 3
        ):
            break
    # Headers leave at once, not with the content 300 ms later; content leaves at ttft, not a
    # token interval or a second ttft later (each bound a third of ttft, the best of the tries).
    assert min(headers) < ttft / 3, headers
    assert min(late) < ttft / 3, late
    # And it reaches the client without Nagle's stall: on the best try, well under one.
    assert min(transit) < NAGLE_STALL_S / 2, transit


async def test_headers_delay_is_honoured(fleet: Fleet, client: httpx.AsyncClient) -> None:
    # Headers at 0.2 s, content at 0.5 s after arrival (not 0.7 s: ttft counts from arrival).
    # The events are 300 ms apart, so a margin of 100 ms tells them apart on a busy machine.
    fleet.set("p", "m", Behaviour(headers_delay_s=0.2, ttft_s=0.5))
    seen = []
    for _ in range(5):
        answer, t0 = await chat(client, fleet)
        record = fleet.requests[-1]
        assert record.sent.headers is not None
        headers, content = record.sent.headers - record.at, answer.first_content_at() - t0
        assert headers >= 0.2 and content >= 0.5  # never early
        seen.append((headers, content))
        if headers < 0.3 and content < 0.6:
            break
    assert min(h for h, _ in seen) < 0.3 and min(c for _, c in seen) < 0.6, seen


async def test_zero_delay_round_trip_takes_a_few_ms(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms to each request on a kept-alive socket.
    # The best of several round trips is a few ms even on a loaded machine; five eighths of the
    # stall (25 ms) tells the two apart.
    fleet.set("p", "m", Behaviour(ttft_s=0.0, token_interval_s=0.0, tokens=1))
    totals = []
    for attempt in range(20):
        t0 = time.monotonic()
        await chat(client, fleet)
        totals.append(time.monotonic() - t0)
        if attempt >= 4 and min(totals[1:]) < NAGLE_STALL_S * 5 / 8:
            break
    assert min(totals[1:]) < NAGLE_STALL_S * 5 / 8, totals  # the first opens the connection


# -- statuses, keys, redirects ---------------------------------------------------------------


async def test_error_status_with_retry_after(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(status=429, retry_after="7"))
    response = await client.post(f"{fleet.base_url('p')}/chat/completions", json={"model": "m"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["message"]
    sent = fleet.requests[-1].sent
    assert sent.headers is not None and sent.first_content is None


async def test_custom_error_body(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(status=503, body="upstream overloaded"))
    response = await client.post(f"{fleet.base_url('p')}/chat/completions", json={"model": "m"})
    assert response.status_code == 503
    assert response.text == "upstream overloaded"


async def test_echo_auth_puts_the_key_in_the_error(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(status=400, echo_auth=True))
    response = await client.post(
        f"{fleet.base_url('p')}/chat/completions",
        json={"model": "m"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 400
    assert KEY in response.text


async def test_require_key(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(ttft_s=0.0))
    fleet.require_key("p", KEY)
    url = f"{fleet.base_url('p')}/chat/completions"
    assert (await client.post(url, json={"model": "m"})).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.post(url, json={"model": "m"}, headers=wrong)).status_code == 401
    answer, _ = await chat(client, fleet, headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status == 200
    models = await client.get(f"{fleet.base_url('p')}/models")
    assert models.status_code == 401
    fleet.require_key("p", None)
    assert (await chat(client, fleet))[0].status == 200


async def test_redirect(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(redirect_to="http://elsewhere.invalid/v1/chat/completions"))
    response = await client.post(f"{fleet.base_url('p')}/chat/completions", json={"model": "m"})
    assert response.status_code == 307
    assert response.headers["location"] == "http://elsewhere.invalid/v1/chat/completions"


async def test_unknown_provider_model_and_route_are_404_json(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    fleet.set("p", "m", Behaviour())
    for url, body in (
        (f"{fleet.base_url('nope')}/chat/completions", {"model": "m"}),
        (f"{fleet.base_url('p')}/chat/completions", {"model": "gone"}),
        (f"{fleet.url}/elsewhere", {"model": "m"}),
    ):
        response = await client.post(url, json=body)
        assert response.status_code == 404
        assert response.json()["error"]["message"]
    bad = await client.post(f"{fleet.base_url('p')}/chat/completions", content=b"{not json")
    assert bad.status_code == 400


async def test_models_listing(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "free", Behaviour(context=32768))
    fleet.set("p", "paid", Behaviour(price="0.000002"))
    fleet.set("p", "retired", Behaviour(status=404, listed=False))
    response = await client.get(f"{fleet.base_url('p')}/models")
    listing = response.json()
    assert listing["object"] == "list"
    by_id = {m["id"]: m for m in listing["data"]}
    assert set(by_id) == {"free", "paid"}
    assert all(m["object"] == "model" for m in by_id.values())
    assert by_id["free"]["pricing"] == {"prompt": "0", "completion": "0"}
    assert by_id["free"]["context_length"] == 32768
    assert by_id["paid"]["pricing"]["prompt"] == "0.000002"


async def test_requests_are_recorded_on_arrival(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("p", "m", Behaviour(headers_delay_s=2.0, ttft_s=2.0))
    before = time.monotonic()
    task = asyncio.create_task(chat(client, fleet, headers={"Authorization": "Bearer k"}))
    await async_wait_until(lambda: fleet.requests, what="the request to be recorded")
    # Recorded on arrival: the answer is still delayed, nothing of it has been sent.
    assert len(fleet.requests) == 1 and not task.done()
    record = fleet.requests[0]
    assert record.sent.headers is None
    assert before <= record.at <= time.monotonic()
    assert abs(record.wall - time.time()) < 1
    assert (record.provider, record.model, record.path) == ("p", "m", "chat/completions")
    assert record.authorization == "Bearer k"
    assert record.body is not None and record.body["stream"] is True
    await task
    await client.get(f"{fleet.base_url('p')}/models")
    assert (fleet.requests[1].path, fleet.requests[1].model) == ("models", None)
    assert fleet.request_count("p", "m") == 1


async def test_request_log_can_be_bounded(client: httpx.AsyncClient) -> None:
    async with Fleet(max_records=3) as fleet:
        fleet.set("p", "m", Behaviour(shape="json", ttft_s=0.0))
        url = f"{fleet.base_url('p')}/chat/completions"
        for n in range(8):
            await client.post(url, json={"model": "m", "n": n})
            assert len(fleet.requests) < 6
        numbers = [r.body["n"] for r in fleet.requests if r.body]
        assert len(numbers) >= 3 and numbers == list(range(8))[-len(numbers) :]
        assert fleet.request_count("p", "m") == 8


async def test_sampler_gets_a_seeded_rng_and_the_model_request_index(
    client: httpx.AsyncClient,
) -> None:
    seen: list[tuple[int, float]] = []

    def sampler(rng: random.Random, index: int) -> Behaviour:
        seen.append((index, rng.random()))
        return Behaviour(status=500 if index == 1 else 200, ttft_s=0.0)

    async with Fleet(seed=3) as fleet:
        fleet.set("p", "m", Behaviour(sampler=sampler))
        statuses = [(await chat(client, fleet))[0].status for _ in range(3)]
    assert statuses == [200, 500, 200]
    expected = random.Random("3/p/m")
    assert seen == [(i, expected.random()) for i in range(3)]


# -- FleetThread -----------------------------------------------------------------------------


def test_fleet_thread_serves_sync_code() -> None:
    fleet = Fleet()
    fleet.set("p", "m", Behaviour(shape="json", ttft_s=0.0))
    with FleetThread(fleet) as thread:
        assert thread.fleet.port > 0
        response = httpx.post(f"{fleet.base_url('p')}/chat/completions", json={"model": "m"})
        assert response.json()["object"] == "chat.completion"
        started = time.monotonic()
    # Leaving cuts the fleet within its 0.25 s shutdown timeout, not aiohttp's default 60 s.
    assert time.monotonic() - started < 10.0
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{fleet.base_url('p')}/chat/completions", json={"model": "m"})


def test_fleet_thread_reports_a_taken_port() -> None:
    with FleetThread(Fleet()) as first:
        taken = Fleet(port=first.fleet.port)
        with pytest.raises(OSError):
            FleetThread(taken).start()


# -- demo ------------------------------------------------------------------------------------


async def test_demo_catalog_matches_the_fleet(fleet: Fleet) -> None:
    configure_demo(fleet)
    catalog = parse_catalog(demo_catalog_toml(fleet), "demo", allow_http=True)
    pairs = list(catalog.models())
    assert len(pairs) >= 8 and len(catalog.providers) >= 5
    env = demo_env()
    for provider in catalog.providers:
        assert provider.id.startswith("demo-")
        assert provider.base_url == fleet.base_url(provider.id)
        assert all(name.startswith("DEMO_") for name in provider.api_key_env)
        required = fleet.key(provider.id)
        if provider.key_required:
            assert env[provider.api_key_env[0]] == required
        else:
            assert required is None and provider.api_key_env[0] not in env
    assert any(not p.key_required for p in catalog.providers)
    assert any(m.reasoning for _, m in pairs)
    assert all(m.tier and m.swe_bench is not None for _, m in pairs)
    assert {p.rpm for p in catalog.providers} >= {600}


async def test_demo_sweep_answers_like_real_providers(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    configure_demo(fleet)
    catalog = parse_catalog(demo_catalog_toml(fleet), "demo", allow_http=True)
    env = demo_env()

    async def one(provider_id: str, key_env: str, model: str) -> int:
        headers = {"Authorization": f"Bearer {env[key_env]}"} if key_env in env else {}
        answer, _ = await chat(client, fleet, model, provider=provider_id, headers=headers)
        return answer.status

    started = time.monotonic()
    statuses = await asyncio.gather(
        *(one(p.id, p.api_key_env[0], m.id) for p, m in catalog.models())
    )
    # `check --demo` ends in seconds: a young demo answers within about a second (old models
    # queue for 20-90 s); 10 s leaves a loaded machine room and still tells the two apart.
    assert time.monotonic() - started < 10.0
    assert statuses.count(200) >= 5
    assert 404 in statuses


def draws(seed: int, count: int, age: float = 0.0) -> dict[tuple[str, str], list[Behaviour]]:
    fleet = Fleet(seed=seed)
    configure_demo(fleet)
    fleet.age = lambda: age  # type: ignore[method-assign]
    return {
        (p, m): [fleet.sample(p, m) for _ in range(count)]
        for p, models in fleet.providers().items()
        for m in models
    }


def summary(behaviours: list[Behaviour]) -> list[tuple[int, float, str | None]]:
    return [(b.status, round(b.ttft_s, 6), b.retry_after) for b in behaviours]


def test_demo_is_deterministic_per_seed() -> None:
    first, again, other = draws(7, 60), draws(7, 60), draws(8, 60)
    assert {k: summary(v) for k, v in first.items()} == {k: summary(v) for k, v in again.items()}
    assert {k: summary(v) for k, v in first.items()} != {k: summary(v) for k, v in other.items()}


def test_demo_profiles() -> None:
    young, old = draws(1, 400), draws(1, 400, age=120.0)
    flaky = [b.status for b in young["demo-mistral", "devstral-2512"]]
    assert 0.2 < sum(s >= 500 for s in flaky) / len(flaky) < 0.4
    limited = young["demo-openrouter", "openai/gpt-oss-20b:free"]
    assert any(b.status == 429 and b.retry_after for b in limited)
    assert 0.6 < sum(b.status == 200 for b in limited) / len(limited) < 0.95
    groq = [b.ttft_s for b in young["demo-groq", "qwen/qwen3.6-27b"]]
    assert 0.15 < statistics.median(groq) < 0.25 and max(groq) < 0.3
    nim_young = [b.ttft_s for b in young["demo-nvidia", "moonshotai/kimi-k2.6"]]
    nim_old = [b.ttft_s for b in old["demo-nvidia", "moonshotai/kimi-k2.6"]]
    assert 0.55 < statistics.median(nim_young) < 0.85
    assert max(nim_young) < 10  # no long queue in the fleet's first minute
    assert max(nim_old[:3]) <= 3.0  # nor in a model's first requests
    assert any(20 <= t <= 90 for t in nim_old)
    assert young["demo-nvidia", "mistralai/codestral-22b-instruct-v0.1"][0].status == 404


# -- python -m freemodels.fleet --------------------------------------------------------------


def test_module_serves_a_uniform_fleet(tmp_path: Path) -> None:
    catalog_path = tmp_path / "bench.toml"
    command = [
        sys.executable, "-m", "freemodels.fleet", "--providers", "2",
        "--models-per-provider", "3", "--ttft-ms", "20", "--catalog-out", str(catalog_path),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        catalog = parse_catalog(catalog_path.read_text(), str(catalog_path), allow_http=True)
        assert [p.id for p in catalog.providers] == ["bench-0", "bench-1"]
        assert [m.id for _, m in catalog.models()] == ["m-0", "m-1", "m-2"] * 2
        assert all(not p.key_required and p.rpm is None for p in catalog.providers)
        with httpx.stream(
            "POST",
            f"{url}/bench-1/v1/chat/completions",
            json={"model": "m-2", "stream": True},
        ) as response:
            text = response.read().decode()
        assert response.status_code == 200 and text.rstrip().endswith("data: [DONE]")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


async def test_catalog_for_any_fleet_names_key_variables(fleet: Fleet) -> None:
    configure_uniform(fleet, providers=1, models_per_provider=2, behaviour=Behaviour())
    fleet.require_key("bench-0", KEY)
    catalog = parse_catalog(catalog_toml(fleet, rpm=60), "x", allow_http=True)
    (provider,) = catalog.providers
    assert provider.key_required and provider.api_key_env == ("BENCH_0_API_KEY",)
    assert provider.rpm == 60


async def test_arrival_is_each_request_s_own_on_a_kept_alive_connection(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    """Arrival is stamped when a request's first bytes are read; a stamp must never outlive its
    request and date the next one on the same connection."""
    fleet.set("p", "m", Behaviour(ttft_s=0.0))
    await chat(client, fleet)
    await asyncio.sleep(0.5)
    before = time.monotonic()
    await chat(client, fleet)
    await client.get(f"{fleet.base_url('p')}/models")
    first, second, listing = fleet.requests
    assert second.at >= before > first.at
    assert listing.at >= second.at


async def test_arrival_is_when_the_head_came_not_the_body(fleet: Fleet) -> None:
    """A body that comes late does not move the arrival: the first read is the one stamped."""
    fleet.set("p", "m", Behaviour(ttft_s=0.0))
    reader, writer = await asyncio.open_connection(fleet.host, fleet.port)
    body = json.dumps({"model": "m", "stream": True, "messages": []}).encode()
    head = (
        f"POST /p/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sent = time.monotonic()
    writer.write(head)
    await writer.drain()
    await asyncio.sleep(1.0)
    writer.write(body)
    await writer.drain()
    await reader.readline()
    writer.close()
    assert fleet.requests[0].at < sent + 0.9


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's count is Linux's TCP_INFO")
async def test_arrival_is_when_the_bytes_came_even_if_the_loop_read_them_late(
    fleet: Fleet,
) -> None:
    """The fleet's loop is busy when a request comes: the arrival is still when it came (the
    benchmarks hold a client's TTFT to it), not when the loop got round to reading it."""
    fleet.set("p", "m", Behaviour(ttft_s=0.0))
    reader, writer = await asyncio.open_connection(fleet.host, fleet.port)
    sent = time.monotonic()
    writer.write(b"GET /p/v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    # This test's loop is the fleet's: stalled, it reads the request a second late.
    asyncio.get_running_loop().call_soon(time.sleep, 1.0)
    await reader.readline()
    writer.close()
    assert fleet.requests[0].at - sent < 0.5
