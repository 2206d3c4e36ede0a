"""Statistics over probe samples: pure functions of samples and `now` (no clock, no I/O).

Definitions follow llmperf / genai-perf / OpenRouter (docs/architecture.md, "Metrics"):

- percentiles: linear interpolation between closest ranks, over the window's ok samples;
- jitter: population standard deviation of those TTFTs;
- availability: ok / (ok + server-side failures); 429 and key/config outcomes are excluded;
  None while fewer than 3 samples count in its denominator;
- usable: the latest sample is ok, or the Wilson 95 % lower bound of availability is >= 0.5 with an
  ok in the last 5 minutes. The Wilson bound is what keeps one lucky sample from outranking fifty
  good ones: 1/1 has a lower bound of 0.21, 50/50 one of 0.93;
- stability (0..100): see `stability()`;
- health: DOWN after 3 consecutive server-side failures, UP after 2 consecutive oks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from freemodels.core.catalog.parse import Catalog

from freemodels.core.records import (
    Health,
    Model,
    ModelRef,
    ModelStats,
    Outcome,
    ProbeKind,
    ProbeResult,
    Provider,
)

WINDOWS: dict[str, float] = {"5m": 300.0, "30m": 1800.0, "24h": 86400.0}
RECENT_OK_S = 300.0
GONE_AFTER_S = 86400.0
PROVEN_OK_SAMPLES = 3
MIN_AVAILABILITY_SAMPLES = 3
DOWN_AFTER = 3
UP_AFTER = 2
_Z95 = 1.959963984540054

# Order of the models that are not usable: the closest to working first.
_OUTCOME_ORDER = {
    outcome: index
    for index, outcome in enumerate(
        (
            Outcome.OK,
            Outcome.RATE_LIMITED,
            Outcome.TIMEOUT,
            Outcome.SERVER_ERROR,
            Outcome.BAD_RESPONSE,
            Outcome.NETWORK_ERROR,
            Outcome.AUTH_FAILED,
            Outcome.NO_KEY,
            Outcome.REJECTED,
            Outcome.NOT_FOUND,
        )
    )
}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, interpolating linearly between ranks."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def wilson_lower(successes: int, trials: int, z: float = _Z95) -> float:
    """The Wilson score interval's lower bound for a success ratio (0 with no trials)."""
    if trials <= 0:
        return 0.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - margin) / denominator)


def stddev(values: Sequence[float]) -> float:
    """Population standard deviation (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def stability(
    ttfts: Sequence[float], availability: float | None, ok: int, counted: int
) -> int | None:
    """A 0..100 score of how predictable a model is; None without an ok sample.

    raw = 100 × avail × (0.35·tail + 0.35·steadiness + 0.30·calm), where
      tail       = p50 / p95                     (1 when the slow end is close to the middle)
      steadiness = 1 / (1 + jitter / mean TTFT)  (1 with no jitter)
      calm       = 1 − share of samples slower than 2 × p50 (spikes)
      avail      = availability, or ok / counted while availability is still None.
    The raw score is shrunk towards 50 by n / (n + 2) over n ok samples, so a single sample scores
    67 at best (100/3 + 100/3, rounded) and only a record of many steady samples approaches 100.
    """
    if not ttfts:
        return None
    ordered = sorted(ttfts)
    p50 = percentile(ordered, 50)
    p95 = percentile(ordered, 95)
    mean = sum(ordered) / len(ordered)
    tail = p50 / p95 if p95 > 0 else 1.0
    steadiness = 1.0 / (1.0 + (stddev(ordered) / mean if mean > 0 else 0.0))
    calm = 1.0 - sum(1 for v in ordered if v > 2 * p50) / len(ordered)
    avail = availability if availability is not None else (ok / counted if counted else 1.0)
    raw = 100.0 * avail * (0.35 * tail + 0.35 * steadiness + 0.30 * calm)
    n = len(ordered)
    shrunk = raw * n / (n + 2) + 50.0 * 2 / (n + 2)
    return max(0, min(100, round(shrunk)))


def health(outcomes: Iterable[Outcome]) -> Health:
    """The hysteresis state after these outcomes, oldest first.

    Only server-side failures count against health, as for availability; 429s and key problems
    neither fail nor pass it.
    """
    state = Health.UNKNOWN
    failures = oks = 0
    for outcome in outcomes:
        if outcome is Outcome.OK:
            oks += 1
            failures = 0
            if oks >= UP_AFTER or (state is Health.UP):
                state = Health.UP
        elif outcome.server_side:
            failures += 1
            oks = 0
            if failures >= DOWN_AFTER:
                state = Health.DOWN
    return state


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What stats need to know of a model besides its samples."""

    provider: str
    model: str
    name: str

    @classmethod
    def of(cls, provider: Provider, model: Model) -> ModelInfo:
        """The info of one catalog model."""
        return cls(provider.id, model.id, model.name)

    @property
    def ref(self) -> ModelRef:
        """The model these stats are about."""
        return ModelRef(self.provider, self.model)


def model_stats(
    info: ModelInfo, samples: Sequence[ProbeResult], now: float, window_s: float
) -> ModelStats:
    """Aggregate the samples of one model that fall inside (now - window_s, now]."""
    inside = sorted(
        (s for s in samples if now - window_s < s.started_at <= now), key=lambda s: s.started_at
    )
    if not inside:
        return ModelStats(
            info.provider, info.model, info.name, None, None, 0, 0, None,
            None, None, None, None, None, None, None, None, usable=False,
        )  # fmt: skip
    latest = inside[-1]
    oks = [s for s in inside if s.outcome is Outcome.OK]
    failures = sum(1 for s in inside if s.outcome.server_side)
    counted = len(oks) + failures
    availability = len(oks) / counted if counted >= MIN_AVAILABILITY_SAMPLES else None
    low = wilson_lower(len(oks), counted) if counted else None
    last_ok_at = oks[-1].started_at if oks else None
    recent_ok = last_ok_at is not None and now - last_ok_at <= RECENT_OK_S
    usable = latest.outcome is Outcome.OK or (low is not None and low >= 0.5 and recent_ok)
    ttfts = sorted(s.ttft_ms for s in oks if s.ttft_ms is not None)
    rate_limited = sum(1 for s in inside if s.outcome is Outcome.RATE_LIMITED)
    speed = [s for s in inside if s.kind is ProbeKind.SPEED and s.tokens_per_s is not None]
    # A routed answer that called a tool is a passed tool test (servers/router/toolcalls.py).
    tools = [
        s
        for s in inside
        if s.outcome is Outcome.OK
        and (s.kind is ProbeKind.TOOLS or (s.kind is ProbeKind.ROUTED and s.tool_calls))
    ]
    return ModelStats(
        provider=info.provider,
        model=info.model,
        name=info.name,
        outcome=latest.outcome,
        http_status=latest.http_status,
        samples=len(inside),
        ok=len(oks),
        availability=_round(availability, 4),
        ttft_ms=_round(latest.ttft_ms, 1),
        ttft_p50_ms=_round(percentile(ttfts, 50), 1) if ttfts else None,
        ttft_p90_ms=_round(percentile(ttfts, 90), 1) if ttfts else None,
        ttft_p95_ms=_round(percentile(ttfts, 95), 1) if ttfts else None,
        total_ms=_round(latest.total_ms, 1),
        jitter_ms=_round(stddev(ttfts), 1) if ttfts else None,
        stability=stability(ttfts, availability, len(oks), counted),
        error=latest.error,
        usable=usable,
        health=health(s.outcome for s in inside),
        availability_low=_round(low, 4),
        rate_limited_ratio=round(rate_limited / len(inside), 4),
        last_ok_at=last_ok_at,
        last_at=latest.started_at,
        tokens_per_s=speed[-1].tokens_per_s if speed else None,
        tool_calls=tools[-1].tool_calls if tools else None,
        not_found_since=_not_found_since(inside),
        retry_at=_retry_at(latest),
    )


def _retry_at(latest: ProbeResult) -> float | None:
    """When a probe the local budget held back may run (None for a sent request)."""
    held_back = latest.outcome is Outcome.RATE_LIMITED and latest.http_status is None
    if not held_back or latest.retry_after_s is None:
        return None
    return latest.started_at + latest.retry_after_s


def _not_found_since(samples: Sequence[ProbeResult]) -> float | None:
    """When the current unbroken run of not_found answers began, if the latest is one."""
    since = None
    for sample in reversed(samples):
        if sample.outcome is not Outcome.NOT_FOUND:
            break
        since = sample.started_at
    return since


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def is_gone(stats: ModelStats, now: float) -> bool:
    """Whether a model has answered only not_found for a day: likely retired ("gone?")."""
    since = stats.not_found_since
    return since is not None and now - since >= GONE_AFTER_S


def usable_tier(stats: ModelStats) -> int:
    """Among usable models: 0 proven (>= 3 oks), 1 unproven, 2 flaky.

    Flaky: availability is known, below 1, and its Wilson lower bound is under 0.5 (3 ok of 9):
    its latest answer was ok, but it must not outrank a model that answers every time.
    """
    low = stats.availability_low
    if stats.availability is not None and stats.availability < 1 and low is not None and low < 0.5:
        return 2
    return 0 if stats.ok >= PROVEN_OK_SAMPLES else 1


def rank_key(stats: ModelStats) -> tuple[object, ...]:
    """Sort key: usable first, by `usable_tier`, then lower p50, then stability.

    The rest follow by outcome (closest to working first), models the local budget held back
    (nothing was measured) after every measured one, then name. Provider and model ids end
    every key, so the order is total and stable.
    """
    if stats.usable:
        p50 = stats.ttft_p50_ms if stats.ttft_p50_ms is not None else math.inf
        return (
            0,
            usable_tier(stats),
            p50,
            -(stats.stability or 0),
            "",
            stats.provider,
            stats.model,
        )
    if stats.outcome is None:
        order = 99
    elif stats.skipped:
        order = len(_OUTCOME_ORDER) + 1
    else:
        order = _OUTCOME_ORDER.get(stats.outcome, len(_OUTCOME_ORDER))
    return (1, order, 0.0, 0, stats.name.casefold(), stats.provider, stats.model)


def rank(rows: Iterable[ModelStats]) -> list[ModelStats]:
    """Rows best first (see `rank_key`)."""
    return sorted(rows, key=rank_key)


def rank_results(catalog: Catalog, results: list[ProbeResult], now: float) -> list[ModelStats]:
    """Stats over exactly these results (no window cut), ranked."""
    by_model: dict[ModelRef, list[ProbeResult]] = {}
    for result in results:
        by_model.setdefault(result.ref, []).append(result)
    starts = [r.started_at for r in results]
    end = max([now, *starts])
    span = end - min(starts, default=end) + 1.0  # every result falls in (end - span, end]
    rows = [
        model_stats(info, by_model.get(info.ref, []), end, span)
        for info in (ModelInfo.of(provider, model) for provider, model in catalog.models())
    ]
    return rank(rows)
