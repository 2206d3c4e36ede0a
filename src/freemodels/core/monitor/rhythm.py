"""When is a model fast: pure functions over hourly buckets (no clock, no I/O, no asyncio).

A `Bucket` is one model's samples over one span (an hour from the rollups, or a few minutes of
raw samples). Everything here is a function of buckets and `now`:

- series for plots (the buckets themselves; hours with no data are absent, never zero);
- availability per hour for a strip of 30 days (None where nothing was measured);
- TTFT p50 and availability per hour of the day, and an hour × weekday heatmap, in local time;
- the trend: this week's p50 against last week's at the same hours of the week;
- "usually fastest at": the hours of the day with the lowest p50.

Percentiles cannot be merged exactly from hourly percentiles: a p50 over many hours is the median
of the hours' p50s weighted by their ok samples, which is what a user means by "usually".
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from freemodels.core.monitor.stats import ModelInfo, percentile, stability, wilson_lower
from freemodels.core.records import HOUR as HOUR  # re-exported: buckets are an hour long
from freemodels.core.records import Health, ModelRef, ModelStats, Outcome, ProbeResult

WEEK = 7 * 86400.0
TREND_MIN_HOURS = 6
"""Matched hours (this week and the week before) a trend needs before it says anything."""
TREND_STEADY = 0.05
"""Within ±5 % the trend is steady: hourly medians move that much by chance."""
FASTEST_MIN_HOURS = 6
"""Hours of the day with data before "usually fastest at" is said."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """One model's samples over one span: counts and TTFT percentiles of the ok ones."""

    provider: str
    model: str
    start: float  # wall clock, the span's start
    span_s: float
    samples: int
    ok: int
    server_failures: int
    rate_limited: int
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None

    @property
    def ref(self) -> ModelRef:
        """The model these samples are of."""
        return ModelRef(self.provider, self.model)

    @property
    def availability(self) -> float | None:
        """ok / (ok + server-side failures); None when neither happened."""
        counted = self.ok + self.server_failures
        return self.ok / counted if counted else None

    @property
    def outage(self) -> bool:
        """Every counted sample failed on the server side."""
        return self.server_failures > 0 and self.ok == 0


def buckets_of(samples: Iterable[ProbeResult], span_s: float = HOUR) -> list[Bucket]:
    """Raw samples grouped per model and span (spans aligned to the epoch), oldest first."""
    groups: dict[tuple[str, str, int], list[ProbeResult]] = {}
    for sample in samples:
        index = math.floor(sample.started_at / span_s)
        groups.setdefault((sample.provider, sample.model, index), []).append(sample)
    made = [
        _bucket(provider, model, index * span_s, span_s, items)
        for (provider, model, index), items in groups.items()
    ]
    return sorted(made, key=lambda b: (b.start, b.provider, b.model))


def _bucket(
    provider: str, model: str, start: float, span_s: float, items: Sequence[ProbeResult]
) -> Bucket:
    ttfts = sorted(s.ttft_ms for s in items if s.outcome is Outcome.OK and s.ttft_ms is not None)
    return Bucket(
        provider=provider,
        model=model,
        start=start,
        span_s=span_s,
        samples=len(items),
        ok=sum(1 for s in items if s.outcome is Outcome.OK),
        server_failures=sum(1 for s in items if s.outcome.server_side),
        rate_limited=sum(1 for s in items if s.outcome is Outcome.RATE_LIMITED),
        ttft_p50_ms=percentile(ttfts, 50) if ttfts else None,
        ttft_p95_ms=percentile(ttfts, 95) if ttfts else None,
    )


def weighted_median(pairs: Iterable[tuple[float, int]]) -> float | None:
    """The lower weighted median: the smallest value whose cumulative weight reaches half the
    total (None without any weight). The store computes the same in SQL (`rollups.pooled`)."""
    ordered = sorted((value, weight) for value, weight in pairs if weight > 0)
    total = sum(weight for _, weight in ordered)
    if total == 0:
        return None
    seen = 0
    for value, weight in ordered:
        seen += weight
        if 2 * seen >= total:
            return value
    return ordered[-1][0]


def pooled_p50(buckets: Iterable[Bucket]) -> float | None:
    """The p50 of many buckets: their p50s' median weighted by ok samples."""
    return weighted_median((b.ttft_p50_ms, b.ok) for b in buckets if b.ttft_p50_ms is not None)


def pooled_availability(buckets: Iterable[Bucket]) -> float | None:
    """ok / (ok + server-side failures) over many buckets; None when neither happened."""
    ok = failures = 0
    for b in buckets:
        ok += b.ok
        failures += b.server_failures
    return ok / (ok + failures) if ok + failures else None


def window(buckets: Iterable[Bucket], since: float, until: float) -> list[Bucket]:
    """The buckets that start in [since, until), oldest first (a plot's series)."""
    return sorted((b for b in buckets if since <= b.start < until), key=lambda b: b.start)


def availability_strip(buckets: Iterable[Bucket], now: float, days: int = 30) -> list[float | None]:
    """Availability of each hour of the last `days` days, oldest first; None with no data.

    The last slot is the hour `now` is in. Buckets of several models in one hour pool together.
    """
    first = math.floor(now / HOUR) - days * 24 + 1
    counts: dict[int, list[int]] = {}
    for b in buckets:
        index = math.floor(b.start / HOUR) - first
        if 0 <= index < days * 24:
            slot = counts.setdefault(index, [0, 0])
            slot[0] += b.ok
            slot[1] += b.ok + b.server_failures
    return [
        (counts[i][0] / counts[i][1]) if i in counts and counts[i][1] else None
        for i in range(days * 24)
    ]


class LocalClock:
    """Wall-clock instants to local (weekday, hour), cached per hour: a month of rollups for
    250 models has 180,000 buckets but only 720 distinct hours."""

    def __init__(self, tz: dt.tzinfo | None = None) -> None:
        self.tz = tz
        self._cache: dict[float, tuple[int, int]] = {}

    def slot(self, at: float) -> tuple[int, int]:
        """(weekday 0 = Monday, hour 0..23) of `at` in local time."""
        found = self._cache.get(at)
        if found is None:
            local = dt.datetime.fromtimestamp(at, self.tz)
            found = self._cache[at] = (local.weekday(), local.hour)
        return found


@dataclass(frozen=True, slots=True)
class HourOfDay:
    """One hour of the day over many days: pooled p50 and availability."""

    hour: int
    ttft_p50_ms: float | None
    availability: float | None
    samples: int
    ok: int


def by_hour_of_day(buckets: Iterable[Bucket], clock: LocalClock) -> dict[int, HourOfDay]:
    """Per local hour of the day (only hours with samples): pooled TTFT p50 and availability."""
    groups: dict[int, list[Bucket]] = {}
    for b in buckets:
        groups.setdefault(clock.slot(b.start)[1], []).append(b)
    return {
        hour: HourOfDay(
            hour,
            pooled_p50(items),
            pooled_availability(items),
            sum(b.samples for b in items),
            sum(b.ok for b in items),
        )
        for hour, items in sorted(groups.items())
    }


def heatmap(buckets: Iterable[Bucket], clock: LocalClock) -> dict[tuple[int, int], float]:
    """Pooled TTFT p50 per local (weekday, hour); cells without an ok sample are absent."""
    groups: dict[tuple[int, int], list[Bucket]] = {}
    for b in buckets:
        groups.setdefault(clock.slot(b.start), []).append(b)
    cells = {slot: pooled_p50(items) for slot, items in groups.items()}
    return {slot: value for slot, value in cells.items() if value is not None}


def fastest_hours(hours: dict[int, HourOfDay], count: int = 3) -> tuple[int, ...]:
    """The `count` hours of the day with the lowest p50, in clock order; () with too little data."""
    measured = [h for h in hours.values() if h.ttft_p50_ms is not None]
    if len(measured) < FASTEST_MIN_HOURS:
        return ()
    best = sorted(measured, key=lambda h: (h.ttft_p50_ms, h.hour))[:count]
    return tuple(sorted(h.hour for h in best))


def hours_label(hours: Sequence[int]) -> str:
    """`06–08h, 14h`: hours of the day, runs of consecutive hours joined."""
    runs: list[list[int]] = []
    for hour in sorted(hours):
        if runs and hour == runs[-1][-1] + 1:
            runs[-1].append(hour)
        else:
            runs.append([hour])
    return ", ".join(
        f"{run[0]:02d}h" if len(run) == 1 else f"{run[0]:02d}–{run[-1]:02d}h" for run in runs
    )


@dataclass(frozen=True, slots=True)
class Trend:
    """This week's p50 against last week's at the same hours of the week."""

    this_week_ms: float
    last_week_ms: float
    hours: int  # matched hours behind the comparison

    @property
    def change(self) -> float:
        """Relative change: +0.2 is 20 % slower than last week."""
        return self.this_week_ms / self.last_week_ms - 1 if self.last_week_ms > 0 else 0.0

    @property
    def arrow(self) -> str:
        """▲ slower, ▼ faster, = steady (within ±5 %)."""
        if self.change > TREND_STEADY:
            return "▲"
        if self.change < -TREND_STEADY:
            return "▼"
        return "="

    @property
    def label(self) -> str:
        """`▲ +23 %` (slower than last week), `▼ -10 %`, `= +2 %`."""
        return f"{self.arrow} {self.change * 100:+.0f} %"


def trend(buckets: Iterable[Bucket], now: float) -> Trend | None:
    """Compare the last 7 days with the 7 before, hour of the week by hour of the week.

    Only hours measured in both weeks count, so a provider probed mostly at night last week and
    by day this week is not called slower for it. None with under `TREND_MIN_HOURS` such hours.
    """
    this: dict[int, list[Bucket]] = {}
    last: dict[int, list[Bucket]] = {}
    top = math.floor(now / HOUR)
    for b in buckets:
        if b.ttft_p50_ms is None:
            continue
        age = top - math.floor(b.start / HOUR)
        if 0 <= age < 168:
            this.setdefault(age, []).append(b)
        elif 168 <= age < 336:
            last.setdefault(age - 168, []).append(b)
    matched = sorted(set(this) & set(last))
    if len(matched) < TREND_MIN_HOURS:
        return None
    now_p50 = pooled_p50(b for age in matched for b in this[age])
    then_p50 = pooled_p50(b for age in matched for b in last[age])
    if now_p50 is None or then_p50 is None:
        return None
    return Trend(now_p50, then_p50, len(matched))


def stats_of_buckets(info: ModelInfo, buckets: Sequence[Bucket]) -> ModelStats:
    """A ModelStats over many buckets (e.g. one hour of the day over two weeks), so `rank()`
    applies the live ranking's rules: usable by the Wilson bound, proven by 3 oks, then p50.

    Stability is computed over the buckets' p50s: how much the hour varies from day to day.
    """
    ok = sum(b.ok for b in buckets)
    failures = sum(b.server_failures for b in buckets)
    samples = sum(b.samples for b in buckets)
    counted = ok + failures
    availability = ok / counted if counted >= 3 else None
    low = wilson_lower(ok, counted) if counted else None
    # No "ok in the last 5 minutes" for a past hour: the bound alone decides, and with fewer
    # than 3 counted samples an unbroken record of oks does (as a lone latest ok does live).
    usable = (low is not None and low >= 0.5) if counted >= 3 else (ok > 0 and failures == 0)
    p50s = sorted(b.ttft_p50_ms for b in buckets if b.ttft_p50_ms is not None)
    p95 = weighted_median((b.ttft_p95_ms, b.ok) for b in buckets if b.ttft_p95_ms is not None)
    p50 = pooled_p50(buckets)
    rate_limited = sum(b.rate_limited for b in buckets)
    return ModelStats(
        provider=info.provider,
        model=info.model,
        name=info.name,
        outcome=Outcome.OK if usable else None,
        http_status=None,
        samples=samples,
        ok=ok,
        availability=None if availability is None else round(availability, 4),
        ttft_ms=None,
        ttft_p50_ms=None if p50 is None else round(p50, 1),
        ttft_p90_ms=None,
        ttft_p95_ms=None if p95 is None else round(p95, 1),
        total_ms=None,
        jitter_ms=None,
        stability=stability(p50s, availability, ok, counted),
        error=None,
        usable=usable,
        health=Health.UNKNOWN,
        availability_low=None if low is None else round(low, 4),
        rate_limited_ratio=round(rate_limited / samples, 4) if samples else None,
    )
