"""Prove each key works with one cheap authenticated request (`freemodels keys test`).

The request is `GET {base_url}/models` with the key. Where that list is open to anyone (it answers
200 without a key), a 200 proves nothing, so one tiny completion (`max_tokens` 1, not streamed)
with the provider's first catalog model decides instead. Providers known to serve an open list skip
straight to the completion; for the others, a 200 is confirmed by one keyless `GET /models` (a
401/403 proves the list checks keys). Every request passes the budget gate first and counts
against the provider's budget.

Results never carry a response body or an exception's text: a server may echo the key back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import httpx

from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.monitor.budget import RequestGate
from freemodels.core.probe.clients import ClientPool, request_headers
from freemodels.core.probe.failure import network_error, parse_retry_after
from freemodels.core.records import Model, Outcome, ProbeKind, Provider

REQUEST_TIMEOUT_S = 10.0
DEFAULT_RETRY_AFTER_S = 60.0
# Providers whose GET /models answers without a key (checked by hand): one completion tells more.
KNOWN_OPEN_MODEL_LISTS = frozenset({"openrouter", "nvidia"})


class KeyVerdict(StrEnum):
    """What a key test found."""

    OK = "ok"
    REJECTED = "rejected"  # 401/403: the key is wrong, revoked or lacks access
    RATE_LIMITED = "rate_limited"  # 429, or freemodels' own budget for the provider is used up
    UNREACHABLE = "unreachable"  # DNS, refused, reset, TLS, or no answer within the timeout
    NOT_CONFIGURED = "not_configured"  # no key (or a required URL variable) set: nothing sent
    UNEXPECTED = "unexpected"  # any other answer (5xx, a redirect, ...)

    @property
    def label(self) -> str:
        """The verdict as a person reads it, in the probes' words where they say the same."""
        same = _SAME_AS_OUTCOME.get(self)
        return same.label if same is not None else self.value.replace("_", " ")


_SAME_AS_OUTCOME = {
    KeyVerdict.OK: Outcome.OK,
    KeyVerdict.RATE_LIMITED: Outcome.RATE_LIMITED,
    KeyVerdict.UNREACHABLE: Outcome.NETWORK_ERROR,
}


@dataclass(frozen=True, slots=True)
class KeyTestResult:
    """One provider's key test; holds the key's source and masked form, never the key."""

    provider_id: str
    verdict: KeyVerdict
    detail: str
    http_status: int | None = None
    source: str | None = None
    masked: str | None = None
    requests: int = 0  # requests sent (each passed the budget gate)


_ResultFactory = Callable[["KeyVerdict", str, int | None, int], "KeyTestResult"]


class _Answer:
    """A finished request: its status, or why there is none."""

    __slots__ = ("error", "retry_after", "status")

    def __init__(
        self, status: int | None, error: str | None = None, retry_after: float | None = None
    ) -> None:
        self.status = status
        self.error = error
        self.retry_after = retry_after


class _Budgeted:
    """Sends one provider's requests through the gate, counting them."""

    def __init__(
        self, provider: Provider, pool: ClientPool, gate: RequestGate, timeout: float
    ) -> None:
        self.provider = provider
        self.pool = pool
        self.gate = gate
        self.timeout = timeout
        self.sent = 0

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        *,
        model: Model | None = None,
        body: dict[str, object] | None = None,
    ) -> _Answer:
        # A key test is a person waiting: when the budget has no room soon, say so instead.
        if not await self.gate.acquire(
            self.provider, model, ProbeKind.KEY_TEST, max_wait_s=self.timeout
        ):
            return _Answer(None, "budget")
        self.sent += 1
        client = self.pool.client(url)
        try:
            async with asyncio.timeout(self.timeout):
                # Streamed and closed unread: a /models list can be large, only the status matters.
                async with client.stream(method, url, headers=headers, json=body) as response:
                    status = response.status_code
                    retry = parse_retry_after(response.headers.get("retry-after"), time.time())
        except TimeoutError:
            return _Answer(None, f"no answer within {self.timeout:g} s")
        except httpx.TransportError as exc:
            # The probes' wording ("DNS lookup failed"), never the exception's text, which may
            # quote the request.
            return _Answer(None, network_error(exc) or f"no answer within {self.timeout:g} s")
        except httpx.HTTPError as exc:
            return _Answer(None, type(exc).__name__)
        if status == 429:
            self.gate.pause(self.provider.budget_id, time.time() + (retry or DEFAULT_RETRY_AFTER_S))
        return _Answer(status, retry_after=retry)


async def verify_key(
    provider: Provider,
    key: ResolvedKey | None,
    *,
    pool: ClientPool,
    gate: RequestGate,
    env: Mapping[str, str] | None = None,
    request_s: float = REQUEST_TIMEOUT_S,
    open_model_lists: frozenset[str] = KNOWN_OPEN_MODEL_LISTS,
) -> KeyTestResult:
    """Test one provider's key with the cheapest request that proves it; never raises for it."""
    source = key.source if key else None
    masked = key.masked if key else None

    def result(verdict: KeyVerdict, detail: str, status: int | None, sent: int) -> KeyTestResult:
        return KeyTestResult(provider.id, verdict, detail, status, source, masked, sent)

    if key is None:
        detail = "no key set" if provider.key_required else "no key set (none needed)"
        return result(KeyVerdict.NOT_CONFIGURED, detail, None, 0)
    base = provider.resolve_base_url(env)
    if base is None:
        missing = ", ".join(provider.url_variables)
        return result(KeyVerdict.NOT_CONFIGURED, f"{missing} is not set", None, 0)

    sender = _Budgeted(provider, pool, gate, request_s)
    with_key = request_headers(provider, key)
    if provider.id not in open_model_lists:
        listed = await sender.send("GET", f"{base}/models", with_key)
        verdict = _verdict(listed)
        if verdict is not None:
            return result(verdict[0], verdict[1] + " (GET /models)", listed.status, sender.sent)
        if listed.status == 200:
            keyless = await sender.send("GET", f"{base}/models", request_headers(provider, None))
            if keyless.status in (401, 403):
                return result(KeyVerdict.OK, "key accepted (GET /models)", 200, sender.sent)
            unsettled = _verdict(keyless)
            if unsettled is not None:
                where = " (GET /models without the key, to confirm the list checks keys)"
                return result(unsettled[0], unsettled[1] + where, keyless.status, sender.sent)
            if keyless.status != 200:
                return result(
                    KeyVerdict.UNEXPECTED,
                    f"HTTP {keyless.status} (GET /models without the key)",
                    keyless.status,
                    sender.sent,
                )
        elif listed.status not in (404, 405):
            return result(
                KeyVerdict.UNEXPECTED,
                f"HTTP {listed.status} (GET /models)",
                listed.status,
                sender.sent,
            )
    return await _complete(provider, sender, base, with_key, result)


async def _complete(
    provider: Provider,
    sender: _Budgeted,
    base: str,
    headers: dict[str, str],
    result: _ResultFactory,
) -> KeyTestResult:
    model = provider.models[0] if provider.models else None
    if model is None:
        return result(
            KeyVerdict.UNEXPECTED,
            "GET /models is open and the catalog lists no model to try",
            None,
            sender.sent,
        )
    body: dict[str, object] = {
        "model": model.id,
        "messages": [{"role": "user", "content": "Reply with one word."}],
        "max_tokens": 1,
        "stream": False,
    }
    answer = await sender.send("POST", f"{base}/chat/completions", headers, model=model, body=body)
    where = f"completion with {model.id}"
    verdict = _verdict(answer)
    if verdict is not None:
        return result(verdict[0], f"{verdict[1]} ({where})", answer.status, sender.sent)
    status = answer.status
    if status == 200:
        return result(KeyVerdict.OK, f"key accepted ({where})", status, sender.sent)
    if status in (400, 404, 410, 413, 422):
        # Servers check the key before the model and the body: a refusal of those passed the key.
        return result(
            KeyVerdict.OK,
            f"key accepted; the model answered HTTP {status} ({where})",
            status,
            sender.sent,
        )
    return result(KeyVerdict.UNEXPECTED, f"HTTP {status} ({where})", status, sender.sent)


def _verdict(answer: _Answer) -> tuple[KeyVerdict, str] | None:
    """The verdict an answer settles by itself (None: 200, 404 and the like need context)."""
    if answer.error == "budget":
        return KeyVerdict.RATE_LIMITED, "freemodels' own request budget is used up; try later"
    if answer.status is None:
        return KeyVerdict.UNREACHABLE, answer.error or "no answer"
    if answer.status in (401, 403):
        return KeyVerdict.REJECTED, f"HTTP {answer.status}"
    if answer.status == 429:
        wait = f", retry after {answer.retry_after:.0f} s" if answer.retry_after else ""
        return KeyVerdict.RATE_LIMITED, f"HTTP 429{wait}"
    if answer.status >= 500 or 300 <= answer.status < 400:
        return KeyVerdict.UNEXPECTED, f"HTTP {answer.status}"
    return None


async def verify_keys(
    keyed: Sequence[tuple[Provider, ResolvedKey | None]],
    *,
    pool: ClientPool,
    gate: RequestGate,
    env: Mapping[str, str] | None = None,
    request_s: float = REQUEST_TIMEOUT_S,
    open_model_lists: frozenset[str] = KNOWN_OPEN_MODEL_LISTS,
) -> list[KeyTestResult]:
    """Test every (provider, key) pair concurrently; results in the given order."""
    return list(
        await asyncio.gather(
            *(
                verify_key(
                    p,
                    k,
                    pool=pool,
                    gate=gate,
                    env=env,
                    request_s=request_s,
                    open_model_lists=open_model_lists,
                )
                for p, k in keyed
            )
        )
    )
