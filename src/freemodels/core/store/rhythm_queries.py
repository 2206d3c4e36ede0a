"""The rhythm computations of `core.monitor.rhythm`, straight from the rollups table.

A month of hourly rollups for 250 models is 180,000 rows: made into Bucket objects and grouped,
it takes seconds; read as plain rows and folded as they come, a few hundred milliseconds. These
functions return exactly what the pure functions return over the same rollups (a test holds
them to it): the pooled p50 is the lower weighted median of the hours' p50s, weighted by their
ok samples.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping

from freemodels.core.monitor.rhythm import (
    HOUR,
    TREND_MIN_HOURS,
    HourOfDay,
    LocalClock,
    Trend,
    weighted_median,
)

Slot = tuple[str, int, int]  # (group key, weekday or -1, local hour)


def pooled(
    db: sqlite3.Connection,
    since: float,
    until: float,
    groups: Mapping[int, str],
    clock: LocalClock,
    *,
    by_weekday: bool,
) -> dict[Slot, HourOfDay]:
    """Per group key and local (weekday, hour), or hour alone: pooled p50 and availability.

    One plain scan of the rollups, grouped in Python: measured against SQLite doing the grouping
    (a join on a table of local hours, and window functions for the weighted median), this is
    about four times faster on a month of rollups for 250 models.
    """
    first, last = int(since // HOUR), int(-(-until // HOUR))
    slots = {}
    for hour in range(first, last):
        weekday, hod = clock.slot(hour * HOUR)
        slots[hour] = (weekday if by_weekday else -1, hod)
    counts: dict[Slot, list[int]] = {}
    values: dict[Slot, list[tuple[float, int]]] = {}
    # The model ids inline (integers from our own table): SQLite then reads each model's range
    # of its (model_id, hour) key instead of scanning every model's rows.
    ids = ",".join(str(int(mid)) for mid in groups) or "NULL"
    rows = db.execute(
        "SELECT model_id, hour, samples, ok, server_failures, ttft_p50_ms FROM rollups "
        f"WHERE model_id IN ({ids}) AND hour >= ? AND hour < ?",
        (first, last),
    )
    for mid, hour, samples, ok, failures, p50 in rows:
        key = groups.get(mid)
        if key is None:
            continue
        weekday, hod = slots[hour]
        slot = (key, weekday, hod)
        found = counts.get(slot)
        if found is None:
            counts[slot] = [samples, ok, failures]
        else:
            found[0] += samples
            found[1] += ok
            found[2] += failures
        if p50 is not None and ok > 0:
            values.setdefault(slot, []).append((p50, ok))
    return {
        slot: HourOfDay(
            slot[2],
            weighted_median(values.get(slot, ())),
            ok / (ok + failures) if ok + failures else None,
            samples,
            ok,
        )
        for slot, (samples, ok, failures) in counts.items()
    }


def trends(db: sqlite3.Connection, now: float, model_ids: Collection[int]) -> dict[int, Trend]:
    """Each model's trend: the last 7 days' hours against the same hours a week before."""
    top = int(now // HOUR)
    rows = db.execute(
        "SELECT a.model_id, a.ttft_p50_ms, a.ok, b.ttft_p50_ms, b.ok FROM rollups a "
        "JOIN rollups b ON b.model_id = a.model_id AND b.hour = a.hour - 168 "
        "WHERE a.hour > ? AND a.hour <= ? AND a.ttft_p50_ms IS NOT NULL AND a.ok > 0 "
        "AND b.ttft_p50_ms IS NOT NULL AND b.ok > 0",
        (top - 168, top),
    ).fetchall()
    pairs: dict[int, list[tuple[float, int, float, int]]] = {}
    wanted = set(model_ids)
    for mid, p_now, w_now, p_then, w_then in rows:
        if mid in wanted:
            pairs.setdefault(mid, []).append((p_now, w_now, p_then, w_then))
    found: dict[int, Trend] = {}
    for mid, matched in pairs.items():
        if len(matched) < TREND_MIN_HOURS:
            continue
        this_week = weighted_median((p, w) for p, w, _, _ in matched)
        last_week = weighted_median((p, w) for _, _, p, w in matched)
        if this_week is not None and last_week is not None:
            found[mid] = Trend(this_week, last_week, len(matched))
    return found
