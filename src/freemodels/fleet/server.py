"""The fake OpenAI-compatible fleet: many providers and models behind one aiohttp server.

    http://127.0.0.1:<port>/<provider>/v1/chat/completions   POST, answered per Behaviour
    http://127.0.0.1:<port>/<provider>/v1/models             GET, the provider's model list

Tests set a Behaviour per model and read `fleet.requests`; `--demo` and the benchmarks run the
same server with sampled behaviours. aiohttp's protocol sets TCP_NODELAY on each connection
(docs/architecture.md, "Performance notes": a socket without it adds ~40 ms to each request).

A request's arrival is the moment its first bytes were read from the socket, not when its handler
got to run: with hundreds of requests landing at once, aiohttp parses and schedules them one by
one, and a handler-start stamp would put the server's own queue into every delay measured from
it (and into the ground truth the benchmarks hold a client's TTFT to).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from freemodels.fleet.answers import Answer
from freemodels.fleet.behaviour import SHAPES, Behaviour, RequestRecord, Sampler, SentTimes
from freemodels.fleet.payloads import error_json, json_response
from freemodels.fleet.tls import FleetTls, make_tls

__all__ = ["SHAPES", "Behaviour", "Fleet", "FleetThread", "RequestRecord", "Sampler", "SentTimes"]

SHUTDOWN_TIMEOUT_S = 0.25
# Longer than any client's keep-alive expiry (core.http keeps 120 s): a server closing an idle
# connection just as a client reuses it would look like a network error that is not there.
KEEPALIVE_TIMEOUT_S = 300.0
# Connections waiting to be accepted: a sweep opens hundreds at once, and a SYN dropped from a
# full queue is retried a second later (aiohttp's TCPSite default, 128, did that on a busy fleet).
BACKLOG = 1024


LISTINGS = ("data", "bare", "absent")


class Fleet:
    """Serves http://127.0.0.1:<port>/<provider>/v1/chat/completions and /<provider>/v1/models."""

    def __init__(
        self,
        *,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        max_records: int | None = None,
        tls: bool = False,
        tls_dir: Path | None = None,
    ) -> None:
        self.seed = seed
        self.tls: FleetTls | None = make_tls(tls_dir) if tls else None
        """With `tls`, the fleet speaks https; clients trust `tls.ca_file` (SSL_CERT_FILE)."""
        self.max_records = max_records
        """Keep only about this many newest records (None: all); a long demo must not grow."""
        self.host = host
        self._wanted_port = port
        self._port: int | None = None
        self._models: dict[str, dict[str, Behaviour]] = {}
        self._keys: dict[str, str | None] = {}
        self._listings: dict[str, str] = {}
        self._rngs: dict[tuple[str, str], random.Random] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._arrivals: dict[object, float] = {}
        self.requests: list[RequestRecord] = []
        """Every request, in arrival order."""
        self.started_at: float | None = None
        """time.monotonic() when the fleet started listening."""

    # -- configuration --------------------------------------------------------------------

    def set(self, provider: str, model: str, behaviour: Behaviour) -> None:
        """Add or replace a model of a provider (the provider appears with its first model)."""
        self._models.setdefault(provider, {})[model] = behaviour
        self._keys.setdefault(provider, None)

    def require_key(self, provider: str, key: str | None) -> None:
        """The provider answers 401 unless `Authorization: Bearer <key>`; None makes it keyless."""
        self._models.setdefault(provider, {})
        self._keys[provider] = key

    def set_listing(self, provider: str, shape: str) -> None:
        """How GET /models answers: "data" ({"data": [...]}), "bare" (the list), "absent" (404)."""
        if shape not in LISTINGS:
            raise ValueError(f"unknown listing {shape!r}; one of {', '.join(LISTINGS)}")
        self._listings[provider] = shape

    def key(self, provider: str) -> str | None:
        """The key a provider requires (None: keyless or unknown)."""
        return self._keys.get(provider)

    def behaviour(self, provider: str, model: str) -> Behaviour:
        """The configured behaviour of a model (KeyError when unknown)."""
        return self._models[provider][model]

    def providers(self) -> dict[str, list[str]]:
        """Provider ids and their model ids, in the order they were set."""
        return {provider: list(models) for provider, models in self._models.items()}

    def request_count(self, provider: str, model: str) -> int:
        """How many chat requests this model has received."""
        return self._counts.get((provider, model), 0)

    def age(self) -> float:
        """Seconds since the fleet started listening (0 before)."""
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (known once started)."""
        if self._port is None:
            raise RuntimeError("the fleet is not started")
        return self._port

    @property
    def url(self) -> str:
        """The root URL, http://HOST:PORT (https with `tls`)."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def base_url(self, provider: str) -> str:
        """The OpenAI base URL of one provider: http://HOST:PORT/<provider>/v1."""
        return f"{self.url}/{provider}/v1"

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (on a free port when port is 0)."""
        app = web.Application()
        app.router.add_route("GET", "/_fleet/timings", self._timings)
        app.router.add_route("*", "/{provider}/v1/{path:.*}", self._handle)
        app.router.add_route("*", "/{path:.*}", self._handle_unknown)
        # handler_cancellation: a handler whose client hung up stops instead of sleeping on.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            keepalive_timeout=KEEPALIVE_TIMEOUT_S,
        )
        await runner.setup()
        ssl_context = self.tls.server_context if self.tls is not None else None
        handlers, arrivals = runner.server, self._arrivals
        assert handlers is not None  # made by setup()
        try:
            # Listening ourselves (rather than through a TCPSite) puts the arrival stamp in
            # front of aiohttp's protocol; the runner still serves and shuts the connections.
            listener = await asyncio.get_running_loop().create_server(
                lambda: _Stamping(handlers(), arrivals),
                self.host,
                self._wanted_port,
                ssl=ssl_context,
                backlog=BACKLOG,
                reuse_address=True,
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._listener = runner, listener
        self._port = int(listener.sockets[0].getsockname()[1])
        self.started_at = time.monotonic()

    async def stop(self) -> None:
        """Stop listening and end open streams (within a short shutdown timeout)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Fleet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- handlers -------------------------------------------------------------------------

    async def _timings(self, request: web.Request) -> web.StreamResponse:
        """Ground truth for a benchmark in another process: when each chat request arrived and
        when its first content left, on the machine's monotonic clock (the same one
        time.perf_counter reads on Linux)."""
        self._arrival(request, 0.0)
        rows = [
            {"provider": r.provider, "model": r.model, "at": r.at,
             "first_content": r.sent.first_content}
            for r in self.requests
            if r.path == "chat/completions"
        ]  # fmt: skip
        return web.json_response(rows)

    def _arrival(self, request: web.Request, started: float) -> float:
        """When the request's first bytes were read (the handler's start when not known)."""
        return self._arrivals.pop(request.transport, started)

    async def _handle_unknown(self, request: web.Request) -> web.StreamResponse:
        arrival = self._arrival(request, time.monotonic())
        self._record(request, arrival, "", None, request.match_info["path"], None)
        return json_response(error_json(404, f"no route {request.path}"), 404)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        provider = request.match_info["provider"]
        path = request.match_info["path"].strip("/")
        body: dict[str, Any] | None = None
        body_error = None
        if request.can_read_body:
            body, body_error = _parse_body(await request.read())
        # Taken once the whole body is in, so none of its bytes is stamped as a next request.
        arrival = self._arrival(request, started)
        model = body.get("model") if body is not None else None
        model_id = model if isinstance(model, str) else None
        record = self._record(request, arrival, provider, model_id, path, body)

        models = self._models.get(provider)
        if models is None:
            return json_response(error_json(404, f"unknown provider {provider!r}"), 404)
        key = self._keys.get(provider)
        behaviour = models.get(model_id) if model_id is not None else None
        if key is not None and request.headers.get("Authorization") != f"Bearer {key}":
            return self._unauthorized(request, behaviour)
        if path == "models" and request.method == "GET":
            return self._list_models(provider, models)
        if path != "chat/completions" or request.method != "POST":
            return json_response(error_json(404, f"no route {request.path}"), 404)
        if body is None:
            return json_response(error_json(400, body_error or "a JSON body is required"), 400)
        if model_id is None:
            return json_response(error_json(400, "you must provide a model parameter"), 400)
        if behaviour is None:
            message = f"The model `{model_id}` does not exist or you do not have access to it."
            return json_response(error_json(404, message, code="model_not_found"), 404)
        used = self.sample(provider, model_id)
        answer = Answer(request, used, arrival=arrival, model=model_id, body=body, sent=record.sent)
        return await answer.respond()

    def _record(
        self,
        request: web.Request,
        arrival: float,
        provider: str,
        model: str | None,
        path: str,
        body: dict[str, Any] | None,
    ) -> RequestRecord:
        record = RequestRecord(
            at=arrival,
            wall=time.time(),
            provider=provider,
            model=model,
            path=path,
            authorization=request.headers.get("Authorization"),
            body=body,
            headers=dict(request.headers),
            peer=_peer(request),
        )
        self.requests.append(record)
        limit = self.max_records
        if limit is not None and len(self.requests) >= 2 * limit:
            # Trimming in halves keeps appends amortised O(1).
            del self.requests[:-limit]
        return record

    def sample(self, provider: str, model: str) -> Behaviour:
        """The behaviour the model's next request gets (a sampler's pick advances its count)."""
        behaviour = self._models[provider][model]
        key = (provider, model)
        index = self._counts.get(key, 0)
        self._counts[key] = index + 1
        if behaviour.sampler is None:
            return behaviour
        rng = self._rngs.get(key)
        if rng is None:
            # One stream per model: a model's answers do not depend on how others interleave.
            rng = self._rngs[key] = random.Random(f"{self.seed}/{provider}/{model}")
        return behaviour.sampler(rng, index)

    def _unauthorized(self, request: web.Request, behaviour: Behaviour | None) -> web.Response:
        message = "Invalid API Key"
        if behaviour is not None and behaviour.echo_auth:
            message = f"Invalid API Key: {request.headers.get('Authorization')}"
        return json_response(error_json(401, message, code="invalid_api_key"), 401)

    def _list_models(self, provider: str, models: dict[str, Behaviour]) -> web.Response:
        shape = self._listings.get(provider, "data")
        if shape == "absent":
            return json_response(error_json(404, "no route /models"), 404)
        data = []
        for model_id, behaviour in models.items():
            if not behaviour.listed:
                continue
            entry: dict[str, Any] = {
                "id": model_id,
                "object": "model",
                "created": 1_700_000_000,
                "owned_by": provider,
            }
            if behaviour.price is not None:
                entry["pricing"] = {"prompt": behaviour.price, "completion": behaviour.price}
            if behaviour.context is not None:
                entry["context_length"] = behaviour.context
            data.append(entry)
        if shape == "bare":
            return json_response(json.dumps(data))
        return json_response({"object": "list", "data": data})


class _Stamping(asyncio.Protocol):
    """aiohttp's server protocol behind a stamp: the first read of each request is noted (per
    transport, until the handler takes it) before aiohttp parses it."""

    __slots__ = ("_arrivals", "_inner", "_socket", "_transport")

    def __init__(self, inner: asyncio.Protocol, arrivals: dict[object, float]) -> None:
        self._inner = inner
        self._arrivals = arrivals
        self._transport: object = None
        self._socket: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._socket = transport.get_extra_info("socket") if _TCP_INFO is not None else None
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._transport not in self._arrivals:
            self._arrivals[self._transport] = time.monotonic() - _waited_in_kernel(self._socket)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._arrivals.pop(self._transport, None)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


# Linux's TCP_INFO: `tcpi_last_data_recv`, milliseconds since the last data reached the socket,
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
    """Seconds the bytes just read certainly waited in the kernel before the loop read them.

    A fleet answering hundreds of requests at once reads some of them tens of ms after they
    came; the kernel's own count says how long, to a tick either way. Only what it proves
    (its figure less one tick) is taken off, so the arrival is never put before the truth.
    """
    if sock is None or _TCP_INFO is None:
        return 0.0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LAST_DATA_RECV + 4)
    except OSError:
        return 0.0
    if len(info) < _LAST_DATA_RECV + 4:
        return 0.0
    waited_ms: int = struct.unpack_from("I", info, _LAST_DATA_RECV)[0]
    return max(0, waited_ms - _TICK_MS) / 1000


def _parse_body(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None, "the body is not valid JSON"
    if not isinstance(parsed, dict):
        return None, "the body must be a JSON object"
    return parsed, None


class FleetThread:
    """Runs a Fleet on its own event loop in a daemon thread, for sync code (CLI --demo)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        """Start the fleet; returns once it is listening (raises what start() raised)."""
        if self._thread is not None:
            raise RuntimeError("the fleet thread is already running")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            try:
                await self.fleet.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._stopping.wait()
            finally:
                await self.fleet.stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(serve(),), name="freemodels-fleet", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self) -> None:
        """Stop the fleet and its thread (open streams are cut after a short timeout)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        thread.join()

    def __enter__(self) -> FleetThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _peer(request: web.Request) -> str | None:
    """The client's host:port (None once its connection is gone)."""
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    if not isinstance(peername, tuple) or len(peername) < 2:
        return None
    return f"{peername[0]}:{peername[1]}"
