"""Rhythm: by-hour aggregation, heatmap, trend and "usually fastest at" over generated history."""

from __future__ import annotations

import math

from freemodels.core.monitor.rhythm import (
    HOUR,
    Bucket,
    LocalClock,
    availability_strip,
    buckets_of,
    by_hour_of_day,
    fastest_hours,
    heatmap,
    hours_label,
    stats_of_buckets,
    trend,
    weighted_median,
    window,
)
from freemodels.core.monitor.stats import ModelInfo, rank
from history_fixtures import FAST_HOURS, NOW, TZ, generate


def hourly(**kwargs: object) -> list[Bucket]:
    return buckets_of(generate(**kwargs))  # type: ignore[arg-type]


def test_buckets_count_outcomes_and_percentiles_per_model_and_hour() -> None:
    buckets = hourly(days=1)
    assert len(buckets) == 2 * 24
    assert all(b.span_s == HOUR and b.start % HOUR == 0 for b in buckets)
    outage = [b for b in buckets if b.provider == "fastco" and b.outage]
    assert len(outage) == 1 and outage[0].availability == 0.0
    assert outage[0].ttft_p50_ms is None, "no ok sample: no percentile, not zero"


def test_weighted_median() -> None:
    assert weighted_median([]) is None
    assert weighted_median([(1.0, 1), (9.0, 3)]) == 9.0
    assert weighted_median([(3.0, 1), (1.0, 1)]) == 1.0, "the lower median"
    assert weighted_median([(5.0, 0)]) is None


def test_by_hour_of_day_is_in_local_time_and_finds_the_fast_hours() -> None:
    clock = LocalClock(TZ)
    quick = [b for b in hourly() if b.model == "quick"]
    hours = by_hour_of_day(quick, clock)
    assert set(hours) == set(range(24))
    assert hours[3].ttft_p50_ms is None and hours[3].availability == 0.0, "the nightly outage"
    assert hours[7].ttft_p50_ms is not None and hours[12].ttft_p50_ms is not None
    assert hours[7].ttft_p50_ms < 0.6 * hours[12].ttft_p50_ms
    assert fastest_hours(hours) == FAST_HOURS
    assert hours_label(fastest_hours(hours)) == "06–08h"
    assert hours_label((1, 2, 5, 23)) == "01–02h, 05h, 23h"


def test_hours_without_data_are_absent_not_zero() -> None:
    clock = LocalClock(TZ)
    only_day = [b for b in hourly(days=3) if 9 <= clock.slot(b.start)[1] <= 11]
    hours = by_hour_of_day(only_day, clock)
    assert set(hours) == {9, 10, 11}
    assert fastest_hours(hours) == (), "three hours are too few to say when it is fastest"
    cells = heatmap(only_day, clock)
    assert {hour for _, hour in cells} == {9, 10, 11}
    assert all(value > 0 for value in cells.values())


def test_heatmap_has_weekday_and_hour_cells_blank_where_unmeasured() -> None:
    clock = LocalClock(TZ)
    cells = heatmap([b for b in hourly() if b.provider == "fastco"], clock)
    assert len(cells) == 7 * 23, "every weekday and hour but the outage hour"
    assert all((day, 3) not in cells for day in range(7))
    assert cells[(0, 7)] < cells[(0, 15)]


def test_trend_compares_the_same_hours_of_last_week() -> None:
    slower = trend([b for b in hourly(slower_this_week=1.3) if b.model == "big"], NOW)
    assert slower is not None and slower.arrow == "▲"
    assert math.isclose(slower.change, 0.3, abs_tol=0.05)
    assert slower.label.startswith("▲ +")
    faster = trend([b for b in hourly(slower_this_week=0.8) if b.model == "big"], NOW)
    assert faster is not None and faster.arrow == "▼" and faster.label.startswith("▼ -")
    steady = trend([b for b in hourly() if b.model == "big"], NOW)
    assert steady is not None and steady.arrow == "="


def test_trend_is_none_without_last_week() -> None:
    assert trend(hourly(days=7), NOW) is None
    assert trend([], NOW) is None


def test_trend_ignores_hours_measured_in_only_one_week() -> None:
    clock = LocalClock(TZ)
    # Last week measured only at night (slow hours excluded), this week all day and slower by day.
    buckets = [
        b
        for b in hourly()
        if b.model == "big" and (NOW - b.start < 7 * 86400 or clock.slot(b.start)[1] < 6)
    ]
    found = trend(buckets, NOW)
    assert found is not None and found.arrow == "=" and found.hours == 7 * 6


def test_availability_strip_has_one_slot_per_hour_and_none_without_data() -> None:
    strip = availability_strip(hourly(days=2), NOW, days=30)
    assert len(strip) == 30 * 24
    assert all(value is None for value in strip[: 30 * 24 - 49])
    measured = [v for v in strip if v is not None]
    assert len(measured) == 48 and min(measured) >= 0.5
    assert strip[-1] is None, "the hour `now` is in has no sample yet"


def test_window_selects_a_plot_series() -> None:
    buckets = hourly(days=2)
    day = window(buckets, NOW - 86400, NOW)
    assert len(day) == 2 * 24 and day == sorted(day, key=lambda b: b.start)


def test_stats_of_buckets_rank_like_the_live_ranking() -> None:
    clock = LocalClock(TZ)
    buckets = hourly()
    at_seven = [b for b in buckets if clock.slot(b.start)[1] == 7]
    at_three = [b for b in buckets if clock.slot(b.start)[1] == 3]
    rows = {
        name: [
            stats_of_buckets(ModelInfo(p, m, m), [b for b in chosen if b.model == m])
            for p, m in (("fastco", "quick"), ("slowco", "big"))
        ]
        for name, chosen in (("seven", at_seven), ("three", at_three))
    }
    assert [r.model for r in rank(rows["seven"])] == ["quick", "big"]
    three = {r.model: r for r in rows["three"]}
    assert not three["quick"].usable and three["big"].usable, "down every night at 03h"
    assert [r.model for r in rank(rows["three"])] == ["big", "quick"]
