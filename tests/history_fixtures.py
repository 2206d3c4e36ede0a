"""Deterministic generated history: models with a daily rhythm, a slower week, a nightly outage."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from freemodels.core.records import Outcome, ProbeResult

TZ = dt.timezone(dt.timedelta(hours=2))
# Monday 2027-01-18 12:00 local (+02:00): a fixed "now" on an hour boundary.
NOW = dt.datetime(2027, 1, 18, 12, 0, tzinfo=TZ).timestamp()
FAST_HOURS = (6, 7, 8)


def ttft_at(local_hour: int, base: float) -> float:
    """A rhythm: fastest 06-08 local, slowest mid-afternoon."""
    if local_hour in FAST_HOURS:
        return base * 0.5
    if 14 <= local_hour <= 16:
        return base * 2.0
    return base


def generate(
    *,
    now: float = NOW,
    days: int = 14,
    models: tuple[tuple[str, str, float], ...] = (
        ("fastco", "quick", 200.0),
        ("slowco", "big", 900.0),
    ),
    per_hour: int = 4,
    slower_this_week: float = 1.0,
    outage_hour: int | None = 3,
    seed: int = 7,
) -> Iterator[ProbeResult]:
    """`per_hour` samples per model per hour for `days` days before `now`, oldest first.

    The first model has an outage at `outage_hour` local every night (server errors); this week
    (the last 7 days) every TTFT is multiplied by `slower_this_week`.
    """
    rng = random.Random(seed)
    start = now - days * 86400
    step = 3600 / per_hour
    at = start
    while at < now:
        local = dt.datetime.fromtimestamp(at, TZ)
        factor = slower_this_week if now - at < 7 * 86400 else 1.0
        for index, (provider, model, base) in enumerate(models):
            if index == 0 and outage_hour is not None and local.hour == outage_hour:
                yield ProbeResult(provider, model, Outcome.SERVER_ERROR, at, http_status=503)
                continue
            if rng.random() < 0.05:
                yield ProbeResult(provider, model, Outcome.RATE_LIMITED, at, http_status=429)
                continue
            ttft = ttft_at(local.hour, base) * factor * rng.uniform(0.95, 1.05)
            yield ProbeResult(
                provider, model, Outcome.OK, at, http_status=200, ttft_ms=ttft, total_ms=ttft + 5
            )
        at += step
