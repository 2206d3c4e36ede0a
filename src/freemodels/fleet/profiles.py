"""How the demo's simulated providers behave: samplers with the habits of real free tiers.

Each profile makes a Behaviour whose sampler the fleet calls per request with the model's seeded
generator. Samplers draw every number on every request, so the sequence of answers depends on
the seed alone, never on the clock (only whether a long queue applies does).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from freemodels.fleet.server import Behaviour, Fleet

QUEUE_GRACE_S = 60.0
"""No long NIM-style queue in the fleet's first minute (so `check --demo` ends in seconds)."""
QUEUE_GRACE_REQUESTS = 3
"""Nor in a model's first requests."""

Profile = Callable[[Fleet], Behaviour]
"""Makes the configured Behaviour of one model of a fleet."""


def steady(
    median_ms: float,
    spread_ms: float,
    *,
    interval_ms: float,
    reasoning: bool = False,
    tool_call: bool = True,
) -> Profile:
    """A provider that answers ok with a narrow normal TTFT (Groq, Cerebras)."""

    def profile(fleet: Fleet) -> Behaviour:
        def sample(rng: random.Random, index: int) -> Behaviour:
            ttft = max(rng.gauss(median_ms, spread_ms), median_ms * 0.6) / 1000
            return Behaviour(
                ttft_s=ttft,
                token_interval_s=interval_ms / 1000,
                tokens=8,
                reasoning=reasoning,
                tool_call=tool_call,
            )

        return Behaviour(sampler=sample, reasoning=reasoning, tool_call=tool_call)

    return profile


def queued(median_ms: float, sigma: float, *, queue_chance: float = 0.02) -> Profile:
    """NIM-like: lognormal TTFT with a fat tail, headers late, and rare 20-90 s queues."""

    def profile(fleet: Fleet) -> Behaviour:
        def sample(rng: random.Random, index: int) -> Behaviour:
            ttft = min(rng.lognormvariate(math.log(median_ms / 1000), sigma), 8.0)
            # Draw every number on every request so the sequence does not depend on the clock.
            queue = rng.random() < queue_chance
            wait = rng.uniform(20.0, 90.0)
            if index < QUEUE_GRACE_REQUESTS:
                ttft = min(ttft, 3.0)
            elif queue and fleet.age() >= QUEUE_GRACE_S:
                ttft = wait
            return Behaviour(
                ttft_s=ttft,
                headers_delay_s=ttft * 0.9,
                token_interval_s=0.02,
                tokens=8,
                tool_call=True,
            )

        return Behaviour(sampler=sample, tool_call=True)

    return profile


def bursty_429(median_ms: float, *, burst_chance: float = 0.12) -> Profile:
    """OpenRouter-like: ok, but now and then a stretch of 429s with Retry-After."""

    def profile(fleet: Fleet) -> Behaviour:
        left = 0  # 429s still to send in the current burst
        retry = "5"

        def sample(rng: random.Random, index: int) -> Behaviour:
            nonlocal left, retry
            ttft = max(rng.gauss(median_ms, median_ms * 0.2), median_ms * 0.5) / 1000
            starts = rng.random() < burst_chance
            length = rng.randint(2, 4)
            retry_after = str(rng.randint(3, 12))
            if left == 0 and starts and index >= 1:
                left, retry = length, retry_after
            if left > 0:
                left -= 1
                return Behaviour(status=429, retry_after=retry, headers_delay_s=0.08)
            return Behaviour(ttft_s=ttft, token_interval_s=0.01, tokens=8, tool_call=True)

        return Behaviour(sampler=sample, tool_call=True)

    return profile


def flaky(median_ms: float, failure_rate: float = 0.3) -> Profile:
    """Answers ok, except ~30 % of requests fail with a 5xx."""

    def profile(fleet: Fleet) -> Behaviour:
        def sample(rng: random.Random, index: int) -> Behaviour:
            ttft = max(rng.gauss(median_ms, median_ms * 0.15), median_ms * 0.5) / 1000
            fails = rng.random() < failure_rate
            status = rng.choice((500, 502, 503))
            if fails:
                return Behaviour(status=status, headers_delay_s=ttft * 0.5)
            return Behaviour(ttft_s=ttft, token_interval_s=0.008, tokens=8, tool_call=True)

        return Behaviour(sampler=sample, tool_call=True)

    return profile


def retired(fleet: Fleet) -> Behaviour:
    """A model the provider took down: 404, and gone from GET /models."""
    return Behaviour(status=404, headers_delay_s=0.06, listed=False)
