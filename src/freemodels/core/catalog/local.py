"""A user's own OpenAI-compatible servers (`providers add`): Ollama, LM Studio, llama.cpp, vLLM.

A local server needs only a name, a base URL and its model ids: its `GET /models` tells the ids,
and the provider goes into the user overlay (`$XDG_CONFIG_HOME/freemodels/providers.toml`),
edited with tomlkit so the user's comments and order stay. The request passes the budget gate
like every other; nothing is written unless the new overlay parses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Table

from freemodels.core.catalog.overlay import load_overlay
from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.monitor.budget import RequestGate
from freemodels.core.probe.clients import request_headers
from freemodels.core.probe.failure import network_error
from freemodels.core.records import ProbeKind, Provider
from freemodels.errors import CatalogError, UsageError

# The usual ports of local servers, with the ids and names `providers add --detect` offers.
KNOWN_SERVERS: tuple[tuple[str, str, str], ...] = (
    ("ollama", "Ollama", "http://127.0.0.1:11434/v1"),
    ("lmstudio", "LM Studio", "http://127.0.0.1:1234/v1"),
    ("llamacpp", "llama.cpp", "http://127.0.0.1:8080/v1"),
    ("vllm", "vLLM", "http://127.0.0.1:8000/v1"),
)
DETECT_OVERRIDE = "FREEMODELS_DETECT_URLS"  # `id=url,id=url`: what --detect tries instead
REQUEST_TIMEOUT_S = 10.0
DETECT_TIMEOUT_S = 2.0
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_CONTEXT_FIELDS = ("context_length", "context_window", "max_model_len", "max_context_length")


@dataclass(frozen=True, slots=True)
class ServerModel:
    """One model a server lists; context only when the listing says."""

    id: str
    context: int | None = None


@dataclass(frozen=True, slots=True)
class Server:
    """A server found at a base URL, and the models it lists (or why it could not be asked)."""

    provider: Provider
    models: tuple[ServerModel, ...] = ()
    error: str | None = None


def own_provider(pid: str, url: str, *, key_env: str | None, name: str | None = None) -> Provider:
    """The catalog entry for a user's server; UsageError for a bad id, URL or variable."""
    if not _ID.match(pid):
        raise UsageError(
            f"provider id {pid!r} is not allowed",
            "use lowercase letters, digits, '-', '_' and '.', e.g. ollama",
        )
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an http(s) URL", "e.g. http://127.0.0.1:11434/v1")
    if key_env is not None and not _ENV_NAME.match(key_env):
        raise UsageError(f"{key_env!r} is not an environment variable name", "e.g. MY_SERVER_KEY")
    return Provider(
        id=pid,
        name=name or pid,
        base_url=url.rstrip("/"),
        api_key_env=(key_env,) if key_env else (),
        signup_url="",
        key_required=key_env is not None,
    )


def candidates(env: Mapping[str, str]) -> list[Provider]:
    """The servers `--detect` tries: the usual local ports, or the override's list."""
    override = env.get(DETECT_OVERRIDE, "").strip()
    if override:
        pairs = [item.split("=", 1) for item in override.split(",") if "=" in item]
        return [own_provider(pid.strip(), url.strip(), key_env=None) for pid, url in pairs]
    return [own_provider(pid, url, key_env=None, name=name) for pid, name, url in KNOWN_SERVERS]


async def ask_server(
    provider: Provider,
    client: httpx.AsyncClient,
    key: ResolvedKey | None,
    gate: RequestGate,
    *,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> Server:
    """`GET /models` of the server (also `/v1/models` when the URL lacks `/v1`); never raises."""
    found = await _list(provider, client, key, gate, timeout_s)
    if found.error == "HTTP 404" and not provider.base_url.endswith("/v1"):
        with_v1 = dataclasses.replace(provider, base_url=provider.base_url + "/v1")
        retry = await _list(with_v1, client, key, gate, timeout_s)
        if retry.error is None:
            return retry
    return found


async def _list(
    provider: Provider,
    client: httpx.AsyncClient,
    key: ResolvedKey | None,
    gate: RequestGate,
    timeout_s: float,
) -> Server:
    if not await gate.acquire(provider, None, ProbeKind.MODELS, max_wait_s=timeout_s):
        return Server(provider, error="its request budget is used up for now")
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.get(
                f"{provider.base_url}/models", headers=request_headers(provider, key)
            )
    except TimeoutError:
        return Server(provider, error=f"no answer within {timeout_s:g} s")
    except httpx.TransportError as exc:
        return Server(provider, error=network_error(exc) or f"no answer within {timeout_s:g} s")
    except httpx.HTTPError as exc:
        return Server(provider, error=type(exc).__name__)
    if response.status_code != 200:
        # Never the body: a server may echo a key back.
        return Server(provider, error=f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return Server(provider, error="GET /models did not answer JSON")
    items = body.get("data") if isinstance(body, dict) else body
    if not isinstance(items, list):
        return Server(provider, error="GET /models did not return a model list")
    models = [_model(e) for e in items if isinstance(e, dict) and isinstance(e.get("id"), str)]
    unique = {m.id: m for m in models if m.id.strip()}
    return Server(provider, tuple(unique.values()))


def _model(entry: Mapping[str, Any]) -> ServerModel:
    context = next(
        (
            entry[f]
            for f in _CONTEXT_FIELDS
            if isinstance(entry.get(f), int) and not isinstance(entry[f], bool) and entry[f] > 0
        ),
        None,
    )
    return ServerModel(str(entry["id"]), context)


def add_to_overlay(path: Path, servers: Sequence[Server], known: Sequence[str]) -> str:
    """The overlay's new text with these servers added; CatalogError when one cannot be.

    `known`: provider ids the catalog already has (an added server must not shadow one).
    Nothing is written here; `replace_overlay` does, once the caller checked the text parses.
    """
    doc = load_overlay(path)
    providers = doc.get("providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        doc["providers"] = providers
    if not isinstance(providers, Table):
        raise CatalogError(f"{path}: 'providers' must be a table", "fix the overlay by hand")
    for server in servers:
        provider = server.provider
        if provider.id in providers or provider.id in known:
            raise CatalogError(
                f"provider {provider.id!r} is already in the catalog ({path} or the bundled one)",
                "pick another id, or edit the overlay by hand",
            )
        providers[provider.id] = _provider_table(server)
    return tomlkit.dumps(doc)


def _provider_table(server: Server) -> Table:
    provider = server.provider
    table = tomlkit.table()
    table.add("name", provider.name)
    table.add("base_url", provider.base_url)
    if provider.api_key_env:
        table.add("api_key_env", list(provider.api_key_env))
    table.add("key_required", provider.key_required)
    models: AoT = tomlkit.aot()
    for model in server.models:
        entry = tomlkit.table()
        entry.add("id", model.id)
        if model.context is not None:
            entry.add("context", model.context)
        models.append(entry)
    table.add("models", models)
    return table
