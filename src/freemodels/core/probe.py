"""One probe: a streaming chat completion, timed to the first token (DESIGN.md §2 "Metrics").

TTFT is the first SSE event whose `delta.content` or `delta.reasoning_content` is non-empty:
headers, SSE comments and role-only chunks do not count (a streaming server sends headers at
once, so timing them measures nothing). Every remote failure becomes an `Outcome`; only bugs raise.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import socket
import ssl
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from freemodels.core.http import request_headers
from freemodels.core.keys import ResolvedKey
from freemodels.core.records import Model, Outcome, ProbeKind, ProbeResult, Provider

BYTE_CAP = 1 << 20  # a stream cut here after content arrived still counts as ok
ERROR_TEXT_MAX = 200
_MAX_SAME_ORIGIN_REDIRECTS = 3

_TOOL = {
    "type": "function",
    "function": {
        "name": "get_time",
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

    @classmethod
    def for_kind(cls, kind: ProbeKind, timeout_s: float = 15.0) -> ProbeSpec:
        """Defaults for each kind of request."""
        max_tokens = {ProbeKind.SPEED: 256, ProbeKind.TOOLS: 64}.get(kind, 8)
        return cls(kind=kind, timeout_s=timeout_s, max_tokens=max_tokens)

    def body(self, model: Model) -> dict[str, Any]:
        """The JSON request body; a fresh nonce each time so no cache can answer."""
        nonce = uuid.uuid4().hex[:12]
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
        if self.kind is ProbeKind.SPEED:
            body["stream_options"] = {"include_usage": True}
        if self.kind is ProbeKind.TOOLS:
            body["tools"] = [_TOOL]
        return body


# Chunks that carry something besides text (an error, usage counts, a tool call) are parsed.
_MUST_PARSE = (b'"error"', b'"usage"', b'"tool_calls"')


class _Stream:
    """Incremental SSE reader: finds the first token, errors, usage and tool calls."""

    __slots__ = (
        "buffer",
        "chunks",
        "completion_tokens",
        "done",
        "error",
        "first_at",
        "last_at",
        "size",
        "tool_args",
        "tool_name",
    )

    def __init__(self) -> None:
        self.buffer = b""
        self.size = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.chunks = 0
        self.completion_tokens: int | None = None
        self.error: str | None = None
        self.done = False
        self.tool_name: str | None = None
        self.tool_args = ""

    def feed(self, data: bytes, now: float) -> None:
        """Consume bytes received at `now` (perf_counter seconds)."""
        self.size += len(data)
        self.buffer += data
        if b"\n" not in data:
            return
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                self._event(line[5:].strip(), now)
                if self.done or self.error:
                    return

    def _event(self, payload: bytes, now: float) -> None:
        if payload == b"[DONE]":
            self.done = True
            return
        if self.first_at is not None and not any(mark in payload for mark in _MUST_PARSE):
            # After the first token, a plain content chunk needs counting, not parsing: parsing
            # every chunk was a fifth of a probe's CPU.
            if b'"content":"' in payload or b'"reasoning_content":"' in payload:
                self._token(now)
            return
        try:
            event = json.loads(payload)
        except ValueError:
            self.error = "malformed SSE event"
            return
        if not isinstance(event, dict):
            self.error = "malformed SSE event"
            return
        if event.get("error"):
            self.error = "error event: " + _error_message(event)
            return
        usage = event.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.completion_tokens = usage["completion_tokens"]
        choices = event.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            return
        delta = choices[0].get("delta") or {}
        if not isinstance(delta, dict):
            return
        if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
            self._token(now)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                self.tool_name = self.tool_name or function.get("name")
                self.tool_args += function.get("arguments") or ""
                self._token(now)

    def _token(self, now: float) -> None:
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.chunks += 1

    @property
    def tool_call_ok(self) -> bool:
        """Whether a well-formed call of our tool arrived (a name and JSON-object arguments)."""
        if self.tool_name != _TOOL["function"]["name"]:  # type: ignore[index]
            return False
        try:
            return isinstance(json.loads(self.tool_args or "{}"), dict)
        except ValueError:
            return False


_seen_connections: weakref.WeakSet[Any] = weakref.WeakSet()


def _reused(response: httpx.Response) -> bool | None:
    """Whether this response came over a connection an earlier probe opened."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        # The aiohttp transport exposes no extension; its connection's protocol object lives as
        # long as the TCP connection, so it identifies it just as well.
        inner = getattr(response.stream, "_stream", response.stream)
        aiohttp_response = getattr(inner, "_aiohttp_response", None)
        connection = getattr(aiohttp_response, "connection", None)
        stream = getattr(connection, "protocol", None)
    if stream is None:
        return None
    try:
        if stream in _seen_connections:
            return True
        _seen_connections.add(stream)
    except TypeError:  # a stream type that cannot be weakly referenced
        return None
    return False


async def probe(
    client: httpx.AsyncClient,
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
    probe to be under way before loading its UI).
    """
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
            return await measure.run(client, _chat_url(base_url))
    except TimeoutError:
        return measure.failed(Outcome.TIMEOUT, f"no answer within {spec.timeout_s:g} s")
    except httpx.TransportError as exc:
        network_error = _network_error(exc)
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

    async def run(self, client: httpx.AsyncClient, url: httpx.URL) -> ProbeResult:
        body = self.spec.body(self.model)
        headers = request_headers(self.provider, self.key)
        origin = url
        for _ in range(_MAX_SAME_ORIGIN_REDIRECTS + 1):
            self.t0 = self.clock()
            request = client.build_request("POST", url, json=body, headers=headers)
            response = await client.send(request, stream=True)
            try:
                self.status = response.status_code
                self.headers_ms = self._ms(self.clock())
                self.reused = _reused(response)
                if self.on_headers is not None:
                    self.on_headers()
                if response.is_redirect:
                    target = response.next_request.url if response.next_request else None
                    if target is None or not _same_origin(origin, target):
                        where = f"{target.scheme}://{target.host}" if target else "nowhere"
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

    async def _answer(self, response: httpx.Response) -> ProbeResult:
        status = response.status_code
        if status != 200:
            return await self._error_status(response)
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" in content_type:
            return await self._read_stream(response)
        if "json" in content_type:
            return await self._read_json(response)
        return self.failed(
            Outcome.BAD_RESPONSE, f"200 with {content_type.split(';')[0] or 'no content type'}"
        )

    async def _error_status(self, response: httpx.Response) -> ProbeResult:
        status = response.status_code
        text = await _read_capped(response, 4096)
        message = _error_message_from_body(text) or response.reason_phrase or f"HTTP {status}"
        error = f"HTTP {status}: {message}"
        if status in (401, 403):
            outcome = Outcome.AUTH_FAILED if self.key is not None else Outcome.NO_KEY
            if self.key is None:
                env = self.provider.api_key_env[0]
                error = f"HTTP {status}: no key (set {env})"
            return self.failed(outcome, error)
        if status in (404, 410):
            return self.failed(Outcome.NOT_FOUND, error)
        if status == 429:
            retry = parse_retry_after(response.headers.get("retry-after"), time.time())
            return self.failed(Outcome.RATE_LIMITED, error, retry_after_s=retry)
        if status >= 500:
            return self.failed(Outcome.SERVER_ERROR, error)
        return self.failed(Outcome.REJECTED, error)

    async def _read_stream(self, response: httpx.Response) -> ProbeResult:
        stream = _Stream()
        clock = self.clock
        end: float | None = None
        async for data in response.aiter_raw():
            if end is not None:
                # Drain what follows [DONE] (the chunked terminator): a response closed early
                # costs its connection, and the next probe would pay a new handshake.
                continue
            stream.feed(data, clock())
            if stream.done:
                end = clock()
            elif stream.error or stream.size >= BYTE_CAP:
                break
        end = end if end is not None else clock()
        if stream.error:
            return self.failed(Outcome.BAD_RESPONSE, stream.error)
        if stream.first_at is None:
            return self.failed(Outcome.BAD_RESPONSE, "the stream ended with no content")
        return self._ok(stream.first_at, end, stream)

    async def _read_json(self, response: httpx.Response) -> ProbeResult:
        text = await _read_capped(response, BYTE_CAP)
        end = self.clock()
        try:
            doc = json.loads(text)
        except ValueError:
            return self.failed(Outcome.BAD_RESPONSE, "200 with a body that is not JSON")
        if not isinstance(doc, dict) or doc.get("error"):
            return self.failed(
                Outcome.BAD_RESPONSE, "200 with an error body: " + _error_message(doc)
            )
        choices = doc.get("choices")
        message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
        if not isinstance(message, dict) or not (
            message.get("content") or message.get("reasoning_content") or message.get("tool_calls")
        ):
            return self.failed(Outcome.BAD_RESPONSE, "200 without a completion")
        stream = _Stream()
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                stream.tool_name = function.get("name")
                stream.tool_args = function.get("arguments") or ""
        # A plain JSON answer to `stream: true`: the first token is the whole body.
        return self._ok(end, end, stream)

    def _ok(self, first_at: float, end: float, stream: _Stream) -> ProbeResult:
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


@functools.lru_cache(maxsize=1024)
def _chat_url(base_url: str) -> httpx.URL:
    """The parsed chat URL of a base URL (parsing costs more than the rest of a request's setup)."""
    return httpx.URL(f"{base_url}/chat/completions")


async def _read_capped(response: httpx.Response, limit: int) -> str:
    parts: list[bytes] = []
    size = 0
    async for data in response.aiter_raw():
        parts.append(data)
        size += len(data)
        if size >= limit:
            break
    return b"".join(parts)[:limit].decode("utf-8", "replace")


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _error_message(doc: Any) -> str:
    if isinstance(doc, dict):
        error = doc.get("error", doc)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("type")
            if message:
                return str(message)
        elif isinstance(error, str):
            return error
    return "unexpected body"


def _error_message_from_body(text: str) -> str | None:
    try:
        doc = json.loads(text)
    except ValueError:
        stripped = text.strip()
        if not stripped or stripped.startswith("<"):
            return None
        return stripped[:ERROR_TEXT_MAX]
    message = _error_message(doc)
    return None if message == "unexpected body" else message


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _network_error(exc: httpx.TransportError) -> str | None:
    """What went wrong on the network, or None when it was really a timeout.

    The cause chain decides, not the httpx class: the aiohttp transport reports a refused or
    reset connection as httpx.ConnectTimeout.
    """
    causes = _causes(exc)
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return "TLS handshake failed"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "DNS lookup failed"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset by the server"
    if any(isinstance(c, TimeoutError) for c in causes[1:]):
        return None
    text = " ".join(str(c) for c in causes).lower()
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "TLS handshake failed"
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return "DNS lookup failed"
    if "disconnect" in text or "closed" in text or "reset" in text:
        return "connection closed by the server"
    if isinstance(exc, httpx.TimeoutException) and len(causes) == 1:
        return None
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "could not connect"
    return "connection closed by the server"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from (transports wrap the OS error)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
