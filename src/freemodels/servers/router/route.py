"""The failover loop: try the candidates in order until one answers, within the shared budget.

An attempt moves on to the next candidate on 429, 5xx, timeout, network error, bad_response,
not_found and 401/403 (then that provider's other models are skipped too), at most
`max_attempts` requests. A 400/413/422 is the request's fault: it is returned unchanged and the
model is not blamed (no sample), except a context-length refusal, which moves on to a model with
a larger context. A pinned model gets one attempt and its error is returned.

Each request is recorded in the shared ledger as kind `routed` before it is sent; a budget with
no room is skipped without a request. Each attempt that reached a provider becomes a `routed`
sample (outcome and TTFT) for the monitor, and a 429 pauses the budget for every process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from freemodels.core.catalog.parse import Catalog
from freemodels.core.monitor.budget import BudgetLedger, RequestGate
from freemodels.core.probe.prober import DEFAULT_BACKOFF_S
from freemodels.core.records import ModelRef, Outcome, ProbeKind, ProbeResult, Snapshot
from freemodels.servers.router import pick
from freemodels.servers.router.metrics import RouterMetrics
from freemodels.servers.router.output import fit_output
from freemodels.servers.router.pick import Candidate, Skip
from freemodels.servers.router.stream import Opened
from freemodels.servers.router.upstream import Failure, Upstream

MAX_ATTEMPTS = 4
CLIENT_FAULTS = frozenset({400, 413, 422})
_CONTEXT_LENGTH = re.compile(
    r"context.{0,20}(length|window|size|limit)|too many tokens|maximum.{0,30}tokens|too long",
    re.IGNORECASE,
)


@dataclass(slots=True)
class Routed:
    """A committed answer: the candidate that gave it, its stream, and how many attempts it took."""

    candidate: Candidate
    opened: Opened
    attempts: int
    started_at: float
    tried: list[Skip] = field(default_factory=list)
    begun: float = 0.0
    """time.perf_counter() when routing began: the client's TTFT spans every attempt."""
    rest: Iterator[Candidate] = field(default_factory=lambda: iter(()))
    """The candidates not tried yet, for a `resume` after a failure nobody saw."""
    body: dict[str, Any] = field(default_factory=dict)
    pinned: bool = False

    @property
    def ref(self) -> ModelRef:
        """The model answering."""
        return self.candidate.ref


@dataclass(frozen=True, slots=True)
class Refused:
    """An upstream error to return to the client as is (the request's fault, or a pin's)."""

    status: int
    message: str
    ref: ModelRef
    attempts: int
    body: bytes | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Unavailable:
    """No candidate answered: the 503, listing what was tried and why."""

    tried: tuple[Skip, ...]
    attempts: int
    retry_after_s: float | None = None


class Router:
    """Routes chat completions to the best model that answers (one per process)."""

    def __init__(
        self,
        catalog: Catalog,
        upstream: Upstream,
        ledger: BudgetLedger | None,
        snapshot: Callable[[], Snapshot],
        record: Callable[[ProbeResult], None],
        metrics: RouterMetrics,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        wall: Callable[[], float] = time.time,
        groups: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.groups = dict(groups or {})
        self._ranking = pick.Ranking(catalog)
        self.catalog = catalog
        self.upstream = upstream
        self.ledger = ledger
        self.snapshot = snapshot
        self.record = record
        self.metrics = metrics
        self.max_attempts = max_attempts
        self._wall = wall
        # One ledger call per loop turn for all the grants asked in it; each is still decided and
        # recorded before its request is sent (docs/architecture.md, "Rate budgets").
        self._grants = RequestGate(ledger) if ledger is not None else None

    def plan(self, alias: str, tokens: int) -> pick.Plan | None:
        """The candidates for a request (None when it pins an unknown model)."""
        return pick.plan(
            self.catalog, self.snapshot(), alias, tokens=tokens, now=self._wall(),
            groups=self.groups, ranking=self._ranking,
        )  # fmt: skip

    async def resume(self, routed: Routed, error: str) -> Routed | Refused | Unavailable | None:
        """After a committed answer broke before any of it reached the client (a client that
        did not ask for a stream): the next candidates, as if that one had failed at once.
        None for a pinned model, which has no next."""
        if routed.pinned:
            return None
        tried = [*routed.tried, Skip(routed.ref, f"bad_response: {error}")]
        plan = pick.Plan(str(routed.ref), False, routed.rest, [])
        return await self.route(
            plan, routed.body, attempts=routed.attempts, tried=tried, begun=routed.begun
        )

    async def route(
        self,
        plan: pick.Plan,
        body: dict[str, Any],
        *,
        attempts: int = 0,
        tried: list[Skip] | None = None,
        begun: float | None = None,
    ) -> Routed | Refused | Unavailable:
        result = await self._route(plan, body, attempts, tried or [], begun)
        # A resumed request was counted when it first committed.
        if not attempts:
            if isinstance(result, Routed):
                self.metrics.request_routed(result.attempts)
            else:
                self.metrics.request_failed(result.attempts)
        return result

    async def _route(
        self,
        plan: pick.Plan,
        body: dict[str, Any],
        attempts: int,
        tried: list[Skip],
        begun: float | None,
    ) -> Routed | Refused | Unavailable:
        """Send `body` (an OpenAI chat request) to the candidates in turn until one commits."""
        begun = time.perf_counter() if begun is None else begun
        failed = False  # an attempt failed for a reason other than a rate limit
        dead_providers: set[str] = set()
        min_context = 0
        rest = iter(plan.candidates)
        for candidate in rest:
            if attempts >= self.max_attempts:
                break
            provider, model = candidate.provider, candidate.model
            if provider.id in dead_providers:
                continue
            # A model of unknown context stays a candidate: it may well be larger.
            if min_context and model.context is not None and model.context <= min_context:
                tried.append(Skip(candidate.ref, f"context {model.context} too small"))
                continue
            unready = await self.upstream.unready(provider)
            if unready is not None:
                dead_providers.add(provider.id)
                tried.append(Skip(candidate.ref, unready))
                if plan.pinned:
                    return Refused(502, f"{candidate.ref}: {unready}", candidate.ref, attempts)
                continue
            wait = await self._admit(candidate)
            if wait > 0:
                skip = Skip(candidate.ref, "rate_limited: no room in its budget", wait)
                if plan.pinned:
                    return Refused(429, skip.reason, candidate.ref, attempts, retry_after_s=wait)
                tried.append(skip)
                continue
            attempts += 1
            started_at = self._wall()
            result = await self.upstream.open(provider, model, fit_output(body, model))
            if isinstance(result, Opened):
                return Routed(
                    candidate, result, attempts, started_at, tried, begun, rest, body, plan.pinned
                )
            self.metrics.attempt(candidate.ref, result.outcome.value)
            if not _client_fault(result):
                self._record_failure(candidate, result, started_at)
            if result.status in CLIENT_FAULTS:
                if not plan.pinned and _CONTEXT_LENGTH.search(result.error):
                    # The request is too long for this model: a larger one may take it.
                    min_context = max(min_context, model.context or 0)
                    tried.append(Skip(candidate.ref, result.error))
                    continue
                return _refused(candidate, result, attempts)
            if plan.pinned:
                return _refused(candidate, result, attempts)
            if result.outcome in (Outcome.AUTH_FAILED, Outcome.NO_KEY):
                dead_providers.add(provider.id)
            retry = result.retry_after_s if result.outcome is Outcome.RATE_LIMITED else None
            if result.outcome is Outcome.RATE_LIMITED and retry is None:
                retry = DEFAULT_BACKOFF_S
            failed = failed or retry is None
            tried.append(Skip(candidate.ref, f"{result.outcome}: {result.error}", retry))
        # Retry-After only when the models that could answer are all just rate-limited (models
        # that cannot serve this request at all, e.g. without a key, do not count).
        everything = [*tried, *plan.skipped]
        limited = [skip.retry_after_s for skip in everything if skip.retry_after_s is not None]
        retry_after = min(limited) if limited and not failed else None
        return Unavailable(tuple(everything), attempts, retry_after)

    async def _admit(self, candidate: Candidate) -> float:
        """Record the request in the ledger; 0 when it may go, else seconds until it may."""
        if self._grants is None:
            return 0.0
        return await self._grants.try_acquire(
            (candidate.provider, candidate.model, ProbeKind.ROUTED)
        )

    def _record_failure(self, candidate: Candidate, failure: Failure, started_at: float) -> None:
        if failure.outcome is Outcome.RATE_LIMITED and self.ledger is not None:
            delay = (
                failure.retry_after_s if failure.retry_after_s is not None else DEFAULT_BACKOFF_S
            )
            self.ledger.pause(candidate.provider.budget_id, self._wall() + delay, "429")
        self.record(
            ProbeResult(
                candidate.provider.id,
                candidate.model.id,
                failure.outcome,
                started_at,
                http_status=failure.status,
                error=failure.error,
                retry_after_s=failure.retry_after_s,
                kind=ProbeKind.ROUTED,
            )
        )

    def finish(
        self,
        routed: Routed,
        *,
        error: str | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        tool_calls: bool = False,
    ) -> None:
        """Record a committed answer once it ended (cut short by `error`, or whole); one that
        carried tool calls shows the model's tool calling works (see `toolcalls`)."""
        opened = routed.opened
        ref = routed.ref
        outcome = Outcome.BAD_RESPONSE if error is not None else Outcome.OK
        self.metrics.attempt(ref, outcome.value)
        first_token = opened.t0 + opened.ttft_ms / 1000.0
        self.metrics.ttft(max(0.0, first_token - routed.begun))
        usage = opened.usage or {}
        tokens_in = int(usage.get("prompt_tokens") or tokens_in)
        tokens_out = int(usage.get("completion_tokens") or tokens_out)
        self.metrics.tokens(ref, tokens_in, tokens_out)
        self.record(
            ProbeResult(
                ref.provider,
                ref.model,
                outcome,
                routed.started_at,
                http_status=opened.status,
                ttft_ms=opened.ttft_ms if error is None else None,
                total_ms=opened.total_ms,
                headers_ms=opened.headers_ms,
                error=error,
                kind=ProbeKind.ROUTED,
                tool_calls=True if tool_calls and error is None else None,
            )
        )


def _client_fault(failure: Failure) -> bool:
    return failure.status in CLIENT_FAULTS


def _refused(candidate: Candidate, failure: Failure, attempts: int) -> Refused:
    status = failure.status
    if status is None or status in (401, 403) or 300 <= status < 400 or status == 200:
        # The provider's key or a broken answer: the client's request and key were fine.
        status = 504 if failure.outcome is Outcome.TIMEOUT else 502
    return Refused(
        status,
        f"{candidate.ref}: {failure.error}",
        candidate.ref,
        attempts,
        body=failure.body,
        retry_after_s=failure.retry_after_s,
    )
