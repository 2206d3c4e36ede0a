"""One attempt: a streamed chat completion sent to one provider, read up to its first content.

The router always asks upstream for a stream (with `stream_options.include_usage`), whatever the
client asked: the first content event is the moment the attempt commits (before it, any failure
may move on to the next candidate; after it, the client has the answer's first bytes). Events
before it (the role chunk) are held back and handed over with it. A provider answering a whole
JSON body to a stream request is turned into the same chunks.

Never raises for a remote failure: `open()` returns a `Failure` with an `Outcome`.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

from freemodels.core.keys.lookup import KeyRing, ResolvedKey
from freemodels.core.probe.clients import MAX_IN_FLIGHT_PER_PROVIDER, USER_AGENT, ssl_context
from freemodels.core.probe.failure import ERROR_TEXT_MAX, error_message, parse_retry_after
from freemodels.core.probe.lean_wire import LeanResponse, LeanWire
from freemodels.core.records import Model, Outcome, Provider
from freemodels.servers.router.sse import EventSplitter
from freemodels.servers.router.stream import Opened, describe_error, parse_json, short_text

KEEPALIVE_S = 120.0
ERROR_BODY_MAX = 64 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long one attempt may take, phase by phase."""

    connect_s: float = 10.0
    first_token_s: float = 60.0
    """From sending to the first content event (headers, role chunk, keep-alive comments)."""
    idle_s: float = 120.0
    """Between two reads once the answer streams."""


@dataclass(frozen=True, slots=True)
class Failure:
    """An attempt that produced no content."""

    outcome: Outcome
    error: str
    status: int | None = None
    retry_after_s: float | None = None
    body: bytes | None = None
    """The upstream error body of a 4xx, relayed when the request was at fault."""
    sent: bool = True
    """False when nothing was sent (no key, an unset URL variable)."""


class Upstream:
    """Sends attempts over one pool of kept-alive connections per provider.

    The pools are the probe's lean wire (`core.probe.lean_wire`: asyncio protocols and
    httptools' C parser), not a general HTTP client: with fifty streams starting at once, a
    general client's per-request and per-read layers were a third of the router's CPU on the way
    to the first token (docs/architecture.md, "Performance notes").
    """

    def __init__(self, keys: KeyRing, timeouts: Timeouts = Timeouts()) -> None:
        self.keys = keys
        self.timeouts = timeouts
        self._wires: dict[str, LeanWire] = {}
        self._keys: dict[str, asyncio.Future[ResolvedKey | None]] = {}

    def _wire(self, provider: Provider, base_url: str) -> LeanWire:
        wire = self._wires.get(provider.id)
        if wire is None:
            tls: ssl.SSLContext | bool = ssl_context() if base_url.startswith("https") else False
            wire = LeanWire(
                base_url,
                tls,
                limit=MAX_IN_FLIGHT_PER_PROVIDER,
                keepalive_s=KEEPALIVE_S,
                # The proxy (HTTPS_PROXY, NO_PROXY) is looked up once per provider; keys never
                # come from .netrc.
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                connect_timeout_s=self.timeouts.connect_s,
            )
            self._wires[provider.id] = wire
        return wire

    async def key(self, provider: Provider) -> ResolvedKey | None:
        """The provider's key, resolved once, in a thread (a key store may be slow)."""
        future = self._keys.get(provider.id)
        if future is None:
            future = asyncio.ensure_future(asyncio.to_thread(self.keys.resolve, provider))
            self._keys[provider.id] = future
        if future.done():
            return future.result()  # no suspension: the usual case after the first request
        return await future

    async def aclose(self) -> None:
        """Close every connection."""
        wires, self._wires = list(self._wires.values()), {}
        for wire in wires:
            await wire.aclose()

    async def unready(self, provider: Provider) -> str | None:
        """Why no request can be sent to this provider (no key, an unset URL variable), if so."""
        if provider.resolve_base_url(self.keys.env) is None:
            return f"no_key: set {', '.join(provider.url_variables)} to use {provider.name}"
        if provider.key_required and await self.key(provider) is None:
            variable = provider.api_key_env[0] if provider.api_key_env else "a key"
            return f"no_key: set {variable} to use {provider.name}"
        return None

    async def open(
        self, provider: Provider, model: Model, body: dict[str, Any]
    ) -> Opened | Failure:
        """Send the request and read up to its first content event (see `unready` first)."""
        base_url = provider.resolve_base_url(self.keys.env)
        if base_url is None:
            return Failure(Outcome.NO_KEY, "an unset URL variable", sent=False)
        key = await self.key(provider)
        headers = dict(provider.headers)
        if key is not None:
            headers["Authorization"] = f"Bearer {key.value}"
        payload = json.dumps({**body, "model": model.id}).encode()
        wire = self._wire(provider, base_url)
        t0 = time.perf_counter()
        response: LeanResponse | None = None
        try:
            async with asyncio.timeout(self.timeouts.first_token_s):
                response = await wire.post(f"{base_url}/chat/completions", payload, headers)
                result = await _first_content(response, t0, self.timeouts.idle_s)
                if isinstance(result, Opened):
                    result.idle_s = self.timeouts.idle_s
                    if key is not None:
                        result.secret = key.value
        except TimeoutError:
            result = Failure(
                Outcome.TIMEOUT, f"no content within {self.timeouts.first_token_s:g} s"
            )
        except OSError as exc:  # refused, reset, TLS, DNS, a malformed answer
            result = Failure(Outcome.NETWORK_ERROR, describe_error(exc))
        except BaseException:
            # Cancelled (the client hung up): drop the upstream request at once.
            if response is not None:
                response.close()
            raise
        if isinstance(result, Failure):
            if response is not None:
                # An error body read to its end leaves the connection reusable.
                response.close()
            return _redacted(result, key)
        return result


async def _first_content(response: LeanResponse, t0: float, idle_s: float) -> Opened | Failure:
    headers_ms = round((time.perf_counter() - t0) * 1000.0, 3)
    status = response.status
    if status != 200:
        return await _error_status(response, idle_s)
    content_type = response.header("Content-Type") or ""
    if "json" in content_type:
        return await _whole_json(response, t0, headers_ms, idle_s)
    if "text/event-stream" not in content_type:
        kind = content_type.split(";")[0] or "no content type"
        return Failure(Outcome.BAD_RESPONSE, f"200 with {kind}", status)
    splitter = EventSplitter()
    held: list[str] = []
    while raw := await response.read(idle_s):
        events = splitter.feed(raw)
        for position, data in enumerate(events):
            if data == "[DONE]":
                return Failure(Outcome.BAD_RESPONSE, "the stream ended with no content", status)
            chunk = parse_json(data)
            if chunk is None:
                return Failure(Outcome.BAD_RESPONSE, "an event that is not JSON", status)
            if "error" in chunk and not chunk.get("choices"):
                return Failure(
                    Outcome.BAD_RESPONSE, "error event: " + short_text(error_message(chunk)), status
                )
            held.append(data)
            if has_content(chunk):
                ttft = round((time.perf_counter() - t0) * 1000.0, 3)
                held += events[position + 1 :]
                return Opened(response, splitter, held, status, t0, headers_ms, ttft)
    return Failure(Outcome.BAD_RESPONSE, "the stream ended with no content", status)


def has_content(chunk: dict[str, Any]) -> bool:
    """Whether a chunk carries output: text, reasoning or a tool call (the TTFT event)."""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    delta = choices[0].get("delta")
    if not isinstance(delta, dict):
        return False
    return bool(
        delta.get("content")
        or delta.get("reasoning_content")
        or delta.get("reasoning")
        or delta.get("tool_calls")
    )


async def _read_all(response: LeanResponse, idle_s: float, limit: int | None = None) -> bytes:
    """The body to its end (or its first `limit` bytes)."""
    pieces: list[bytes] = []
    size = 0
    while (limit is None or size < limit) and (piece := await response.read(idle_s)):
        pieces.append(piece)
        size += len(piece)
    body = b"".join(pieces)
    return body if limit is None else body[:limit]


async def _whole_json(
    response: LeanResponse, t0: float, headers_ms: float, idle_s: float
) -> Opened | Failure:
    """A plain chat.completion where a stream was asked for: made into the same chunks."""
    raw = await _read_all(response, idle_s)
    ttft = round((time.perf_counter() - t0) * 1000.0, 3)
    doc = parse_json(raw.decode("utf-8", "replace"))
    choices = doc.get("choices") if doc is not None else None
    if doc is None or doc.get("error") or not choices or not isinstance(choices[0], dict):
        return Failure(Outcome.BAD_RESPONSE, "200 without a completion", 200)
    message = choices[0].get("message") or {}
    delta = {key: value for key, value in message.items() if value not in (None, "", [])}
    for index, call in enumerate(delta.get("tool_calls") or ()):
        if isinstance(call, dict):
            call.setdefault("index", index)
    chunk = {**doc, "object": "chat.completion.chunk"}
    chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    if not has_content(chunk):
        return Failure(Outcome.BAD_RESPONSE, "200 without a completion", 200)
    chunk.pop("usage", None)
    finish = {**chunk, "choices": [
        {"index": 0, "delta": {}, "finish_reason": choices[0].get("finish_reason") or "stop"}
    ]}  # fmt: skip
    held = [json.dumps(chunk), json.dumps(finish)]
    if isinstance(doc.get("usage"), dict):
        held.append(json.dumps({**chunk, "choices": [], "usage": doc["usage"]}))
    opened = Opened(None, EventSplitter(), held, 200, t0, headers_ms, ttft, finished=True)
    response.close()
    return opened


async def _error_status(response: LeanResponse, idle_s: float) -> Failure:
    status = response.status
    body = await _read_all(response, idle_s, ERROR_BODY_MAX)
    text = body.decode("utf-8", "replace")
    try:
        message = error_message(json.loads(text))
    except ValueError:
        message = text.strip()[:ERROR_TEXT_MAX] if not text.lstrip().startswith("<") else ""
    error = f"HTTP {status}: {message or response.reason or 'error'}"
    if status in (401, 403):
        return Failure(Outcome.AUTH_FAILED, error, status)
    if status in (404, 410):
        return Failure(Outcome.NOT_FOUND, error, status)
    if status == 429:
        retry = parse_retry_after(response.header("Retry-After"), time.time())
        return Failure(Outcome.RATE_LIMITED, error, status, retry_after_s=retry)
    if status >= 500:
        return Failure(Outcome.SERVER_ERROR, error, status)
    if 300 <= status < 400:
        return Failure(Outcome.REJECTED, f"HTTP {status}: a redirect, not followed", status)
    return Failure(Outcome.REJECTED, error, status, body=body)


def _redacted(failure: Failure, key: ResolvedKey | None) -> Failure:
    """The failure with the key cut out of its texts (a server may echo it back)."""
    if key is None or not key.value:
        return failure
    secret = key.value.encode()
    body = failure.body.replace(secret, b"[redacted]") if failure.body else failure.body
    error = " ".join(failure.error.replace(key.value, "[redacted]").split())[:ERROR_TEXT_MAX]
    return Failure(
        failure.outcome, error, failure.status, failure.retry_after_s, body, failure.sent
    )
