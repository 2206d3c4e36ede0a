"""The probe's wire: one streamed POST, whatever HTTP library carries it.

The probe's hot path runs on aiohttp directly (`aiohttp_wire`): httpx's client layer and the
httpx-aiohttp bridge cost as much CPU per request as aiohttp itself when hundreds of probes land
at once. `HttpxWire` puts any `httpx.AsyncClient` behind the same small interface, so httpx's own
transport (FREEMODELS_TRANSPORT=httpcore) and `httpx.MockTransport` (unit tests) keep working.
Nothing here imports an HTTP library until a wire is made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx

Clock = Callable[[], float]


class WireResponse(Protocol):
    """A response whose headers have arrived and whose body is still to be read."""

    status: int
    reason: str
    connection: object | None
    """Something that lives exactly as long as the TCP connection (None when unknown)."""
    sent_at: float | None
    """time.perf_counter() when the request went to the socket (None when the library does
    not say): the probe's t0, so its own event loop's queue before the write is not TTFT."""

    def header(self, name: str) -> str | None:
        """One response header (case-insensitive), or None."""

    def chunks(self, clock: Clock) -> AsyncIterator[tuple[bytes, float]]:
        """The raw body as it arrives, each piece with the `clock` time it reached the socket."""

    async def aclose(self) -> None:
        """Release the response (its connection returns to the pool when the body was read)."""


class Wire(Protocol):
    """Sends the probe's POSTs for one provider (one connection pool)."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WireResponse:
        """Send a POST and return once the response headers are in (redirects not followed)."""

    async def aclose(self) -> None:
        """Close the pool."""


class HttpxWire:
    """A `Wire` over an httpx.AsyncClient (which keeps its own headers, timeouts and proxies)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WireResponse:
        """Send a POST over the httpx client."""
        request = self.client.build_request(
            "POST", url, content=body, headers={**headers, "Content-Type": "application/json"}
        )
        return _HttpxResponse(await self.client.send(request, stream=True))

    async def aclose(self) -> None:
        """Close the httpx client."""
        await self.client.aclose()


class _HttpxResponse:
    __slots__ = ("_response", "connection", "reason", "sent_at", "status")

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.sent_at: float | None = None
        self.status = response.status_code
        self.reason = response.reason_phrase
        self.connection: object | None = _httpx_connection(response)

    def header(self, name: str) -> str | None:
        value: str | None = self._response.headers.get(name)
        return value

    async def chunks(self, clock: Clock) -> AsyncIterator[tuple[bytes, float]]:
        async for data in self._response.aiter_raw():
            yield data, clock()

    async def aclose(self) -> None:
        await self._response.aclose()


def _httpx_connection(response: httpx.Response) -> object | None:
    """httpcore's network stream, or the aiohttp protocol under httpx-aiohttp."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        inner = getattr(response.stream, "_stream", response.stream)
        aiohttp_response = getattr(inner, "_aiohttp_response", None)
        connection = getattr(aiohttp_response, "connection", None)
        stream = getattr(connection, "protocol", None)
    return stream
