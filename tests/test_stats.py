"""Statistics: unit tests and hypothesis properties (pure functions, no clock, no I/O)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freemodels.core.monitor.stats import (
    ModelInfo,
    health,
    model_stats,
    percentile,
    rank,
    rank_key,
    stability,
    wilson_lower,
)
from freemodels.core.records import Health, Outcome, ProbeResult

NOW = 1_000_000.0
INFO = ModelInfo("p", "m", "M")
values = st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=1, max_size=60)
quantiles = st.floats(min_value=0, max_value=100)


def sample(
    outcome: Outcome = Outcome.OK, ttft: float | None = 100.0, at: float = NOW - 1, model: str = "m"
) -> ProbeResult:
    ok = outcome is Outcome.OK
    return ProbeResult("p", model, outcome, at, ttft_ms=ttft if ok else None, total_ms=ttft)


def test_percentile_interpolates_linearly() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert percentile([0.0, 10.0], 95) == 9.5


@given(values, quantiles)
def test_percentile_lies_within_min_and_max(data: list[float], q: float) -> None:
    ordered = sorted(data)
    assert ordered[0] <= percentile(ordered, q) <= ordered[-1]


@given(values, quantiles, quantiles)
def test_percentile_is_monotone_in_q(data: list[float], a: float, b: float) -> None:
    ordered = sorted(data)
    low, high = sorted((a, b))
    assert percentile(ordered, low) <= percentile(ordered, high) + 1e-9


@given(values, quantiles, st.floats(min_value=0, max_value=1e4))
def test_percentile_is_monotone_in_the_data(data: list[float], q: float, bump: float) -> None:
    """Raising any value never lowers a percentile."""
    ordered = sorted(data)
    raised = sorted([ordered[0] + bump, *ordered[1:]])
    assert percentile(raised, q) >= percentile(ordered, q) - 1e-9


@given(st.lists(st.sampled_from(list(Outcome)), min_size=1, max_size=40), st.integers(0, 20))
def test_availability_ignores_rate_limits_and_key_problems(
    outcomes: list[Outcome], extra: int
) -> None:
    base = [sample(o, at=NOW - 100 + i) for i, o in enumerate(outcomes)]
    noise = [
        sample(random.Random(i).choice([Outcome.RATE_LIMITED, Outcome.NO_KEY, Outcome.AUTH_FAILED]),
               at=NOW - 200 + i)
        for i in range(extra)
    ]  # fmt: skip
    with_noise = model_stats(INFO, base + noise, NOW, 1800)
    without = model_stats(INFO, base, NOW, 1800)
    assert with_noise.availability == without.availability


def test_availability_is_null_under_three_samples_and_counts_server_failures() -> None:
    two = [sample(), sample(Outcome.SERVER_ERROR, at=NOW - 2)]
    assert model_stats(INFO, two, NOW, 1800).availability is None
    four = [*two, sample(Outcome.TIMEOUT, at=NOW - 3), sample(at=NOW - 4)]
    assert model_stats(INFO, four, NOW, 1800).availability == 0.5


@given(
    st.lists(st.tuples(st.floats(-4000, 4000), st.sampled_from(list(Outcome))), max_size=40),
    st.sampled_from([300.0, 1800.0, 86400.0]),
)
def test_window_stats_never_include_samples_outside_the_window(
    points: list[tuple[float, Outcome]], window: float
) -> None:
    samples = [sample(o, ttft=abs(t) + 1, at=NOW + t) for t, o in points]
    inside = [s for s in samples if NOW - window < s.started_at <= NOW]
    assert model_stats(INFO, samples, NOW, window) == model_stats(INFO, inside, NOW, window)
    stats = model_stats(INFO, samples, NOW, window)
    assert stats.samples == len(inside)


def test_one_lucky_sample_never_outranks_a_proven_model() -> None:
    lucky = model_stats(
        ModelInfo("a", "lucky", "Lucky"), [sample(ttft=10.0, model="lucky")], NOW, 1800
    )
    proven_samples = [sample(ttft=300.0 + i, at=NOW - 10 - i, model="proven") for i in range(50)]
    proven = model_stats(ModelInfo("b", "proven", "Proven"), proven_samples, NOW, 1800)
    assert lucky.usable and proven.usable
    assert rank([lucky, proven])[0] is proven


def test_wilson_lower_bound() -> None:
    assert wilson_lower(0, 0) == 0.0
    assert 0.2 < wilson_lower(1, 1) < 0.22
    assert wilson_lower(50, 50) > 0.92
    assert wilson_lower(5, 10) < 0.5 < wilson_lower(45, 50)


def test_usable_by_latest_or_by_the_wilson_gate() -> None:
    good_history = [sample(at=NOW - 10 - i) for i in range(20)]
    one_timeout = [*good_history, sample(Outcome.TIMEOUT, at=NOW - 1)]
    assert model_stats(INFO, one_timeout, NOW, 1800).usable, "a proven model survives one timeout"
    mostly_bad = [sample(Outcome.SERVER_ERROR, at=NOW - 10 - i) for i in range(10)]
    assert not model_stats(INFO, [*mostly_bad, sample(Outcome.TIMEOUT)], NOW, 1800).usable
    stale_ok = [sample(at=NOW - 1000 - i) for i in range(20)] + [sample(Outcome.TIMEOUT)]
    assert not model_stats(INFO, stale_ok, NOW, 1800).usable, "an ok in the last 5 min is needed"


def test_health_hysteresis() -> None:
    ok, bad, rl = Outcome.OK, Outcome.SERVER_ERROR, Outcome.RATE_LIMITED
    assert health([]) is Health.UNKNOWN
    assert health([ok]) is Health.UNKNOWN
    assert health([ok, ok]) is Health.UP
    assert health([ok, ok, bad, bad]) is Health.UP
    assert health([ok, ok, bad, bad, bad]) is Health.DOWN
    assert health([bad, bad, bad, ok]) is Health.DOWN
    assert health([bad, bad, bad, ok, ok]) is Health.UP
    assert health([ok, ok, rl, rl, rl, rl]) is Health.UP, "429s neither fail nor pass health"


@given(st.lists(st.floats(1, 1e4), min_size=1, max_size=50), st.floats(0, 1))
def test_stability_is_a_score_from_0_to_100(ttfts: list[float], availability: float) -> None:
    score = stability(ttfts, availability, len(ttfts), len(ttfts))
    assert score is not None and 0 <= score <= 100


def test_stability_rewards_steady_models() -> None:
    steady = stability([200.0 + (i % 3) for i in range(40)], 1.0, 40, 40)
    spiky = stability([200.0 if i % 4 else 2000.0 for i in range(40)], 1.0, 40, 40)
    assert steady is not None and spiky is not None
    assert steady > 90 > spiky
    assert stability([], None, 0, 0) is None


stats_rows = st.builds(
    lambda outcomes, ttft, provider, name: model_stats(
        ModelInfo(provider, name, name),
        [sample(o, ttft=ttft + i, at=NOW - 1 - i, model=name) for i, o in enumerate(outcomes)],
        NOW,
        1800,
    ),
    st.lists(st.sampled_from(list(Outcome)), max_size=8),
    st.floats(1, 5000),
    st.sampled_from(["a", "b"]),
    st.sampled_from(["x", "y", "z"]),
)


@settings(max_examples=60)
@given(st.lists(stats_rows, max_size=8, unique_by=lambda s: (s.provider, s.model)))
def test_ranking_is_a_total_order(rows: list) -> None:
    ranked = rank(rows)
    for perm in itertools.islice(itertools.permutations(rows), 6):
        assert rank(list(perm)) == ranked
    keys = [rank_key(r) for r in ranked]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys), "no two distinct models tie"
    seen_unusable = False
    for row in ranked:
        seen_unusable = seen_unusable or not row.usable
        assert not (seen_unusable and row.usable), "usable models rank above the rest"


def test_a_flaky_model_never_outranks_a_fully_available_one() -> None:
    """3 ok of 9 (Wilson bound ~0.12) with its last answer ok still ranks below 5 of 5."""
    flaky_samples = [
        sample(Outcome.OK if i % 3 == 0 else Outcome.SERVER_ERROR, ttft=100.0, at=NOW - 1 - i)
        for i in range(9)
    ]
    third = [
        sample(Outcome.OK if i == 0 else Outcome.TIMEOUT, ttft=50.0, at=NOW - 1 - i)
        for i in range(3)
    ]
    steady = [sample(ttft=900.0, at=NOW - 1 - i) for i in range(5)]
    rows = [
        model_stats(ModelInfo("a", "flaky", "Flaky"), flaky_samples, NOW, 1800),
        model_stats(ModelInfo("b", "third", "Third"), third, NOW, 1800),
        model_stats(ModelInfo("c", "steady", "Steady"), steady, NOW, 1800),
    ]
    assert rows[0].outcome is Outcome.OK and rows[0].availability_low is not None
    assert rows[0].availability_low < 0.2 and rows[1].availability == pytest.approx(1 / 3, abs=1e-3)
    assert rank(rows)[0].model == "steady"


def test_a_probe_the_budget_held_back_ranks_after_measured_failures() -> None:
    """`rate_limited` with no status (nothing sent) is `skipped`, after a measured 404."""
    held = ProbeResult(
        "a", "held", Outcome.RATE_LIMITED, NOW - 1, error="local budget", retry_after_s=30.0
    )
    real_429 = ProbeResult("b", "limited", Outcome.RATE_LIMITED, NOW - 1, http_status=429)
    gone = ProbeResult("c", "gone", Outcome.NOT_FOUND, NOW - 1, http_status=404)
    rows = [
        model_stats(ModelInfo(s.provider, s.model, s.model), [s], NOW, 1800)
        for s in (held, real_429, gone)
    ]
    assert rows[0].skipped and rows[0].label == "skipped" and rows[0].retry_at == NOW + 29.0
    assert not rows[1].skipped and rows[1].label == "rate limited"
    assert [r.model for r in rank(rows)] == ["limited", "gone", "held"]


def test_one_label_per_outcome() -> None:
    """Every outcome has one human wording; network_error reads `unreachable` everywhere."""
    assert Outcome.NETWORK_ERROR.label == "unreachable"
    assert len({o.label for o in Outcome}) == len(Outcome)
    assert all(o.label == o.label.lower() and "_" not in o.label for o in Outcome)
