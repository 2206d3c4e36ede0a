"""The router's web server: routes, who may call them, and its lifecycle in the monitor process.

Who may call: a request whose `Origin` is not the router's own, or (on a loopback bind) whose
`Host` does not name the router, is refused with 403 before anything is sent upstream, whatever
its content type: a web page must not spend the user's quota (a `text/plain` POST needs no CORS
preflight, and DNS rebinding makes any name resolve to 127.0.0.1). Beyond loopback a token is
required, as `Authorization: Bearer …` or `x-api-key: …`, compared in constant time. The
client's own key is never sent on: the upstream request is built from the body alone.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web
from yarl import URL

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.ledger_select import open_ledger
from freemodels.core.records import ProbeResult, Snapshot
from freemodels.core.store.history import History
from freemodels.servers.address import LOOPBACK_NAMES, Address
from freemodels.servers.guard import Handler
from freemodels.servers.listen import start_site
from freemodels.servers.router import anthropic, openai
from freemodels.servers.router.body import MAX_BODY_BYTES
from freemodels.servers.router.deadlines import BODY_TIMEOUT, LINGER_S, ClientTimeouts
from freemodels.servers.router.metrics import RouterMetrics
from freemodels.servers.router.pick import ALIASES
from freemodels.servers.router.route import Router
from freemodels.servers.router.upstream import Timeouts, Upstream

DEFAULT_ROUTER = "127.0.0.1:8766"
_LOOPBACK = frozenset({"127.0.0.1", "::1", *LOOPBACK_NAMES})


class Gate:
    """The access rules of one router."""

    def __init__(self, address: Address, token: str | None) -> None:
        self.address = address
        self.token = token
        self._hosts = _LOOPBACK | {address.host.lower()}
        self._loopback = address.is_loopback  # parsed once, not per request

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse what the rules refuse, in the protocol of the path asked for."""
        refusal = self.refusal(request)
        if refusal is not None:
            status, message = refusal
            if request.path.startswith("/v1/messages"):
                return anthropic.error_response(status, message)
            kind = "authentication_error" if status == 401 else "permission_error"
            return openai.error_response(status, message, kind)
        response = await handler(request)
        if response.status == 408:
            # The rest of a body that timed out is not waited for: the connection goes.
            response.force_close()
        return response

    def refusal(self, request: web.Request) -> tuple[int, str] | None:
        """(status, reason) when this request may not pass."""
        host = _host_of(request.host)
        if self._loopback and host not in self._hosts:
            return 403, f"this router answers only to {self.address.netloc} (Host {host!r})"
        origin = request.headers.get("Origin")
        if origin is not None and not self._same_origin(request, origin):
            return 403, "requests from web pages of other origins are refused"
        if self.token is not None and not self._token_ok(request):
            return 401, (
                "this router needs the token 'freemodels serve --router' printed at start, "
                "as 'Authorization: Bearer TOKEN' or 'x-api-key: TOKEN'"
            )
        return None

    def _token_ok(self, request: web.Request) -> bool:
        assert self.token is not None
        supplied = request.headers.get("x-api-key") or ""
        authorization = request.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            supplied = supplied or authorization[7:].strip()
        return bool(supplied) and hmac.compare_digest(supplied.encode(), self.token.encode())

    def _same_origin(self, request: web.Request, origin: str) -> bool:
        try:
            url = URL(origin)
        except ValueError:
            return False
        if url.scheme not in ("http", "https") or url.host is None:
            return False  # "null" (a sandboxed frame, a file:// page) is nobody's origin
        netloc = f"{url.host}:{url.port}" if url.port is not None else url.host
        return netloc.lower() == request.host.lower()


@functools.lru_cache(maxsize=64)
def _host_of(host_header: str | None) -> str:
    # Cached: a client sends the same Host on every request, and yarl's parse is a few µs.
    if not host_header:
        return ""
    try:
        return (URL(f"http://{host_header}").host or "").lower()
    except ValueError:
        return ""


def router_app(router: Router, gate: Gate) -> web.Application:
    """The aiohttp application of the router."""
    app = web.Application(middlewares=[gate.middleware], client_max_size=MAX_BODY_BYTES)

    async def chat(request: web.Request) -> web.StreamResponse:
        return await openai.chat_completions(router, request)

    async def messages(request: web.Request) -> web.StreamResponse:
        return await anthropic.create_message(router, request)

    async def models(request: web.Request) -> web.Response:
        names = [*ALIASES, *router.groups]
        data = [{"id": name, "object": "model", "owned_by": "freemodels"} for name in names]
        for provider, model in router.catalog.models():
            data.append(
                {"id": f"{provider.id}/{model.id}", "object": "model", "owned_by": provider.id}
            )
        return web.json_response({"object": "list", "data": data})

    async def health(request: web.Request) -> web.Response:
        snapshot = router.snapshot()
        usable = sum(1 for row in snapshot.rows if row.usable)
        return web.json_response(
            {"status": "ok", "usable_models": usable, "models": len(snapshot.rows)}
        )

    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", anthropic.count_tokens)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    return app


class RouterServer:
    """The router of one process: its upstream sessions, its ledger connection, its listener."""

    def __init__(
        self,
        catalog: Catalog,
        keys: KeyRing,
        snapshot: Callable[[], Snapshot],
        record: Callable[[ProbeResult], None],
        address: Address,
        *,
        history_path: Path | None,
        token: str | None = None,
        metrics: RouterMetrics | None = None,
        timeouts: Timeouts | None = None,
        groups: Mapping[str, tuple[str, ...]] | None = None,
        client_timeouts: ClientTimeouts | None = None,
    ) -> None:
        self.address = address
        self.client_timeouts = client_timeouts or ClientTimeouts()
        self.token = token
        self.metrics = metrics or RouterMetrics()
        self._history = History(history_path) if history_path is not None else None
        ledger = None
        if self._history is not None:
            # The ledger the machine is configured for: SQLite, or the team's Redis.
            ledger = open_ledger(self._history.db, catalog.providers, keys)
        self.upstream = Upstream(keys, timeouts or Timeouts())
        self.router = Router(
            catalog, self.upstream, ledger, snapshot, record, self.metrics, groups=groups
        )
        self._runner: web.AppRunner | None = None
        self.bound: Address | None = None
        self.public_host: str | None = None
        """The host clients reach a wildcard bind (0.0.0.0) at, for the advertised URL."""

    async def start(self, option: str = "--router") -> Address:
        """Listen; returns the address really bound."""
        app = router_app(self.router, Gate(self.address, self.token))
        app[BODY_TIMEOUT] = self.client_timeouts.body_s
        self._runner, self.bound = await start_site(
            app,
            self.address,
            option,
            # A client that hangs up cancels its handler, which drops the upstream request.
            handler_cancellation=True,
            # Idle, or no complete request head in time (slowloris): closed (see deadlines).
            keepalive_timeout=self.client_timeouts.headers_s,
            lingering_time=LINGER_S,
        )
        return self.bound

    @property
    def url(self) -> str:
        """The base URL clients use (http://HOST:PORT)."""
        where = self.bound or self.address
        if self.public_host is not None:
            where = Address(self.public_host, where.port)
        return where.url("").rstrip("/")

    async def stop(self) -> None:
        """Stop listening and close upstream sessions and the database."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.upstream.aclose()
        if self._history is not None:
            self._history.close()
            self._history = None
