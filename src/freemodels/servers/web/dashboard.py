"""The Textual dashboard in a browser (`serve --web`), through textual-serve.

Each websocket runs one `freemodels` dashboard process (web_session.py), which attaches to the
monitor of `serve` through the history database's heartbeat: ten open tabs cost no more
requests than one. Access rules and the page's offline policy live in web_guard.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence

import aiohttp_jinja2
from aiohttp import web
from textual_serve.server import Server

from freemodels.servers.address import Address
from freemodels.servers.guard import Guard, OfflineTemplates
from freemodels.servers.listen import start_site
from freemodels.servers.web.session import DashboardSession

log = logging.getLogger("freemodels.web")

MAX_SESSIONS = 16
"""More open tabs than this are refused: each one is a process."""
TERMINAL_CELLS = (10, 500)
"""The terminal sizes a browser may ask for, in cells (columns or rows)."""


class DashboardServer(Server):
    """textual-serve's server with access control, offline pages and contained sessions."""

    def __init__(
        self,
        argv: Sequence[str],
        key_variables: Collection[str],
        guard: Guard,
        *,
        public_url: str | None,
        title: str = "freemodels",
    ) -> None:
        super().__init__(" ".join(argv), title=title, public_url=public_url or "")
        self.argv = tuple(argv)
        self.key_variables = frozenset(key_variables)
        self.guard = guard
        self.fixed_public_url = public_url.rstrip("/") if public_url else None
        self.sessions: set[DashboardSession] = set()

    async def _make_app(self) -> web.Application:
        app: web.Application = await super()._make_app()
        app.middlewares.append(self.guard.middleware)
        app.router.add_get("/favicon.ico", _no_icon)
        aiohttp_jinja2.setup(
            app, loader=OfflineTemplates(self.templates_path, self.statics_path), autoescape=True
        )
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: `serve` prints its own addresses (textual-serve prints a banner here)."""

    async def handle_index(self, request: web.Request) -> web.Response:
        """The page; its static and websocket URLs point where the browser came from."""
        base = self.fixed_public_url or f"{request.scheme}://{request.host}"
        scheme, rest = base.split(":", 1)
        context = {
            "font_size": _cells(request.query.get("fontsize"), 16, (6, 64)),
            "app_websocket_url": ("wss" if scheme == "https" else "ws") + f":{rest}/ws",
            "config": {"static": {"url": f"{base}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One browser session: a dashboard process relayed over this websocket."""
        if len(self.sessions) >= MAX_SESSIONS:
            raise web.HTTPServiceUnavailable(text=f"freemodels: {MAX_SESSIONS} sessions are open")
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)

        async def close() -> None:
            await websocket.close()

        session = DashboardSession(
            self.argv,
            self.key_variables,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=close,
            download_manager=self.download_manager,
        )
        self.sessions.add(session)
        try:
            width = _cells(request.query.get("width"), 80, TERMINAL_CELLS)
            height = _cells(request.query.get("height"), 24, TERMINAL_CELLS)
            await session.start(width, height)
            await self._process_messages(websocket, session)
        except (ConnectionError, ValueError, AssertionError) as exc:
            # A browser that hung up, or sent something that is not textual-serve's protocol.
            log.info("web session ended: %r", exc)
        finally:
            self.sessions.discard(session)
            # Shielded: the group must be ended even when the server cancels this handler.
            await asyncio.shield(session.stop())
            await websocket.close()
        return websocket

    async def stop_sessions(self) -> None:
        """End every open session and its processes."""
        await asyncio.gather(*(session.stop() for session in list(self.sessions)))


async def _no_icon(request: web.Request) -> web.Response:
    # Browsers ask for one; a 404 would show as an error in their console.
    return web.Response(status=204)


def _cells(text: str | None, default: int, bounds: tuple[int, int]) -> int:
    try:
        value = int(text) if text is not None else default
    except ValueError:
        value = default
    return max(bounds[0], min(bounds[1], value))


class WebDashboard:
    """Serves the dashboard on an address until stopped."""

    def __init__(
        self,
        argv: Sequence[str],
        key_variables: Collection[str],
        address: Address,
        *,
        token: str | None,
        public_url: str | None,
    ) -> None:
        self.address = address
        self.token = token
        self.public_url = public_url
        guard = Guard(
            token,
            loopback_only=token is None,
            bound_host=address.host,
            public_url=public_url,
        )
        self.server = DashboardServer(argv, key_variables, guard, public_url=public_url)
        self._runner: web.AppRunner | None = None

    async def start(self) -> Address:
        """Listen; returns the address really bound."""
        app = await self.server._make_app()
        self._runner, self.address = await start_site(app, self.address, "--web")
        return self.address

    def url(self, host: str | None = None) -> str:
        """The URL to open (with the token), on `host` or the public URL."""
        shown = self.address if host is None else Address(host, self.address.port)
        base = (self.public_url or shown.url("")).rstrip("/")
        return f"{base}/?token={self.token}" if self.token else f"{base}/"

    async def stop(self) -> None:
        """End every session, then stop listening."""
        await self.server.stop_sessions()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
