"""`providers refresh`: compare a provider's live `GET /models` with the catalog.

Three kinds of listing say different things about which models are free:
- priced (OpenRouter, and any provider whose entries carry `pricing`): a model is free when its
  prompt and completion prices are both zero; new free ids are added to the user overlay, and a
  catalog model no longer listed as free is `not_listed`;
- marked (ids ending in `:free` or `-free`, as Routeway and OpenCode Zen name them): the marked
  ids are the free ones; new ones are offered;
- plain (a renewing free tier lists what a key may call): every new id is offered.
Offered ids are written only with `add_new`. The bundled catalog is never written; the overlay
is edited with tomlkit, keeping the user's comments.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT, Table

from freemodels.core.catalog.overlay import load_overlay, replace_overlay
from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.monitor.budget import RequestGate
from freemodels.core.probe.clients import request_headers
from freemodels.core.records import ProbeKind, Provider
from freemodels.errors import CatalogError

# Providers whose /models carries prices, so that "free" can be read from it.
FREE_BY_PRICE = frozenset({"openrouter"})
# Context written for a new model whose listing gives none: small enough that no tool overfills it.
DEFAULT_CONTEXT = 32768
REFRESH_TIMEOUT_S = 30.0
DEFAULT_RETRY_S = 60.0
_CONTEXT_FIELDS = ("context_length", "context_window", "max_model_len", "max_context_length")
FREE_MARKERS = (":free", "-free")
PRICED, MARKED, PLAIN = "priced", "marked", "plain"


@dataclass(frozen=True, slots=True)
class LiveModel:
    """One entry of a provider's live model list."""

    id: str
    name: str | None = None
    context: int | None = None
    free: bool | None = field(default=None, compare=False)  # None: the listing does not say


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one provider's live list said about the catalog."""

    provider: str
    error: str | None = None
    listed: int = 0
    kind: str = PLAIN  # PRICED, MARKED or PLAIN: what the listing says about free models
    not_listed: tuple[str, ...] = ()
    new: tuple[LiveModel, ...] = ()
    add: tuple[LiveModel, ...] = ()  # the new models to write into the overlay

    @property
    def ok(self) -> bool:
        """Whether the live list was fetched."""
        return self.error is None


class _FetchError(Exception):
    """A GET /models that did not produce a list; the message is one line for the user."""


async def refresh_provider(
    provider: Provider,
    client: httpx.AsyncClient,
    key: ResolvedKey | None,
    gate: RequestGate,
    *,
    add_new: bool = False,
    env: Mapping[str, str] | None = None,
) -> RefreshResult:
    """Fetch the provider's live models and compare them with its catalog entry."""
    try:
        live = await fetch_live_models(provider, client, key, gate, env=env)
    except _FetchError as exc:
        return RefreshResult(provider.id, error=str(exc))
    kind = listing_kind(provider, live)
    if kind == PRICED:
        # Only the free ones count: a catalog model that became paid is "not listed" as free.
        live = [m for m in live if m.free]
    live_ids = {m.id for m in live}
    known = {m.id for m in provider.models}
    new = tuple(m for m in live if m.id not in known and (kind != MARKED or m.free))
    return RefreshResult(
        provider.id,
        listed=len(live),
        kind=kind,
        not_listed=tuple(m.id for m in provider.models if m.id not in live_ids),
        new=new,
        # A zero price is proof a model is free; elsewhere a listing is not, so the user decides.
        add=new if kind == PRICED or add_new else (),
    )


def listing_kind(provider: Provider, live: Sequence[LiveModel]) -> str:
    """PRICED when prices say which models are free, MARKED when ids do, else PLAIN."""
    if provider.id in FREE_BY_PRICE or any(m.free is not None and not _marked(m.id) for m in live):
        return PRICED
    if any(_marked(m.id) for m in live):
        return MARKED
    return PLAIN


def _marked(model_id: str) -> bool:
    return model_id.endswith(FREE_MARKERS)


async def fetch_live_models(
    provider: Provider,
    client: httpx.AsyncClient,
    key: ResolvedKey | None,
    gate: RequestGate,
    *,
    env: Mapping[str, str] | None = None,
) -> list[LiveModel]:
    """The provider's live model list (OpenRouter: only the free ones); raises _FetchError."""
    base_url = provider.resolve_base_url(env)
    if base_url is None:
        missing = " and ".join(provider.url_variables)
        raise _FetchError(f"set {missing}: the base URL needs it; no request sent")
    if key is None and provider.key_required:
        names = " or ".join(provider.api_key_env)
        raise _FetchError(f"no key: set {names} (or `freemodels keys set {provider.id}`)")
    # GET /models counts against the free quota like any probe; never wait a day for it.
    if not await gate.acquire(provider, None, ProbeKind.MODELS, max_wait_s=REFRESH_TIMEOUT_S):
        raise _FetchError("its request budget is used up for now; try again later")
    try:
        async with asyncio.timeout(REFRESH_TIMEOUT_S):
            response = await client.get(
                f"{base_url}/models", headers=request_headers(provider, key)
            )
    except TimeoutError:
        raise _FetchError(f"GET /models timed out after {REFRESH_TIMEOUT_S:g} s") from None
    except httpx.HTTPError as exc:
        raise _FetchError(f"network error ({exc.__class__.__name__})") from None
    _check_status(provider, response, gate)
    try:
        body = response.json()
    except ValueError:
        raise _FetchError("GET /models did not answer JSON") from None
    return [_live_model(e) for e in _entries(body)]


def _check_status(provider: Provider, response: httpx.Response, gate: RequestGate) -> None:
    # Error bodies are never shown: a server may echo the key back.
    status = response.status_code
    if status == 200:
        return
    if status in (401, 403):
        raise _FetchError(f"key rejected (HTTP {status}); check it with `freemodels keys test`")
    if status == 429:
        gate.pause(provider.budget_id, time.time() + _retry_after(response))
        raise _FetchError("rate limited (HTTP 429); try again later")
    raise _FetchError(f"GET /models answered HTTP {status}")


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return DEFAULT_RETRY_S


def _entries(body: Any) -> list[dict[str, Any]]:
    # OpenAI wraps the list in {"data": [...]}; a few providers answer the bare list.
    items = body.get("data") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise _FetchError("GET /models did not return a model list")
    return [e for e in items if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"]]


def _is_free(entry: Mapping[str, Any]) -> bool | None:
    # A price is the surest sign; an id marked ":free" is the next; otherwise nobody knows.
    pricing = entry.get("pricing")
    if isinstance(pricing, dict):
        return all(_is_zero(pricing.get(part)) for part in ("prompt", "completion"))
    if _marked(str(entry["id"])):
        return True
    return None


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        return float(value) == 0.0
    except ValueError:
        return False


def _live_model(entry: Mapping[str, Any]) -> LiveModel:
    model_id = str(entry["id"])
    # Google's compatibility endpoint lists "models/gemini-…" but is called with the bare id.
    model_id = model_id.removeprefix("models/")
    name = entry.get("name")
    context = next(
        (
            entry[f]
            for f in _CONTEXT_FIELDS
            if isinstance(entry.get(f), int) and not isinstance(entry[f], bool) and entry[f] > 0
        ),
        None,
    )
    label = name if isinstance(name, str) and name.strip() else None
    return LiveModel(model_id, label, context, _is_free(entry))


def write_overlay(path: Path, additions: Mapping[str, Sequence[LiveModel]]) -> int:
    """Append new models to the user overlay (kept intact otherwise); returns how many were added.

    Models already in the overlay are left alone: the user's edits win over a listing.
    """
    wanted = {pid: models for pid, models in additions.items() if models}
    if not wanted:
        return 0
    doc = load_overlay(path)
    providers = doc.get("providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        doc["providers"] = providers
    added = 0
    for pid, models in wanted.items():
        table = providers.get(pid)
        if table is None:
            table = tomlkit.table(is_super_table=True)
            providers[pid] = table
        entries = table.get("models")
        if entries is None:
            entries = tomlkit.aot()
            table["models"] = entries
        if not isinstance(table, Table) or not isinstance(entries, AoT):
            raise CatalogError(
                f"{path}: provider {pid!r}: key 'models' is not an array of tables",
                "fix the overlay by hand, then run the refresh again",
            )
        present = {entry.get("id") for entry in entries}
        for model in models:
            if model.id in present:
                continue
            entries.append(_model_table(model))
            present.add(model.id)
            added += 1
    if added:
        replace_overlay(path, tomlkit.dumps(doc))
    return added


def _model_table(model: LiveModel) -> Table:
    table = tomlkit.table()
    table.add("id", model.id)
    table.add("name", model.name or model.id)
    table.add("context", model.context or DEFAULT_CONTEXT)
    if model.context is None:
        table["context"].comment("not listed by the provider: a conservative default")
    return table
