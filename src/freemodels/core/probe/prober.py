"""Sending probes: the budget gate, a per-provider concurrency cap, the probe, the pause on 429.

`Prober` is what both the one-shot `check` sweep and the continuous monitor send through, so every
request is gated and counted the same way.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from freemodels.core.keys.lookup import KeyRing, ResolvedKey
from freemodels.core.monitor.budget import RequestGate
from freemodels.core.probe.clients import MAX_IN_FLIGHT_PER_PROVIDER, ClientPool
from freemodels.core.probe.failure import refused_fields
from freemodels.core.probe.probe import ProbeSpec, probe
from freemodels.core.records import Model, ModelRef, Outcome, ProbeResult, Provider

log = logging.getLogger("freemodels.probe")

DEFAULT_BACKOFF_S = 10.0
MAX_BACKOFF_S = 600.0
KEYS_WAIT_S = 0.25
"""How long a sweep's first requests wait for the key stores' lookups (see `sweep`)."""


class Prober:
    """Sends gated probes; one instance per event loop."""

    def __init__(
        self,
        pool: ClientPool,
        keys: KeyRing,
        gate: RequestGate | None = None,
        *,
        max_in_flight: int = MAX_IN_FLIGHT_PER_PROVIDER,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.keys = keys
        self.gate = gate
        self._max_in_flight = max_in_flight
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._keys: dict[str, asyncio.Future[ResolvedKey | None]] = {}
        # Request fields each model turned out to refuse, learnt from its 400s (see _send).
        self._refused: dict[ModelRef, frozenset[str]] = {}
        self._backoff: dict[str, float] = {}
        self._wall = wall

    async def key(self, provider: Provider) -> ResolvedKey | None:
        """The provider's key, resolved once per Prober, in a thread: a key store can take a
        quarter of a second to load (or seconds to time out), and the event loop must not wait
        on it meanwhile, or every probe in flight would read late."""
        return await self.prefetch(provider)

    def prefetch(self, provider: Provider) -> asyncio.Future[ResolvedKey | None]:
        """Start resolving the provider's key (once); the future of the answer.

        A key in the environment is the answer at once; only the key stores go to a thread.
        """
        future = self._keys.get(provider.id)
        if future is None:
            if self.keys.env_variable(provider) is not None:
                future = asyncio.get_running_loop().create_future()
                future.set_result(self.keys.resolve(provider))
            else:
                future = asyncio.ensure_future(asyncio.to_thread(self.keys.resolve, provider))
            self._keys[provider.id] = future
        return future

    def warm(self, providers: Iterable[Provider]) -> list[asyncio.Future[ResolvedKey | None]]:
        """Start every key lookup in threads, then make the providers' connection pools (which
        imports the HTTP library) while they run, before any probe's timer starts; the
        lookups."""
        providers = list(providers)
        lookups = [self.prefetch(provider) for provider in providers]
        for provider in providers:
            self.pool.wire(provider.base_url, provider.id)
        return lookups

    async def run(
        self,
        provider: Provider,
        model: Model,
        spec: ProbeSpec,
        *,
        max_wait_s: float = math.inf,
    ) -> ProbeResult:
        """Probe one model once, within its budget; a budget with no room is `rate_limited`."""
        result = await self.try_run(provider, model, spec, max_wait_s=max_wait_s)
        if result is None:
            # When the budget has room again, so the screens can say when it may run.
            wait = self.gate.ledger.wait(provider, model) if self.gate is not None else None
            return ProbeResult(
                provider.id,
                model.id,
                Outcome.RATE_LIMITED,
                self._wall(),
                error="local budget exhausted (rpm/rpd); no request sent",
                retry_after_s=wait,
                kind=spec.kind,
            )
        return result

    async def try_run(
        self,
        provider: Provider,
        model: Model,
        spec: ProbeSpec,
        *,
        max_wait_s: float = math.inf,
        on_sent: Callable[[], None] | None = None,
    ) -> ProbeResult | None:
        """Probe one model once; None when its budget has no room within `max_wait_s`."""
        env: Mapping[str, str] = self.keys.env
        key = await self.key(provider)
        client = self.pool.wire(provider.base_url, provider.id)
        semaphore = self._semaphores.setdefault(provider.id, asyncio.Semaphore(self._max_in_flight))
        ref = ModelRef(provider.id, model.id)
        result: ProbeResult | None = None
        async with semaphore:
            while True:
                if self.gate is not None and not self._missing_url_variable(provider):
                    admitted = await self.gate.acquire(
                        provider, model, spec.kind, max_wait_s=max_wait_s
                    )
                    if not admitted:
                        # No room for a retry: the answer already had is the result.
                        return result
                refused = self._refused.get(ref, frozenset())
                result = await probe(
                    client, provider, model, key, replace(spec, refused=refused), env=env,
                    wall=self._wall, on_sent=on_sent,
                )  # fmt: skip
                learnt = _newly_refused(result, refused)
                if not learnt:
                    break
                # A reasoning model that refuses `max_tokens` or `temperature: 0` says so: ask
                # again without them (a second request, counted like any other).
                self._refused[ref] = refused | learnt
        self._after(provider, result)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s/%s %s: %s status=%s ttft_ms=%s total_ms=%s reused=%s error=%s",
                provider.id, model.id, spec.kind.value, result.outcome.value, result.http_status,
                result.ttft_ms, result.total_ms, result.reused, result.error,
            )  # fmt: skip
        return result

    def _missing_url_variable(self, provider: Provider) -> bool:
        """Whether a `{VAR}` of the base URL is unset (then the probe sends nothing)."""
        return bool(provider.url_variables) and provider.resolve_base_url(self.keys.env) is None

    def _after(self, provider: Provider, result: ProbeResult) -> None:
        if result.outcome is Outcome.RATE_LIMITED and result.http_status == 429:
            # Honour Retry-After; without one, back off exponentially per budget.
            backoff = min(
                MAX_BACKOFF_S, self._backoff.get(provider.budget_id, DEFAULT_BACKOFF_S / 2) * 2
            )
            self._backoff[provider.budget_id] = backoff
            delay = result.retry_after_s if result.retry_after_s is not None else backoff
            if self.gate is not None:
                self.gate.pause(provider.budget_id, self._wall() + delay, "429")
        elif result.outcome is Outcome.OK:
            self._backoff.pop(provider.budget_id, None)


async def sweep(
    prober: Prober,
    pairs: Sequence[tuple[Provider, Model]],
    spec: ProbeSpec,
    *,
    rounds: int = 1,
    interval_s: float = 1.0,
    max_wait_s: float = 5.0,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Probe every pair `rounds` times, rounds starting `interval_s` apart."""
    results: list[ProbeResult] = []

    async def one(provider: Provider, model: Model) -> None:
        result = await prober.run(provider, model, spec, max_wait_s=max_wait_s)
        results.append(result)
        if on_result is not None:
            on_result(result)

    lookups = prober.warm({provider.id: provider for provider, _ in pairs}.values())
    pending = [lookup for lookup in lookups if not lookup.done()]
    if pending:
        # A lookup in a thread needs the GIL at each step, and a loop busy opening hundreds of
        # connections holds it: one looked up beside the burst came back ~50 ms later than one
        # looked up before it, and its provider's probes left that much after the others, in a
        # second ledger transaction. Waiting here, the loop idle, takes the ~1 ms a store
        # needs; a slow store (a keyring waking up) holds the others back at most KEYS_WAIT_S.
        await asyncio.wait(pending, timeout=KEYS_WAIT_S)
    loop = asyncio.get_running_loop()
    for index in range(rounds):
        started = loop.time()
        async with asyncio.TaskGroup() as group:
            for provider, model in pairs:
                group.create_task(one(provider, model))
        if index + 1 < rounds:
            await asyncio.sleep(max(0.0, interval_s - (loop.time() - started)))
    return results


def _newly_refused(result: ProbeResult, known: frozenset[str]) -> frozenset[str]:
    if result.outcome is not Outcome.REJECTED or result.http_status != 400:
        return frozenset()
    return refused_fields(result.error) - known


def pairs_of(providers: Iterable[Provider]) -> list[tuple[Provider, Model]]:
    """Every (provider, model) pair of these providers."""
    return [(provider, model) for provider in providers for model in provider.models]
