"""The probe's hot path on aiohttp directly, timing body bytes where they reach the socket.

When 400 answers land at once, a probe's coroutine may run tens of milliseconds after its bytes
arrived: the event loop is busy with the others. Reading the clock there would add that queue to
the TTFT. So the connection's protocol notes when each piece of body arrives (one clock read and
one append per `data_received`), and the probe attributes every byte to the moment it came.

Proxies (HTTP_PROXY / HTTPS_PROXY / NO_PROXY), TLS verification with the shared context and
redirects left to the probe behave as with httpx. The proxy is looked up once per provider, not
through aiohttp's `trust_env`, which sends every request through two thread hops (a proxy lookup
and a ~/.netrc read).
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from freemodels.core.probe.wire import Clock, WireResponse

_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=60.0)
"""The probe enforces its own overall deadline; these only bound each phase."""


class _TimedHandler(ResponseHandler):
    """aiohttp's protocol, noting when the body bytes of the response being read arrive."""

    fm_payload: Any = None  # the StreamReader of the response being timed
    fm_last = 0.0  # perf_counter of the latest data_received
    fm_marks: list[tuple[float, int]] | None = None  # (arrival, body bytes so far)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.fm_last = now
        payload = self.fm_payload
        if payload is None:
            super().data_received(data)
            return
        before = payload.total_bytes
        super().data_received(data)
        after = payload.total_bytes
        if after != before and self.fm_marks is not None:
            self.fm_marks.append((now, after))


class AiohttpWire:
    """One aiohttp session (one pool of up to `limit` connections) for one provider."""

    def __init__(
        self,
        base_url: str,
        tls: ssl.SSLContext | bool,
        *,
        limit: int,
        keepalive_s: float,
        headers: Mapping[str, str],
    ) -> None:
        connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=keepalive_s, ssl=tls)
        factory = getattr(connector, "_factory", None)
        if isinstance(factory, functools.partial) and factory.func is ResponseHandler:
            # aiohttp makes each connection's protocol with this factory (a private attribute,
            # checked: another aiohttp falls back to timing where the probe reads).
            timed = functools.partial(_TimedHandler, *factory.args, **factory.keywords)
            connector._factory = timed  # type: ignore[assignment]
        self._session = aiohttp.ClientSession(
            connector=connector, headers=dict(headers), timeout=_TIMEOUT, auto_decompress=False
        )
        self._proxy: URL | None = None
        self._proxy_auth: aiohttp.BasicAuth | None = None
        # The environment's proxy for this provider's origin, honouring NO_PROXY; redirects are
        # followed only within the origin, so one lookup serves every request.
        with contextlib.suppress(LookupError):  # no proxy for this origin
            self._proxy, self._proxy_auth = get_env_proxy_for_url(URL(base_url))

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WireResponse:
        """Send a POST; return once the headers are in."""
        response = await self._session.post(
            url,
            data=body,
            headers={**headers, "Content-Type": "application/json"},
            allow_redirects=False,
            proxy=self._proxy,
            proxy_auth=self._proxy_auth,
        )
        return _Response(response)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._session.close()


class _Response:
    __slots__ = ("_base", "_handler", "_response", "connection", "reason", "sent_at", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.sent_at: float | None = None
        self.status = response.status
        self.reason = response.reason or ""
        connection = response.connection
        handler = connection.protocol if connection is not None else None
        self.connection: object | None = handler
        timed = handler if isinstance(handler, _TimedHandler) else None
        self._handler = timed
        content = response.content
        # Body bytes already in when the headers were handed over came with them (or just
        # after): they are attributed to the latest arrival; later ones get their own marks.
        self._base = (content.total_bytes, timed.fm_last if timed is not None else 0.0)
        if timed is not None:
            timed.fm_marks = []
            timed.fm_payload = content

    def header(self, name: str) -> str | None:
        return self._response.headers.get(name)

    async def chunks(self, clock: Clock) -> AsyncIterator[tuple[bytes, float]]:
        content = self._response.content
        handler = self._handler
        if handler is None or clock is not time.perf_counter:
            async for data in content.iter_any():
                yield data, clock()
            return
        base_bytes, base_at = self._base
        consumed = 0
        while True:
            data = await content.readany()
            if not data:
                return
            marks = handler.fm_marks or []
            end = consumed + len(data)
            while consumed < end:
                # The arrival of the byte at `consumed`, and where its piece ends.
                if consumed < base_bytes:
                    at, upto = base_at, base_bytes
                elif marks:
                    at, upto = marks[0]
                    if upto <= consumed:
                        del marks[0]
                        continue
                else:
                    at, upto = clock(), end
                upto = min(upto, end)
                start = len(data) - (end - consumed)
                piece = (
                    data if start == 0 and upto == end else data[start : start + upto - consumed]
                )
                yield piece, at
                consumed = upto

    async def aclose(self) -> None:
        if self._handler is not None:
            self._handler.fm_payload = None
            self._handler.fm_marks = None
        self._response.release()
