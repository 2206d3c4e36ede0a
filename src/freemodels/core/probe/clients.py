"""HTTP clients: one httpx.AsyncClient per provider origin.

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
from collections.abc import Callable
from types import TracebackType

import httpx

from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.records import Provider
from freemodels.errors import UsageError

MAX_IN_FLIGHT_PER_PROVIDER = 32
KEEPALIVE_EXPIRY_S = 120.0
USER_AGENT = "freemodels"

TransportFactory = Callable[[bool], httpx.AsyncBaseTransport]
"""Makes a transport; the argument says whether it will speak TLS."""
DEFAULT_TRANSPORT = "aiohttp"


_LIMITS = httpx.Limits(
    max_connections=MAX_IN_FLIGHT_PER_PROVIDER,
    max_keepalive_connections=MAX_IN_FLIGHT_PER_PROVIDER,
    keepalive_expiry=KEEPALIVE_EXPIRY_S,
)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: loading the CA bundle costs ~20 ms of CPU each time.

    SSL_CERT_FILE / SSL_CERT_DIR are honoured (httpx's trust_env rules).
    """
    return httpx.create_ssl_context(trust_env=True)


def httpcore_transport(tls: bool = True) -> httpx.AsyncBaseTransport:
    """httpx's own transport (httpcore)."""
    return httpx.AsyncHTTPTransport(limits=_LIMITS, trust_env=True, verify=_verify(tls))


def aiohttp_transport(tls: bool = True) -> httpx.AsyncBaseTransport:
    """aiohttp behind the httpx API (httpx-aiohttp)."""
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    verify = _verify(tls)
    session = None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop yet: the transport makes its session on the first request
    else:
        # Made now rather than inside the first probe, whose TTFT would include it.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=MAX_IN_FLIGHT_PER_PROVIDER,
                keepalive_timeout=KEEPALIVE_EXPIRY_S,
                ssl=verify,
            )
        )
    transport: httpx.AsyncBaseTransport = AiohttpTransport(
        limits=_LIMITS, trust_env=True, verify=verify, client=session
    )
    return transport


def _verify(tls: bool) -> ssl.SSLContext | bool:
    # A plain-http endpoint (a local server, the demo) has no certificate to check: don't pay
    # for loading the CA bundle.
    return ssl_context() if tls else False


TRANSPORTS: dict[str, TransportFactory] = {
    "httpcore": httpcore_transport,
    "aiohttp": aiohttp_transport,
}


def chosen_transport() -> TransportFactory:
    """The transport chosen by bench/probe_overhead.py (README "Figures"), or the one
    FREEMODELS_TRANSPORT=httpcore|aiohttp names (the benchmark compares both); UsageError for
    any other name, rather than quietly measuring with a transport nobody asked for."""
    name = os.environ.get("FREEMODELS_TRANSPORT") or DEFAULT_TRANSPORT
    factory = TRANSPORTS.get(name)
    if factory is None:
        raise UsageError(
            f"unknown FREEMODELS_TRANSPORT {name!r}",
            f"use one of: {', '.join(TRANSPORTS)}, or unset it",
        )
    return factory


def request_headers(provider: Provider, key: ResolvedKey | None) -> dict[str, str]:
    """Headers for a request to this provider: its extra headers, plus the bearer key if any."""
    headers = dict(provider.headers)
    if key is not None:
        headers["Authorization"] = f"Bearer {key.value}"
    return headers


class ClientPool:
    """Lazily made clients, one per provider (or origin), closed together."""

    def __init__(self, transport_factory: TransportFactory | None = None) -> None:
        self._factory = transport_factory or chosen_transport()
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client(self, base_url: str, provider_id: str | None = None) -> httpx.AsyncClient:
        """The client for one provider (by id when given, else by the origin of `base_url`).

        Providers on one host (Mistral and Codestral) still get a pool each, so one cannot
        starve the other's 32 connections.
        """
        pool_key = provider_id or str(
            httpx.URL(base_url).copy_with(path="/", query=None, fragment=None)
        )
        client = self._clients.get(pool_key)
        if client is None:
            client = httpx.AsyncClient(
                transport=self._factory(not base_url.startswith("http://")),
                follow_redirects=False,
                # identity: the probe reads raw bytes as they arrive, and a compressed stream
                # would both need decoding and hold tokens back in the compressor's buffer.
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                # The probe enforces its own overall deadline; these only bound each phase.
                timeout=httpx.Timeout(connect=10.0, read=60.0, write=10.0, pool=60.0),
                trust_env=True,
            )
            self._clients[pool_key] = client
        return client

    async def aclose(self) -> None:
        """Close every client."""
        clients, self._clients = list(self._clients.values()), {}
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
