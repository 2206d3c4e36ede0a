"""The probe's hot path on asyncio protocols and httptools' C parser (the one uvicorn uses).

A probe is one POST and a streamed answer over a kept-alive HTTP/1.1 connection: nothing of a
general HTTP client is needed, and a general client's layers (and its import: aiohttp loads two
CA bundles when imported) cost more CPU than the request itself when 400 answers land at once.
Here each connection is one `asyncio.Protocol`: bytes go straight into the C parser, and each
body piece is stamped with the time it reached the socket (`data_received`), so a busy event
loop does not add its queue to the TTFT.

Kept: TLS with the shared verifying context (SSL_CERT_FILE honoured by clients.ssl_context),
HTTP_PROXY / HTTPS_PROXY / NO_PROXY from the environment (a CONNECT tunnel for https, the
absolute form for http, basic proxy credentials), keep-alive up to `keepalive_s`, at most
`limit` connections per provider, redirects left to the probe. Failures are OSErrors
(ConnectionError, ssl.SSLError, socket.gaierror), which the probe turns into outcomes.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import struct
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import httptools

from freemodels.core.probe.clients import env_proxy
from freemodels.core.probe.wire import Clock

CONNECT_TIMEOUT_S = 10.0
ADDRESS_TTL_S = 10.0
"""How long one lookup of a provider's name serves its new connections (aiohttp keeps its DNS
cache as long): a sweep opens up to 32 at once, and one lookup each queued them behind the
resolver's threads for the first tens of ms."""
PAUSE_AT = 1024 * 1024
"""Body bytes waiting to be read beyond which the socket is not read (a slow reader upstream of a
slow client must not buffer a whole answer); reading resumes once they were taken."""
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ServerClosed(ConnectionError):
    """The server closed the connection before the answer was complete."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: feeds the parser, hands body pieces to the response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: LeanResponse | None = None
        self.headers_ready: asyncio.Future[None] | None = None
        self.tunnel: asyncio.Future[bytes] | None = None
        self.tunnel_buffer = b""
        self.closed = False
        self.keep_alive = False
        self.idle_since = 0.0
        self.now = 0.0
        self.sent_at = 0.0
        self.socket: Any = None
        self._headers: dict[str, str] = {}
        self._reason = b""

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.socket = transport.get_extra_info("socket") if _TCP_INFO is not None else None

    def data_received(self, data: bytes) -> None:
        # When the bytes reached the socket: the loop may read them late, when hundreds of
        # answers land together, and the kernel says by how much.
        self.now = time.perf_counter() - _waited_in_kernel(self.socket)
        if self.tunnel is not None:
            self._tunnel_data(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ServerClosed(f"the server sent a malformed answer ({exc})"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self.response
        if response is not None and not response.done and not response.chunked_or_sized:
            response.finish()  # an answer delimited by the end of the connection
        else:
            self._fail(ServerClosed("the server closed the connection"), exc)
        if self.tunnel is not None and not self.tunnel.done():
            self.tunnel.set_exception(ServerClosed("the proxy closed the connection"))

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._headers = {}
        self._reason = b""

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        headers = self._headers
        response = LeanResponse(
            self,
            self.parser.get_status_code(),
            self._reason.decode("latin-1"),
            headers,
            "content-length" in headers or "chunked" in headers.get("transfer-encoding", ""),
            self.sent_at,
        )
        self.keep_alive = self.parser.should_keep_alive()
        self.response = response
        if self.headers_ready is not None and not self.headers_ready.done():
            self.headers_ready.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.response is not None:
            self.response.feed(body, self.now)

    def on_message_complete(self) -> None:
        if self.response is not None:
            self.response.finish()

    # -- requests ----------------------------------------------------------------------------

    def send(self, data: bytes) -> asyncio.Future[None]:
        """Write a request; the future resolves when its response headers are in."""
        assert self.transport is not None
        self.response = None
        self.headers_ready = asyncio.get_running_loop().create_future()
        # The transport writes to the socket at once when it can (its buffer is empty on an idle
        # connection): this is when the request left, however busy the loop was before.
        self.sent_at = time.perf_counter()
        self.transport.write(data)
        return self.headers_ready

    def usable(self, now: float, keepalive_s: float) -> bool:
        """Whether this idle connection can take another request."""
        transport = self.transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < keepalive_s
        )

    def close(self) -> None:
        """Close the connection."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: BaseException, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        if self.headers_ready is not None and not self.headers_ready.done():
            self.headers_ready.set_exception(error)
        if self.response is not None and not self.response.done:
            self.response.fail(error)

    def _tunnel_data(self, data: bytes) -> None:
        assert self.tunnel is not None
        self.tunnel_buffer += data
        head, sep, _ = self.tunnel_buffer.partition(b"\r\n\r\n")
        if sep and not self.tunnel.done():
            self.tunnel.set_result(head)


Release = Callable[[_Connection, bool], None]
"""Hands a connection back to its pool: whether its answer was read to the end."""


class LeanResponse:
    """An answer whose headers are in; its body arrives through `feed`.

    The router relays it with `read` (everything that came since the last read, in one piece:
    one write to its client per upstream read) and `close` (at once, from a cancelled handler).
    """

    def __init__(
        self,
        connection: _Connection,
        status: int,
        reason: str,
        headers: dict[str, str],
        chunked_or_sized: bool,
        sent_at: float,
    ) -> None:
        self.connection: object | None = connection
        self.sent_at: float | None = sent_at
        self._connection = connection
        self.status = status
        self.reason = reason
        self._headers = headers
        self.chunked_or_sized = chunked_or_sized
        self.done = False
        self._pieces: deque[tuple[bytes, float]] = deque()
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._release: Release | None = None
        self._buffered = 0
        self._paused = False

    def header(self, name: str) -> str | None:
        return self._headers.get(name.lower())

    def feed(self, data: bytes, at: float) -> None:
        self._pieces.append((data, at))
        self._buffered += len(data)
        if self._buffered > PAUSE_AT and not self._paused:
            transport = self._connection.transport
            if transport is not None and not transport.is_closing():
                transport.pause_reading()
                self._paused = True
        self._wake()

    def _taken(self, size: int) -> None:
        """`size` bytes were read: resume the socket once most of the backlog is gone."""
        self._buffered -= size
        if self._paused and self._buffered <= PAUSE_AT // 2:
            self._paused = False
            transport = self._connection.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def chunks(self, clock: Clock) -> AsyncIterator[tuple[bytes, float]]:
        pieces = self._pieces
        stamped = clock is time.perf_counter
        while True:
            if pieces:
                data, at = pieces.popleft()
                self._taken(len(data))
                yield data, (at if stamped else clock())
            elif self.done:
                return
            elif self._error is not None:
                raise self._error
            else:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter

    async def read(self, idle_s: float) -> bytes:
        """The body that arrived since the last read, joined; waits up to `idle_s` for some
        (TimeoutError), b"" at its end, the connection's error if it broke first."""
        pieces = self._pieces
        while not pieces:
            if self.done:
                return b""
            if self._error is not None:
                raise self._error
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            # One timer per wait, not per piece: most reads find data already waiting.
            timer = loop.call_later(idle_s, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
        data = pieces.popleft()[0] if len(pieces) == 1 else b"".join(p for p, _ in pieces)
        pieces.clear()
        self._taken(len(data))
        return data

    def close(self) -> None:
        """Release the response now: its connection goes back to the pool when the body was
        read whole, else it is closed (which cancels the request upstream)."""
        release, self._release = self._release, None
        if release is not None:
            release(self._connection, self.done and self._error is None)

    async def aclose(self) -> None:
        self.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class LeanWire:
    """A pool of up to `limit` kept-alive connections to one provider's origin."""

    def __init__(
        self,
        base_url: str,
        tls: ssl.SSLContext | bool,
        *,
        limit: int,
        keepalive_s: float,
        headers: Mapping[str, str],
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        parts = urlsplit(base_url)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)
        self._tls = tls if isinstance(tls, ssl.SSLContext) else None
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._proxy = _env_proxy(self._scheme, self._host)
        self._addresses: dict[tuple[str, int], tuple[float, asyncio.Future[list[_Address]]]] = {}

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> LeanResponse:
        """Send a POST over an idle connection or a new one; return once the headers are in."""
        parts = urlsplit(url)
        if (parts.hostname or "", parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)) != (
            self._host,
            self._port,
        ):
            raise ValueError(f"this wire serves {self._host}:{self._port} only")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        head = [f"POST {target} HTTP/1.1\r\n", f"Host: {parts.netloc.rpartition('@')[2]}\r\n"]
        if self._proxy is not None and self._scheme == "http":
            head[0] = f"POST {url} HTTP/1.1\r\n"  # the absolute form, through the proxy
            if self._proxy[2]:
                head.append(f"Proxy-Authorization: {self._proxy[2]}\r\n")
        head.append(self._fixed)
        head.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
        head.extend(f"{k}: {v}\r\n" for k, v in headers.items())
        head.append("\r\n")
        request = "".join(head).encode("latin-1") + body

        await self._slots.acquire()
        connection: _Connection | None = None
        try:
            connection = self._take_idle() or await self._connect()
            await connection.send(request)
        except BaseException:
            if connection is not None:
                self._discard(connection)
            self._slots.release()
            raise
        response = connection.response
        assert response is not None
        response._release = self._give_back
        return response

    async def aclose(self) -> None:
        """Close every connection."""
        for connection in [*self._open]:
            connection.close()
        self._open.clear()
        self._idle.clear()

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now, self._keepalive_s):
                return connection
            self._discard(connection)
        return None

    def _give_back(self, connection: _Connection, complete: bool) -> None:
        self._slots.release()
        if complete and connection.keep_alive and not connection.closed:
            connection.idle_since = time.monotonic()
            connection.response = None
            self._idle.append(connection)
        else:
            # An answer left unread would arrive on the next request: the connection goes.
            self._discard(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout_s):
            if self._proxy is None:
                connection = await _open_connection(
                    loop,
                    await self._resolve(loop, self._host, self._port),
                    tls=self._tls,
                    server_hostname=self._host if self._tls else None,
                )
            else:
                proxy_host, proxy_port, _ = self._proxy
                addresses = await self._resolve(loop, proxy_host, proxy_port)
                connection = await _open_connection(loop, addresses)
                if self._scheme == "https":
                    await self._tunnel(loop, connection)
        self._open.add(connection)
        return connection

    async def _resolve(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int
    ) -> list[_Address]:
        """The addresses of host: a literal IP at once, a name from one lookup shared by every
        connection opened within ADDRESS_TTL_S (a failed lookup is not kept)."""
        literal = _literal_address(host, port)
        if literal is not None:
            return literal
        now = time.monotonic()
        cached = self._addresses.get((host, port))
        if cached is None or now - cached[0] > ADDRESS_TTL_S:
            lookup = asyncio.ensure_future(_lookup(loop, host, port))
            lookup.add_done_callback(self._forget_failed((host, port)))
            cached = self._addresses[(host, port)] = (now, lookup)
        # Shielded: one connection given up (its probe cancelled) must not cancel the lookup
        # the others wait for.
        return await asyncio.shield(cached[1])

    def _forget_failed(
        self, origin: tuple[str, int]
    ) -> Callable[[asyncio.Future[list[_Address]]], None]:
        def forget(lookup: asyncio.Future[list[_Address]]) -> None:
            # Retrieving the exception here keeps a failure nobody awaits any more (every
            # waiter cancelled) off stderr; the next connection looks the name up again.
            if lookup.cancelled() or lookup.exception() is not None:
                entry = self._addresses.get(origin)
                if entry is not None and entry[1] is lookup:
                    del self._addresses[origin]

        return forget

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, connection: _Connection) -> None:
        """CONNECT through the proxy, then TLS to the provider inside the tunnel."""
        assert self._proxy is not None and connection.transport is not None
        authority = f"{self._host}:{self._port}"
        auth = f"Proxy-Authorization: {self._proxy[2]}\r\n" if self._proxy[2] else ""
        connection.tunnel = loop.create_future()
        connection.transport.write(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n".encode("latin-1")
        )
        try:
            head = await connection.tunnel
        except BaseException:
            connection.close()
            raise
        connection.tunnel = None
        status_line = head.split(b"\r\n", 1)[0].split()
        if len(status_line) < 2 or status_line[1] != b"200":
            connection.close()
            raise ConnectionRefusedError(f"the proxy refused the tunnel: {head[:80]!r}")
        if self._tls is not None:
            transport = await loop.start_tls(
                connection.transport, connection, self._tls, server_hostname=self._host
            )
            connection.transport = cast(asyncio.Transport, transport)


_Address = tuple[int, int, str, int]
"""(family, proto, host, port) of one address to connect to."""


def _literal_address(host: str, port: int) -> list[_Address] | None:
    """An IP literal's one address, with no lookup (None for a name)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, socket.IPPROTO_TCP, host, port)]
    return None


async def _lookup(loop: asyncio.AbstractEventLoop, host: str, port: int) -> list[_Address]:
    """The addresses of a name.

    Resolved here rather than by create_connection: uvloop's create_connection, cancelled while
    its lookup runs (a sweep's other probes cancelled by the first failure, or Ctrl-C), leaves
    the lookup's future behind, and its DNS error was printed on stderr as "Future exception was
    never retrieved" once per probe of an offline run.
    """
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, proto, str(addr[0]), int(addr[1])) for family, _, proto, _, addr in infos]


async def _open_connection(
    loop: asyncio.AbstractEventLoop,
    addresses: list[_Address],
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> _Connection:
    """A connection to the first of the addresses that accepts one."""
    error: OSError | None = None
    for family, proto, host, port in addresses:
        try:
            _, connection = await loop.create_connection(
                _Connection,
                host,
                port,
                family=family,
                proto=proto,
                ssl=tls,
                server_hostname=server_hostname,
            )
        except OSError as exc:
            error = exc
            continue
        return connection
    raise error if error is not None else OSError("the name has no address")


# Linux's TCP_INFO: `tcpi_last_data_recv`, milliseconds since data last reached the socket,
# counted in kernel ticks, at this offset of struct tcp_info.
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform == "linux" else None
_LAST_DATA_RECV = 52
_CLOCK_MONOTONIC_COARSE = 6  # Linux's clock id; it advances once per kernel tick


def _kernel_tick_ms() -> float:
    """The kernel's tick (4 ms at HZ=250, 1 ms at HZ=1000): the coarse clock's resolution; the
    longest usual one (HZ=100) when that cannot be read."""
    if _TCP_INFO is None:
        return 10.0
    try:
        tick = time.clock_getres(_CLOCK_MONOTONIC_COARSE) * 1000
    except OSError:
        return 10.0
    return tick if 0 < tick <= 10 else 10.0


_TICK_MS = _kernel_tick_ms()


def _waited_in_kernel(sock: Any) -> float:
    """Seconds the bytes just read certainly waited in the kernel before the loop read them:
    the kernel's count less one tick, so a first token is never put before it came (0 where
    the kernel does not say)."""
    if sock is None:
        return 0.0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LAST_DATA_RECV + 4)
    except OSError:
        return 0.0
    if len(info) < _LAST_DATA_RECV + 4:
        return 0.0
    waited_ms: int = struct.unpack_from("I", info, _LAST_DATA_RECV)[0]
    return max(0, waited_ms - _TICK_MS) / 1000


def _env_proxy(scheme: str, host: str) -> tuple[str, int, str] | None:
    """The environment's proxy for this origin (host, port, Proxy-Authorization value), or
    None; NO_PROXY honoured. Looked up once per provider: the origin never changes."""
    url = env_proxy(f"{scheme}://{host}/")
    if url is None:
        return None
    parts = urlsplit(url)
    auth = ""
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
    return parts.hostname or "", parts.port or _DEFAULT_PORTS.get(parts.scheme, 80), auth
