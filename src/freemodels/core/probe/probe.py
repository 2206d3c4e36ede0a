"""One probe: a streaming chat completion, timed to the first token.

Definitions: docs/architecture.md, "Metrics".

TTFT is the first SSE event whose `delta.content` or `delta.reasoning_content` is non-empty:
headers, SSE comments and role-only chunks do not count (a streaming server sends headers at
once, so timing them measures nothing). Every remote failure becomes an `Outcome`; only bugs raise.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.probe import failure
from freemodels.core.probe.clients import request_headers
from freemodels.core.probe.failure import (
    ERROR_TEXT_MAX,
    error_message,
    error_message_from_body,
    parse_retry_after,
    plan_refusal,
)
from freemodels.core.probe.sse import TOOL_NAME, SseReader
from freemodels.core.probe.wire import HttpxWire, Wire, WireResponse
from freemodels.core.records import Model, Outcome, ProbeKind, ProbeResult, Provider

if TYPE_CHECKING:
    import httpx

BYTE_CAP = 1 << 20  # a stream cut here after content arrived still counts as ok
_MAX_SAME_ORIGIN_REDIRECTS = 3

_TOOL = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Current time in a timezone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "required": ["timezone"],
        },
    },
}


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """What to ask: a tiny completion (probe), a longer one (speed) or a tool call (tools)."""

    kind: ProbeKind = ProbeKind.PROBE
    timeout_s: float = 15.0
    max_tokens: int = 8
    refused: frozenset[str] = frozenset()
    """Fields this model refuses: `max_tokens` becomes `max_completion_tokens`, and
    `temperature` is left out (see failure.refused_fields)."""

    @classmethod
    def for_kind(cls, kind: ProbeKind, timeout_s: float = 15.0) -> ProbeSpec:
        """Defaults for each kind of request."""
        max_tokens = {ProbeKind.SPEED: 256, ProbeKind.TOOLS: 64}.get(kind, 8)
        return cls(kind=kind, timeout_s=timeout_s, max_tokens=max_tokens)

    def body(self, model: Model) -> dict[str, Any]:
        """The JSON request body; a fresh nonce each time so no cache can answer."""
        nonce = os.urandom(6).hex()
        if self.kind is ProbeKind.SPEED:
            prompt = f"Count from 1 to 100, separated by spaces. [{nonce}]"
        elif self.kind is ProbeKind.TOOLS:
            prompt = f"What time is it in UTC? Use the get_time tool. [{nonce}]"
        else:
            prompt = f"Reply with the single word OK. [{nonce}]"
        body: dict[str, Any] = {
            "model": model.id,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.max_tokens,
            "temperature": 0,
            "stream": True,
        }
        if "max_tokens" in self.refused:
            body["max_completion_tokens"] = body.pop("max_tokens")
        if "temperature" in self.refused:
            del body["temperature"]
        if self.kind is ProbeKind.SPEED:
            body["stream_options"] = {"include_usage": True}
        if self.kind is ProbeKind.TOOLS:
            body["tools"] = [_TOOL]
        return body


_seen_connections: weakref.WeakSet[Any] = weakref.WeakSet()


def _reused(connection: object | None) -> bool | None:
    """Whether this response came over a connection an earlier probe opened."""
    if connection is None:
        return None
    try:
        if connection in _seen_connections:
            return True
        _seen_connections.add(connection)
    except TypeError:  # a connection type that cannot be weakly referenced
        return None
    return False


async def probe(
    client: Wire | httpx.AsyncClient,
    provider: Provider,
    model: Model,
    key: ResolvedKey | None,
    spec: ProbeSpec | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    wall: Callable[[], float] = time.time,
    on_headers: Callable[[], None] | None = None,
) -> ProbeResult:
    """Send one request and measure it; never raises for a remote failure.

    `on_headers` is called when the response headers arrive (the dashboard waits for its first
    probe to be under way before loading its UI). `client` is a provider's wire
    (`ClientPool.wire`), or any httpx client.
    """
    wire = client if not hasattr(client, "build_request") else HttpxWire(client)  # type: ignore[arg-type]
    spec = spec or ProbeSpec()
    started_at = wall()
    base_url = provider.resolve_base_url(env)
    if base_url is None:
        missing = ", ".join(provider.url_variables)
        return ProbeResult(
            provider.id,
            model.id,
            Outcome.NO_KEY,
            started_at,
            error=f"set {missing} to use {provider.name}",
            kind=spec.kind,
        )
    measure = _Measurement(provider, model, key, spec, clock, started_at, on_headers)
    try:
        async with asyncio.timeout(spec.timeout_s):
            return await measure.run(wire, f"{base_url}/chat/completions")
    except TimeoutError:
        return measure.failed(Outcome.TIMEOUT, f"no answer within {spec.timeout_s:g} s")
    except Exception as exc:
        if not failure.is_transport_error(exc):
            raise
        network_error = failure.network_error(exc)
        if network_error is None:
            return measure.failed(Outcome.TIMEOUT, f"no answer within {spec.timeout_s:g} s")
        return measure.failed(Outcome.NETWORK_ERROR, network_error)


class _Measurement:
    """The state of one probe in progress, so a timeout can still report what was seen."""

    def __init__(
        self,
        provider: Provider,
        model: Model,
        key: ResolvedKey | None,
        spec: ProbeSpec,
        clock: Callable[[], float],
        started_at: float,
        on_headers: Callable[[], None] | None = None,
    ) -> None:
        self.on_headers = on_headers
        self.provider = provider
        self.model = model
        self.key = key
        self.spec = spec
        self.clock = clock
        self.started_at = started_at
        self.t0 = clock()
        self.status: int | None = None
        self.headers_ms: float | None = None
        self.reused: bool | None = None

    def _ms(self, at: float | None) -> float | None:
        return None if at is None else round((at - self.t0) * 1000.0, 3)

    def failed(
        self, outcome: Outcome, error: str, *, retry_after_s: float | None = None
    ) -> ProbeResult:
        """A result for a request that did not produce a valid completion."""
        total = self._ms(self.clock()) if self.status is not None else None
        return ProbeResult(
            self.provider.id,
            self.model.id,
            outcome,
            self.started_at,
            http_status=self.status,
            total_ms=total,
            headers_ms=self.headers_ms,
            reused=self.reused,
            error=self._redact(error)[:ERROR_TEXT_MAX],
            retry_after_s=retry_after_s,
            kind=self.spec.kind,
        )

    def _redact(self, text: str) -> str:
        if self.key is not None and self.key.value:
            text = text.replace(self.key.value, "[redacted]")
        return " ".join(text.split())

    async def run(self, wire: Wire, url: str) -> ProbeResult:
        body = json.dumps(self.spec.body(self.model), separators=(",", ":")).encode()
        headers = request_headers(self.provider, self.key)
        origin = url
        for _ in range(_MAX_SAME_ORIGIN_REDIRECTS + 1):
            self.t0 = self.clock()
            response = await wire.post(url, body, headers)
            if response.sent_at is not None and self.clock is time.perf_counter:
                # From the request's write, not from before the await that made the connection
                # and wrote it: with hundreds of probes starting at once, the loop runs the
                # others' set-up in between, which is no part of the provider's latency.
                self.t0 = response.sent_at
            try:
                self.status = response.status
                self.headers_ms = self._ms(self.clock())
                self.reused = _reused(response.connection)
                if self.on_headers is not None:
                    self.on_headers()
                if response.status in _REDIRECTS:
                    location = response.header("location")
                    target = urljoin(url, location) if location else None
                    if target is None or not _same_origin(origin, target):
                        parts = urlsplit(target) if target else None
                        where = f"{parts.scheme}://{parts.hostname}" if parts else "nowhere"
                        return self.failed(
                            Outcome.REJECTED,
                            f"redirected to another origin ({where}); not followed",
                        )
                    url = target
                    continue
                return await self._answer(response)
            finally:
                await response.aclose()
        return self.failed(Outcome.REJECTED, "too many redirects")

    async def _answer(self, response: WireResponse) -> ProbeResult:
        status = response.status
        if status != 200:
            return await self._error_status(response)
        content_type = response.header("content-type") or ""
        if "text/event-stream" in content_type:
            return await self._read_stream(response)
        if "json" in content_type:
            return await self._read_json(response)
        return self.failed(
            Outcome.BAD_RESPONSE, f"200 with {content_type.split(';')[0] or 'no content type'}"
        )

    async def _error_status(self, response: WireResponse) -> ProbeResult:
        status = response.status
        text = await _read_capped(response, 4096)
        message = error_message_from_body(text) or response.reason or f"HTTP {status}"
        error = f"HTTP {status}: {message}"
        if status in (401, 403) and plan_refusal(text):
            # The provider knows the key and refuses the model on this plan: not a key problem.
            return self.failed(Outcome.REJECTED, f"HTTP {status}: needs a paid plan: {message}")
        if status in (401, 403):
            outcome = Outcome.AUTH_FAILED if self.key is not None else Outcome.NO_KEY
            if self.key is None:
                env = self.provider.api_key_env[0]
                error = f"HTTP {status}: no key (set {env})"
            return self.failed(outcome, error)
        if status in (404, 410):
            return self.failed(Outcome.NOT_FOUND, error)
        if status == 429:
            retry = parse_retry_after(response.header("retry-after"), time.time())
            return self.failed(Outcome.RATE_LIMITED, error, retry_after_s=retry)
        if status >= 500:
            return self.failed(Outcome.SERVER_ERROR, error)
        return self.failed(Outcome.REJECTED, error)

    async def _read_stream(self, response: WireResponse) -> ProbeResult:
        stream = SseReader()
        end: float | None = None
        # Each piece comes with the time it reached the socket, not the (later, when hundreds of
        # answers land at once) time this coroutine got to run.
        async for data, arrived in response.chunks(self.clock):
            if end is not None:
                # Drain what follows [DONE] (the chunked terminator): a response closed early
                # costs its connection, and the next probe would pay a new handshake.
                continue
            stream.feed(data, arrived)
            if stream.done:
                end = arrived
            elif stream.error or stream.size >= BYTE_CAP:
                break
        end = end if end is not None else self.clock()
        if stream.error:
            return self.failed(Outcome.BAD_RESPONSE, stream.error)
        if stream.first_at is None:
            return self.failed(Outcome.BAD_RESPONSE, "the stream ended with no content")
        return self._ok(stream.first_at, end, stream)

    async def _read_json(self, response: WireResponse) -> ProbeResult:
        text = await _read_capped(response, BYTE_CAP)
        end = self.clock()
        try:
            doc = json.loads(text)
        except ValueError:
            return self.failed(Outcome.BAD_RESPONSE, "200 with a body that is not JSON")
        if not isinstance(doc, dict) or doc.get("error"):
            return self.failed(
                Outcome.BAD_RESPONSE, "200 with an error body: " + error_message(doc)
            )
        choices = doc.get("choices")
        message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
        if not isinstance(message, dict) or not (
            message.get("content") or message.get("reasoning_content") or message.get("tool_calls")
        ):
            return self.failed(Outcome.BAD_RESPONSE, "200 without a completion")
        stream = SseReader()
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                stream.tool_name = function.get("name")
                stream.tool_args = function.get("arguments") or ""
        # A plain JSON answer to `stream: true`: the first token is the whole body.
        return self._ok(end, end, stream)

    def _ok(self, first_at: float, end: float, stream: SseReader) -> ProbeResult:
        tokens_per_s = None
        if self.spec.kind is ProbeKind.SPEED and stream.last_at and stream.last_at > first_at:
            produced = stream.completion_tokens or stream.chunks
            if produced > 1:
                tokens_per_s = round((produced - 1) / (stream.last_at - first_at), 1)
        return ProbeResult(
            self.provider.id,
            self.model.id,
            Outcome.OK,
            self.started_at,
            http_status=self.status,
            ttft_ms=self._ms(first_at),
            total_ms=self._ms(end),
            headers_ms=self.headers_ms,
            reused=self.reused,
            kind=self.spec.kind,
            tokens_per_s=tokens_per_s,
            tool_calls=stream.tool_call_ok if self.spec.kind is ProbeKind.TOOLS else None,
        )


_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_DEFAULT_PORTS = {"http": 80, "https": 443}


async def _read_capped(response: WireResponse, limit: int) -> str:
    parts: list[bytes] = []
    size = 0
    async for data, _ in response.chunks(time.perf_counter):
        parts.append(data)
        size += len(data)
        if size >= limit:
            break
    return b"".join(parts)[:limit].decode("utf-8", "replace")


def _same_origin(a: str, b: str) -> bool:
    """Same scheme, host and port (a default port spelled out or not)."""
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.hostname, x.port or _DEFAULT_PORTS.get(x.scheme)) == (
        y.scheme,
        y.hostname,
        y.port or _DEFAULT_PORTS.get(y.scheme),
    )
