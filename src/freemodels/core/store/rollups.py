"""Hourly rollups: written as hours finish, read as `Bucket`s for history views and `stats`.

Every finished hour is rolled up while its raw samples still exist (raw samples are kept 48 h,
rollups 30 days), so a view of the last week reads one table and never re-aggregates raw rows.
`meta.rolled_id` remembers the newest sample id already rolled up; an hour that gains a sample
later (another process's late write, a wall clock stepped back) is rolled up again from its raw
samples, and raw samples are only deleted once their hour is rolled up: nothing is dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from freemodels.core.monitor.stats import percentile
from freemodels.core.records import HOUR, ModelRef, Outcome, ProbeResult

if TYPE_CHECKING:
    # Imported where buckets are made: a sweep that only stores samples never needs them.
    from freemodels.core.monitor.rhythm import Bucket

ROLL_GRACE_S = 120.0
"""An hour is rolled up this long after it ends: a probe started at 10:59:59 may be written at
11:00:30 (its timeout), and it belongs to 10:00."""

_SERVER_SIDE = tuple(o.value for o in Outcome if o.server_side)


def rolled_id(db: sqlite3.Connection) -> int:
    """The newest sample id whose hour is rolled up."""
    row = db.execute("SELECT value FROM meta WHERE key = 'rolled_id'").fetchone()
    return int(row[0]) if row else 0


def rollable(db: sqlite3.Connection, now: float) -> bool:
    """Whether a finished hour has samples not rolled up yet (a read: no write lock)."""
    finished_before = (int((now - ROLL_GRACE_S) // HOUR)) * HOUR
    row = db.execute(
        "SELECT 1 FROM samples WHERE id > ? AND +started_at < ? LIMIT 1",
        (rolled_id(db), finished_before),
    ).fetchone()
    return row is not None


def roll_up(db: sqlite3.Connection, now: float) -> int:
    """Roll up every finished hour that gained samples since the last call (inside the caller's
    transaction); returns the new `rolled_id`."""
    done = rolled_id(db)
    finished_before = (int((now - ROLL_GRACE_S) // HOUR)) * HOUR
    newest = db.execute("SELECT COALESCE(MAX(id), 0) FROM samples").fetchone()[0]
    # The first sample not yet rollable bounds what this call may mark as done.
    pending = db.execute(
        "SELECT MIN(id) FROM samples WHERE id > ? AND started_at >= ?", (done, finished_before)
    ).fetchone()[0]
    new_done = newest if pending is None else pending - 1
    # Every finished hour with a sample past `done`, also past the first pending one: a late
    # sample of an old hour must not wait for the current hour to finish. (Hours between the
    # two may be rolled again at the next call: a few hours, at most once every prune.)
    hours = [
        int(hour)
        for (hour,) in db.execute(
            # `+started_at`: read the rows after `done` by id (the last hour's, usually) rather
            # than every raw sample of two days through the started_at index.
            "SELECT DISTINCT CAST(started_at / 3600 AS INTEGER) FROM samples "
            "WHERE id > ? AND +started_at < ?",
            (done, finished_before),
        )
    ]
    for hour in hours:
        _roll_hour(db, hour)
    if new_done > done:
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rolled_id', ?)", (str(new_done),)
        )
    return int(max(done, new_done))


def _roll_hour(db: sqlite3.Connection, hour: int) -> None:
    """Recompute one hour's rollups from its raw samples (every model)."""
    rows = db.execute(
        "SELECT model_id, outcome, ttft_ms FROM samples WHERE started_at >= ? AND started_at < ?",
        (hour * HOUR, (hour + 1) * HOUR),
    ).fetchall()
    groups: dict[int, list[tuple[str, float | None]]] = {}
    for mid, outcome, ttft in rows:
        groups.setdefault(mid, []).append((outcome, ttft))
    for mid, items in groups.items():
        ttfts = sorted(t for o, t in items if o == Outcome.OK.value and t is not None)
        db.execute(
            "INSERT OR REPLACE INTO rollups VALUES (?,?,?,?,?,?,?,?,?)",
            (
                mid, hour, len(items),
                sum(1 for o, _ in items if o == Outcome.OK.value),
                sum(1 for o, _ in items if o in _SERVER_SIDE),
                sum(1 for o, _ in items if o == Outcome.RATE_LIMITED.value),
                _ms(sum(ttfts) / len(ttfts)) if ttfts else None,
                _ms(percentile(ttfts, 50)) if ttfts else None,
                _ms(percentile(ttfts, 95)) if ttfts else None,
            ),
        )  # fmt: skip


def _ms(value: float) -> float:
    """Whole milliseconds: SQLite stores a REAL with no fraction in 1-4 bytes instead of 8, which
    keeps 30 days of rollups for 250 models near 5 MB (an hour's p50 needs no finer grain)."""
    return float(round(value))


def migrate_rollups_v2(db: sqlite3.Connection) -> None:
    """Schema 1 → 2: rollups keyed by model id (not two strings per row), without a rowid."""
    db.execute("ALTER TABLE rollups RENAME TO rollups_v1")
    db.execute(
        "INSERT OR IGNORE INTO models (provider, model) SELECT DISTINCT provider, model "
        "FROM rollups_v1"
    )
    db.execute(
        "CREATE TABLE rollups (model_id INTEGER NOT NULL REFERENCES models (id), "
        "hour INTEGER NOT NULL, samples INTEGER NOT NULL, ok INTEGER NOT NULL, "
        "server_failures INTEGER NOT NULL, rate_limited INTEGER NOT NULL, ttft_mean_ms REAL, "
        "ttft_p50_ms REAL, ttft_p95_ms REAL, PRIMARY KEY (model_id, hour)) WITHOUT ROWID"
    )
    db.execute(
        "INSERT OR REPLACE INTO rollups SELECT m.id, r.hour, r.samples, r.ok, "
        "r.server_failures, r.rate_limited, round(r.ttft_mean_ms), round(r.ttft_p50_ms), "
        "round(r.ttft_p95_ms) FROM rollups_v1 r JOIN models m "
        "ON m.provider = r.provider AND m.model = r.model"
    )
    db.execute("DROP TABLE rollups_v1")


def model_names(db: sqlite3.Connection) -> dict[int, ModelRef]:
    """Every model id's reference."""
    return {
        int(mid): ModelRef(str(provider), str(model))
        for mid, provider, model in db.execute("SELECT id, provider, model FROM models")
    }


def hourly(
    db: sqlite3.Connection,
    since: float,
    until: float | None = None,
    *,
    providers: Collection[str] = (),
    model: ModelRef | None = None,
    hours: Collection[int] | None = None,
) -> list[Bucket]:
    """Hourly buckets from the rollups whose hour starts in [since, until), oldest first;
    only these providers' (or this one model's), and these hour indexes, when given."""
    names = model_names(db)
    if model is not None:
        wanted = [mid for mid, ref in names.items() if ref == model]
    elif providers:
        wanted = [mid for mid, ref in names.items() if ref.provider in providers]
    else:
        wanted = list(names)
    if not wanted:
        return []
    from freemodels.core.monitor.rhythm import Bucket

    first = int(since // HOUR)
    last = int(-(-until // HOUR)) if until is not None else 2**40
    made: list[Bucket] = []
    only = ""
    if hours is not None:
        only = f" AND hour IN ({','.join(str(int(h)) for h in hours) or 'NULL'})"
    # One primary-key range per model: (model_id, hour) is the table's key.
    for mid in wanted:
        ref = names[mid]
        made += [
            Bucket(ref.provider, ref.model, hour * HOUR, HOUR, n, ok, failures, limited, p50, p95)
            for hour, n, ok, failures, limited, p50, p95 in db.execute(
                "SELECT hour, samples, ok, server_failures, rate_limited, ttft_p50_ms, "
                "ttft_p95_ms FROM rollups WHERE model_id = ? AND hour >= ? AND hour < ?" + only,
                (mid, first, last),
            )
        ]
    made.sort(key=lambda b: b.start)
    return made


def model_samples(
    db: sqlite3.Connection, provider: str, model: str, since: float
) -> list[ProbeResult]:
    """One model's raw samples that started at or after `since`, oldest first, with only what
    buckets need (outcome, start, TTFT): the 24 h plot and the hour not rolled up yet."""
    row = db.execute(
        "SELECT id FROM models WHERE provider = ? AND model = ?", (provider, model)
    ).fetchone()
    if row is None:
        return []
    rows = db.execute(
        "SELECT outcome, started_at, ttft_ms FROM samples WHERE model_id = ? AND started_at >= ? "
        "ORDER BY started_at",
        (row[0], since),
    ).fetchall()
    outcomes = {o.value: o for o in Outcome}
    return [
        ProbeResult(provider, model, outcomes[outcome], at, None, ttft_ms=ttft)
        for outcome, at, ttft in rows
    ]


def recent_buckets(samples: Sequence[ProbeResult], span_s: float) -> list[Bucket]:
    """Raw samples as buckets of `span_s` (the 24 h plot uses 15-minute buckets)."""
    from freemodels.core.monitor.rhythm import buckets_of

    return buckets_of(samples, span_s)
