"""The local router as a pick: where it listens, and the selections that write it into a tool.

`freemodels use TOOL router` writes one OpenAI-compatible provider, `freemodels`, whose models are
the router's names (`auto`, `auto:tools`); the router picks the real model per request, so the
tool is configured once. The address is the one given, else the running router's (the monitor's
heartbeat records it), else the default. See docs/architecture.md, "Router".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from freemodels.core.records import Model, Provider
from freemodels.errors import StoreError, UsageError
from freemodels.integrations.base import (
    ROUTER_ID,
    ROUTER_PLACEHOLDER_KEY,
    ROUTER_TOKEN_VAR,
    Integration,
    Selection,
)

DEFAULT_URL = "http://127.0.0.1:8766"
# What the tools are told about the router's models. The router skips candidates whose context is
# too small for a request, so the context is generous; the output is modest because many tools
# send it as max_tokens, and a request asking for more than a model gives is refused upstream.
CONTEXT = 131072
OUTPUT = 8192
_NAMES = {
    "auto": "Best free model now",
    "auto:tools": "Best free model with tool calls",
}
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclass(frozen=True, slots=True)
class RouterAddress:
    """The router's base URL (no `/v1`) and where it came from: `given`, `running`, `default`."""

    url: str
    source: str

    @property
    def loopback(self) -> bool:
        """Whether the router listens on this machine only (then it needs no token)."""
        return is_loopback(self.url)


def normalize_url(text: str) -> str:
    """`127.0.0.1:8766`, `http://host:8766/`, `http://host:8766/v1` → `http://host:8766`."""
    raw = text.strip()
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"not a router address: {text!r}", "give it as http://HOST:PORT, e.g. " + DEFAULT_URL
        )
    host = _WILDCARD_HOSTS.get(parts.hostname, parts.hostname)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path.rstrip("/").removesuffix("/v1").rstrip("/")
    return f"{parts.scheme}://{netloc}{path}"


def is_loopback(url: str) -> bool:
    """Whether the URL names this machine (127.0.0.0/8, ::1, localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def running_url(history_path: Path) -> str | None:
    """The address of the router a live monitor runs now, from its heartbeat; None without one."""
    if not history_path.exists():
        return None  # opening the history would create it
    from freemodels.core.store.history import History

    try:
        history = History(history_path)
    except StoreError:
        return None  # a broken history must not stop a config write; `serve` reports it
    try:
        # The router's `History.live_router()` finds a router any live process serves (a
        # router-only one too); without it, the monitor's heartbeat may name one (`router`).
        finder = getattr(history, "live_router", None)
        url = finder() if callable(finder) else getattr(history.live_monitor(), "router", None)
    finally:
        history.close()
    return normalize_url(url) if isinstance(url, str) and url else None


def address(given: str | None, history_path: Path) -> RouterAddress:
    """The router to write: `--url`, else the running router's, else the default address."""
    if given:
        return RouterAddress(normalize_url(given), "given")
    running = running_url(history_path)
    if running is not None:
        return RouterAddress(running, "running")
    return RouterAddress(DEFAULT_URL, "default")


def selections(spec: Integration, where: RouterAddress, env: Mapping[str, str]) -> list[Selection]:
    """One selection per router model the tool lists, its default last."""
    provider = Provider(
        id=ROUTER_ID,
        name="Local router",
        base_url=where.url + "/v1",
        api_key_env=(ROUTER_TOKEN_VAR,),
        signup_url="",
        key_required=not where.loopback,
    )
    # Tools that cannot name an environment variable (Claude Code's settings) get the token itself.
    token = None if where.loopback or spec.env_references else env.get(ROUTER_TOKEN_VAR)
    placeholder = ROUTER_PLACEHOLDER_KEY if where.loopback else None
    models = [
        Model(alias, _NAMES[alias], CONTEXT, max_output=OUTPUT, tool_calls=alias == "auto:tools")
        for alias in spec.router_models
    ]
    return [
        Selection(
            provider,
            model,
            provider.base_url,
            ROUTER_TOKEN_VAR,
            inline_key=token,
            placeholder_key=placeholder,
        )
        for model in models
    ]


def notes(spec: Integration, where: RouterAddress, env: Mapping[str, str]) -> list[str]:
    """What the user must know after writing the router: a missing router or token."""
    found: list[str] = []
    if where.source == "default":
        found.append(
            f"no running router was found; {spec.title} now expects one at {where.url}: "
            "start it with `freemodels serve --router`"
        )
    if not where.loopback:
        last = selections(spec, where, env)[-1]
        found += spec.notes(last, key_in_env=ROUTER_TOKEN_VAR in env)
    return found
