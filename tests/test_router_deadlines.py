"""Slow or stuck clients are cut off: a request head that never completes (nothing sent, or
headers a byte at a time), and a body that trickles, each within its deadline from router.toml,
while other clients are answered meanwhile. Raw sockets play the bad clients."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import openai
import pytest

from freemodels.errors import UsageError
from freemodels.servers.router.deadlines import ClientTimeouts, load_client_timeouts
from freemodels.servers.router.groups import load_groups
from router_fixtures import CLIENT_KEY, Spec, router_rig
from test_router_openai import ASK

SHORT = ClientTimeouts(headers_s=1.0, body_s=1.0)
WITHIN_S = 30.0


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def closed_by_server(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter], *, trickle: bytes = b""
) -> tuple[bytes, float]:
    """Send `trickle` a byte at a time until the server closes the connection; what it
    answered and when it closed (time.monotonic()). Fails when still open after WITHIN_S."""
    reader, writer = client
    deadline = time.monotonic() + WITHIN_S
    received = b""
    sent = 0
    while time.monotonic() < deadline:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 0.05)
        except TimeoutError:
            if trickle and not writer.is_closing():
                writer.write(trickle[sent % len(trickle) : sent % len(trickle) + 1])
                sent += 1
            continue
        except ConnectionError:
            return received, time.monotonic()
        if chunk == b"":
            return received, time.monotonic()
        received += chunk
    raise AssertionError(f"the router kept the connection open for {WITHIN_S} s")


async def answered(url: str) -> str:
    api = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30)
    try:
        answer = await api.chat.completions.create(model="auto", messages=ASK)
        return answer.choices[0].message.content or ""
    finally:
        await api.close()


async def test_a_request_head_that_never_completes_is_closed_and_others_are_served() -> None:
    async with router_rig([Spec("alpha", "a1")], client_timeouts=SHORT) as rig:
        opened = time.monotonic()  # before connecting: the server's timers start later
        silent = await connect(rig.url)
        slowloris = await connect(rig.url)
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: y\r\n" * 99
        both = asyncio.gather(closed_by_server(silent), closed_by_server(slowloris, trickle=head))
        # Meanwhile, a well-behaved client gets its answer.
        assert await answered(rig.url) == "Hello from the"
        (nothing, silent_at), (partial, slow_at) = await both
        assert nothing == b"" and partial == b"", "closed without an answer"
        # The deadline is a lower bound the timer cannot beat (a loaded machine only adds).
        assert silent_at - opened >= SHORT.headers_s * 0.9
        assert slow_at - opened >= SHORT.headers_s * 0.9
        for _, writer in (silent, slowloris):
            writer.close()
        assert await answered(rig.url) == "Hello from the", "the router still serves"


async def test_a_slow_head_after_an_answer_on_a_kept_alive_connection_is_closed() -> None:
    async with router_rig([Spec("alpha", "a1")], client_timeouts=SHORT) as rig:
        reader, writer = await connect(rig.url)
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = await reader.readuntil(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200"), first
        length = int(first.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        slow = b"GET /health HTTP/1.1\r\nX-Pad: y\r\n" * 50
        rest, _ = await closed_by_server((reader, writer), trickle=slow)
        assert b"HTTP/1.1" not in rest, "no second answer for a head that never ended"
        writer.close()


async def test_a_body_that_trickles_gets_a_408_and_the_connection_is_closed() -> None:
    async with router_rig([Spec("alpha", "a1")], client_timeouts=SHORT) as rig:
        reader, writer = await connect(rig.url)
        head = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        sent_at = time.monotonic()  # before sending: the body's deadline starts later
        writer.write(head + b'{"model": "auto", ')
        work = asyncio.ensure_future(closed_by_server((reader, writer), trickle=b" "))
        assert await answered(rig.url) == "Hello from the"
        answer, closed_at = await work
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"did not arrive within 1 s" in answer
        assert closed_at - sent_at >= SHORT.body_s * 0.9
        writer.close()
        assert len(rig.chat_requests()) == 1, "only the good client's request went upstream"


async def test_the_anthropic_endpoint_answers_a_trickling_body_in_its_own_shape() -> None:
    async with router_rig([Spec("alpha", "a1")], client_timeouts=SHORT) as rig:
        reader, writer = await connect(rig.url)
        writer.write(
            b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n{"
        )
        answer, _ = await closed_by_server((reader, writer), trickle=b" ")
        assert answer.startswith(b"HTTP/1.1 408") and b'"type": "error"' in answer
        writer.close()


def test_router_toml_sets_the_deadlines(tmp_path: Path) -> None:
    path = tmp_path / "router.toml"
    assert load_client_timeouts(path) == ClientTimeouts(30.0, 60.0), "defaults without a file"
    path.write_text('[groups]\ncoder = ["auto"]\n\n[timeouts]\nheaders = 10\nbody = 2.5\n')
    assert load_client_timeouts(path) == ClientTimeouts(10.0, 2.5)
    from freemodels.core.catalog.parse import Catalog

    assert load_groups(path, Catalog(())) == {"coder": ("auto",)}, "groups still read"
    for bad in ("headers = 0", "body = -1", 'headers = "10"', "speed = 3", "headers = 1e9"):
        path.write_text(f"[timeouts]\n{bad}\n")
        with pytest.raises(UsageError, match=r"router\.toml: \[timeouts\]"):
            load_client_timeouts(path)
