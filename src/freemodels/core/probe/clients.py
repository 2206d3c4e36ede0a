"""HTTP clients: one connection pool per provider, and the one TLS context they share.

See docs/architecture.md, "Performance notes".

A single shared client with hundreds of concurrent streams burns CPU; one client per origin with a
bounded pool stays cheap. Keep-alive outlives the probe interval so probes do not pay TLS again.
Redirects are never followed: a redirect to another origin would carry the key with it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.probe.wire import HttpxWire, Wire
from freemodels.core.records import Provider
from freemodels.errors import UsageError

if TYPE_CHECKING:
    import httpx

    from freemodels.core.probe.aiohttp_wire import AiohttpWire
    from freemodels.core.probe.lean_wire import LeanWire

MAX_IN_FLIGHT_PER_PROVIDER = 32
KEEPALIVE_EXPIRY_S = 120.0
USER_AGENT = "freemodels"
# identity: the probe reads raw bytes as they arrive, and a compressed stream would both need
# decoding and hold tokens back in the compressor's buffer.
DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}

TransportFactory = Callable[[bool], "httpx.AsyncBaseTransport"]
"""Makes an httpx transport; the argument says whether it will speak TLS."""
DEFAULT_TRANSPORT = "lean"


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every client, made on first use: loading a CA bundle costs ~20 ms of
    CPU each time, and a plain-http sweep (a local server, the demo) never needs one.

    SSL_CERT_FILE / SSL_CERT_DIR name the trusted CAs when set (as httpx's trust_env does);
    otherwise certifi's bundle when installed, else the system's.
    """
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile and not os.path.isfile(cafile):
        cafile = None
    if capath and not os.path.isdir(capath):
        capath = None
    if cafile is None and capath is None:
        try:
            import certifi
        except ImportError:
            return ssl.create_default_context()
        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile, capath=capath)


def _limits() -> httpx.Limits:
    import httpx

    return httpx.Limits(
        max_connections=MAX_IN_FLIGHT_PER_PROVIDER,
        max_keepalive_connections=MAX_IN_FLIGHT_PER_PROVIDER,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )


def httpcore_transport(tls: bool = True) -> httpx.AsyncBaseTransport:
    """httpx's own transport (httpcore)."""
    import httpx

    return httpx.AsyncHTTPTransport(limits=_limits(), trust_env=True, verify=_verify(tls))


def aiohttp_transport(tls: bool = True) -> httpx.AsyncBaseTransport:
    """aiohttp behind the httpx API (httpx-aiohttp), for the requests that are not probes."""
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    verify = _verify(tls)
    session = None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop yet: the transport makes its session on the first request
    else:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=MAX_IN_FLIGHT_PER_PROVIDER,
                keepalive_timeout=KEEPALIVE_EXPIRY_S,
                ssl=verify,
            ),
            trust_env=True,
        )
    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        limits=_limits(), trust_env=True, verify=verify, client=session
    )
    return transport


def env_proxy(url: str) -> str | None:
    """The environment's proxy (HTTP_PROXY, HTTPS_PROXY) for this URL, unless NO_PROXY
    exempts its host."""
    if sys.platform not in ("darwin", "win32") and not any(
        name.lower().endswith("_proxy") for name in os.environ
    ):
        # Elsewhere urllib reads proxies from the environment alone: with no *_proxy variable
        # there is none, and importing urllib.request would cost the first probe a few ms.
        return None
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def _verify(tls: bool) -> ssl.SSLContext | bool:
    # A plain-http endpoint (a local server, the demo) has no certificate to check: don't pay
    # for loading the CA bundle.
    return ssl_context() if tls else False


TRANSPORTS: dict[str, TransportFactory] = {
    "lean": aiohttp_transport,
    "aiohttp": aiohttp_transport,
    "httpcore": httpcore_transport,
}
"""FREEMODELS_TRANSPORT's choices, each naming what probes go through; the other requests (model
lists, key tests) use httpx, over httpx-aiohttp unless `httpcore` is chosen.
`lean` (the default): asyncio protocols and httptools (core.probe.lean_wire), or aiohttp when
httptools is not installed. `aiohttp`: aiohttp directly (core.probe.aiohttp_wire).
`httpcore`: httpx's own transport, for everything."""


def chosen_transport_name() -> str:
    """FREEMODELS_TRANSPORT=httpcore|aiohttp, else the default (bench/sweep_wall.py compares
    them); UsageError for any other name, rather than quietly measuring with a transport nobody
    asked for."""
    name = os.environ.get("FREEMODELS_TRANSPORT") or DEFAULT_TRANSPORT
    if name not in TRANSPORTS:
        raise UsageError(
            f"unknown FREEMODELS_TRANSPORT {name!r}",
            f"use one of: {', '.join(TRANSPORTS)}, or unset it",
        )
    return name


def chosen_transport() -> TransportFactory:
    """The httpx transport factory FREEMODELS_TRANSPORT names (see chosen_transport_name)."""
    return TRANSPORTS[chosen_transport_name()]


def request_headers(provider: Provider, key: ResolvedKey | None) -> dict[str, str]:
    """Headers for a request to this provider: its extra headers, plus the bearer key if any."""
    headers = dict(provider.headers)
    if key is not None:
        headers["Authorization"] = f"Bearer {key.value}"
    return headers


def _direct_wire(kind: str) -> type[LeanWire] | type[AiohttpWire]:
    """The wire class for `lean` (falling back to aiohttp without httptools) or `aiohttp`."""
    if kind == "lean":
        try:
            from freemodels.core.probe.lean_wire import LeanWire
        except ImportError:  # httptools has no wheel for this platform: aiohttp does the job
            pass
        else:
            return LeanWire
    from freemodels.core.probe.aiohttp_wire import AiohttpWire

    return AiohttpWire


class ClientPool:
    """Lazily made clients, one per provider (or origin), closed together.

    `wire()` is what probes go through; `client()` is an httpx client for the other requests
    (model lists, key tests). With an explicit `transport_factory` (tests, the monitor's seam)
    probes go through httpx with it too.
    """

    def __init__(self, transport_factory: TransportFactory | None = None) -> None:
        name = chosen_transport_name() if transport_factory is None else None
        self._wire_kind = name if name in ("lean", "aiohttp") else "httpx"
        self._factory = transport_factory or (TRANSPORTS[name] if name else aiohttp_transport)
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._wires: dict[str, Wire] = {}

    def client(self, base_url: str, provider_id: str | None = None) -> httpx.AsyncClient:
        """The httpx client for one provider (by id when given, else by the origin of `base_url`).

        Providers on one host (Mistral and Codestral) still get a pool each, so one cannot
        starve the other's 32 connections.
        """
        import httpx

        pool_key = provider_id or str(
            httpx.URL(base_url).copy_with(path="/", query=None, fragment=None)
        )
        client = self._clients.get(pool_key)
        if client is None:
            tls = not base_url.startswith("http://")
            # httpx ignores the environment's proxies when given a transport: a proxy that
            # applies to this origin gets httpx's own proxy transport instead.
            proxy = env_proxy(base_url)
            transport = None if proxy else self._factory(tls)
            client = httpx.AsyncClient(
                transport=transport,
                proxy=proxy,
                verify=_verify(tls),
                limits=_limits(),
                follow_redirects=False,
                headers=DEFAULT_HEADERS,
                # The probe enforces its own overall deadline; these only bound each phase.
                timeout=httpx.Timeout(connect=10.0, read=60.0, write=10.0, pool=60.0),
                trust_env=True,
            )
            self._clients[pool_key] = client
        return client

    def wire(self, base_url: str, provider_id: str) -> Wire:
        """What one provider's probes are sent through (made on first use, inside the loop)."""
        wire = self._wires.get(provider_id)
        if wire is None:
            if self._wire_kind != "httpx":
                wire = _direct_wire(self._wire_kind)(
                    base_url,
                    _verify(not base_url.startswith("http://")),
                    limit=MAX_IN_FLIGHT_PER_PROVIDER,
                    keepalive_s=KEEPALIVE_EXPIRY_S,
                    headers=DEFAULT_HEADERS,
                )
            else:
                # The httpx client is closed with the others; this wire only borrows it.
                wire = HttpxWire(self.client(base_url, provider_id))
            self._wires[provider_id] = wire
        return wire

    async def aclose(self) -> None:
        """Close every client."""
        wires, self._wires = list(self._wires.values()), {}
        clients, self._clients = list(self._clients.values()), {}
        for wire in wires:
            if not isinstance(wire, HttpxWire):
                await wire.aclose()
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
