"""What the dashboard reads from the history: one model's history screen, every model's rhythm.

Both load in a thread (they read the database and compute), never in a render. Finished hours
are rolled up first, so what was measured an hour ago shows without waiting for the monitor's
next prune.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from freemodels.core.monitor.rhythm import (
    HOUR,
    Bucket,
    HourOfDay,
    LocalClock,
    Trend,
    availability_strip,
    buckets_of,
    by_hour_of_day,
    fastest_hours,
    trend,
)
from freemodels.core.records import ModelRef
from freemodels.core.store.history import History, transaction
from freemodels.core.store.rhythm_queries import pooled, trends
from freemodels.core.store.rollups import (
    ROLL_GRACE_S,
    hourly,
    model_names,
    model_samples,
    roll_up,
    rollable,
)

DAY_BUCKET_S = 900.0
"""The 24 h plot's resolution: 15 minutes, several samples per point at the usual cadence."""
STRIP_DAYS = 30
HEATMAP_DAYS = 28
RHYTHM_DAYS = 14


@dataclass(frozen=True, slots=True)
class ModelRhythm:
    """A model's trend against last week and its usual fastest hours (the table and detail)."""

    trend: Trend | None
    fastest: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ModelHistory:
    """Everything the history screen shows for one model, computed off the UI thread."""

    provider: str
    model: str
    now: float
    day: tuple[Bucket, ...]  # 15-minute buckets of the last 24 h
    week: tuple[Bucket, ...]  # hourly buckets of the last 7 days
    strip: tuple[float | None, ...]  # availability of each hour of the last 30 days
    provider_heatmap: Mapping[tuple[int, int], float] = field(default_factory=dict)
    rhythm: ModelRhythm = ModelRhythm(None, ())


def roll_up_finished(db: sqlite3.Connection, now: float) -> None:
    """Roll up the finished hours not rolled up yet, before a read of the rollups."""
    # A read first: the write lock (which a busy `serve` may hold) only when there is work.
    if rollable(db, now):
        with transaction(db):
            roll_up(db, now)


def load_model_history(
    path: Path,
    provider: str,
    model: str,
    now: float,
    clock: LocalClock,
    *,
    with_heatmap: bool = True,
) -> ModelHistory:
    """One model's history: hourly rollups for every finished hour, raw samples for the 24 h
    plot and the hour not finished yet; the provider's heatmap unless `with_heatmap` is False
    (the history screen reads it after its first frame: it is below the fold and costs most)."""
    if not path.exists():
        return ModelHistory(provider, model, now, (), (), (None,) * (STRIP_DAYS * 24))
    history = History(path)
    try:
        db = history.db
        roll_up_finished(db, now)
        ref = ModelRef(provider, model)
        # Every finished hour is rolled up (just above), so hours come from the rollups and
        # raw samples only feed the 15-minute plot and the hour not rolled up yet.
        raw_from = ((now - ROLL_GRACE_S) // HOUR) * HOUR  # the first hour not rolled up
        older = hourly(db, now - STRIP_DAYS * 86400, raw_from, model=ref)
        raw = model_samples(db, provider, model, min(now - 86400, raw_from))
        cells = _provider_heatmap(db, provider, now, clock) if with_heatmap else {}
    finally:
        history.close()
    mine = [*older, *buckets_of((s for s in raw if s.started_at >= raw_from), HOUR)]
    day = buckets_of((s for s in raw if s.started_at > now - 86400), DAY_BUCKET_S)
    week = [b for b in mine if b.start >= now - 7 * 86400]
    recent = [b for b in mine if b.start >= now - RHYTHM_DAYS * 86400]
    return ModelHistory(
        provider=provider,
        model=model,
        now=now,
        day=tuple(day),
        week=tuple(week),
        strip=tuple(availability_strip(mine, now, STRIP_DAYS)),
        provider_heatmap=cells,
        rhythm=ModelRhythm(trend(recent, now), fastest_hours(by_hour_of_day(recent, clock))),
    )


def load_provider_heatmap(
    path: Path, provider: str, now: float, clock: LocalClock
) -> dict[tuple[int, int], float]:
    """The provider's TTFT p50 per local (weekday, hour) over 4 weeks; hours without data absent."""
    if not path.exists():
        return {}
    history = History(path)
    try:
        return _provider_heatmap(history.db, provider, now, clock)
    finally:
        history.close()


def _provider_heatmap(
    db: sqlite3.Connection, provider: str, now: float, clock: LocalClock
) -> dict[tuple[int, int], float]:
    members = {mid: provider for mid, ref in model_names(db).items() if ref.provider == provider}
    week_map = pooled(db, now - HEATMAP_DAYS * 86400, now, members, clock, by_weekday=True)
    return {
        (wd, hod): cell.ttft_p50_ms
        for (_, wd, hod), cell in week_map.items()
        if cell.ttft_p50_ms is not None
    }


def load_rhythms(path: Path, now: float, clock: LocalClock) -> dict[ModelRef, ModelRhythm]:
    """Every model's trend and fastest hours over the last 14 days of rollups."""
    if not path.exists():
        return {}
    history = History(path)
    try:
        db = history.db
        roll_up_finished(db, now)
        names = model_names(db)
        groups = {mid: str(mid) for mid in names}
        slots = pooled(db, now - RHYTHM_DAYS * 86400, now, groups, clock, by_weekday=False)
        found = trends(db, now, names)
    finally:
        history.close()
    hours: dict[int, dict[int, HourOfDay]] = {}
    for (key, _, hod), cell in slots.items():
        hours.setdefault(int(key), {})[hod] = cell
    return {
        names[mid]: ModelRhythm(found.get(mid), fastest_hours(hours.get(mid, {})))
        for mid in set(hours) | set(found)
    }
