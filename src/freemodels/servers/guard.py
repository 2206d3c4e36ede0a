"""Who may use the web dashboard, and what its page may load.

textual-serve has no access control, so an aiohttp middleware adds it:
- an access token (required when the server listens beyond loopback), given once as `?token=`
  and then kept in an HttpOnly, SameSite=Strict cookie so the page's static files and websocket
  carry it; compared in constant time;
- the Host header must name this server on a loopback bind (DNS rebinding: a web page whose
  name resolves to 127.0.0.1 would otherwise reach the dashboard);
- a websocket's Origin must be this server (websockets ignore CORS: any page the user visits
  could otherwise open one and type into the dashboard);
- a Content-Security-Policy that confines the page to its own origin, so it never loads
  anything from the internet (a template's web font falls back to local monospace fonts).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
from aiohttp import web
from yarl import URL

TOKEN_COOKIE = "freemodels_web_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "connect-src 'self'",
    # textual-serve's page has inline scripts and styles, and xterm.js injects styles.
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
))  # fmt: skip
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The token may sit in the address bar: never send it on in a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Guard:
    """The access rules of one web dashboard server."""

    def __init__(
        self,
        token: str | None,
        *,
        loopback_only: bool,
        bound_host: str,
        public_url: str | None = None,
    ) -> None:
        self.token = token
        self.loopback_only = loopback_only
        public = URL(public_url) if public_url else None
        public_netloc = _netloc(public) if public is not None else None
        # Behind a proxy the page comes from the public URL: its host and origin are ours too.
        self._public_netlocs = (public_netloc.lower(),) if public_netloc else ()
        hosts = {bound_host.lower()}
        if public is not None and public.host:
            hosts.add(public.host.lower())
        self.allowed_hosts = LOOPBACK_HOSTS | hosts

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse what the rules refuse; add the security headers to everything else."""
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        response = await handler(request)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
            if self.token is not None and self._token_matches(request.query.get("token")):
                response.set_cookie(
                    TOKEN_COOKIE, self.token, httponly=True, samesite="Strict", path="/"
                )
        return response

    def refusal(self, request: web.Request) -> web.Response | None:
        """The response that refuses this request, or None when it may pass."""
        host = _host_of(request.host)
        if self.loopback_only and host not in self.allowed_hosts:
            names = ", ".join(sorted(self.allowed_hosts))
            return _refuse(421, f"this dashboard answers only to {names}")
        if self.token is not None and not (
            self._token_matches(request.query.get("token"))
            or self._token_matches(request.cookies.get(TOKEN_COOKIE))
        ):
            return _refuse(
                401, "this dashboard needs its access token: open the URL with ?token=… "
                "that 'freemodels serve' printed when it started",
            )  # fmt: skip
        origin = request.headers.get("Origin")
        is_websocket = request.path.rstrip("/").endswith("/ws")
        if is_websocket and origin is not None and not self._same_origin(request, origin):
            return _refuse(403, "websocket from another origin refused")
        return None

    def _token_matches(self, supplied: str | None) -> bool:
        if self.token is None or not supplied:
            return False
        return hmac.compare_digest(supplied.encode(), self.token.encode())

    def _same_origin(self, request: web.Request, origin: str) -> bool:
        try:
            origin_url = URL(origin)
        except ValueError:
            return False
        netloc = _netloc(origin_url)
        ours = {request.host.lower(), *self._public_netlocs}
        return netloc is not None and netloc.lower() in ours


def _refuse(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=f"freemodels: {text}\n", headers=SECURITY_HEADERS)


def _host_of(host_header: str | None) -> str:
    if not host_header:
        return ""
    try:
        return (URL(f"http://{host_header}").host or "").lower()
    except ValueError:
        return ""


def _netloc(url: URL) -> str | None:
    if url.host is None:
        return None
    host = f"[{url.host}]" if ":" in url.host else url.host
    return host if url.explicit_port is None else f"{host}:{url.explicit_port}"


# -- the page ----------------------------------------------------------------------------------

_GOOGLE_FONTS_LINK = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>", re.IGNORECASE)
_LOCAL_FONT_FACE = """<style>
      @font-face { font-family: "Roboto Mono"; font-style: normal; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf") format("truetype"); }
      @font-face { font-family: "Roboto Mono"; font-style: italic; font-weight: 100 700;
        src: url("{{ config.static.url }}fonts/RobotoMono-Italic-VariableFont_wght.ttf") format("truetype"); }
    </style>"""  # noqa: E501


_HEAD = re.compile(r"<head>", re.IGNORECASE)
# textual-serve's page has no <title>: the tab and the history would read as a bare address.
_TITLE = "<head>\n    <title>{{ application.name }}</title>"


class OfflineTemplates(jinja2.FileSystemLoader):
    """textual-serve's templates with the web-font link replaced by its bundled font files.

    The page also gets a `<title>` (the application's name) when the template has none.
    """

    def __init__(self, templates: Path, statics: Path) -> None:
        super().__init__(templates)
        self._fonts_bundled = (statics / "fonts" / "RobotoMono-VariableFont_wght.ttf").is_file()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        """The template text, fonts served locally (or dropped: the CSP would block them)."""
        source, filename, uptodate = super().get_source(environment, template)
        replacement = _LOCAL_FONT_FACE if self._fonts_bundled else ""
        source = _GOOGLE_FONTS_LINK.sub(replacement, source)
        if "<title" not in source.lower():
            source = _HEAD.sub(_TITLE, source, count=1)
        return source, filename, uptodate
