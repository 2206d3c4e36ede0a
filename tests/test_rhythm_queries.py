"""The SQL rhythm queries give what the pure functions give over the same rollups; schema 1 files
are migrated to rollups keyed by model id."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from freemodels.core.monitor.rhythm import LocalClock, by_hour_of_day, heatmap, trend
from freemodels.core.store.history import SCHEMA_VERSION, History, transaction
from freemodels.core.store.rhythm_queries import pooled, trends
from freemodels.core.store.rollups import hourly, model_names, roll_up
from history_fixtures import NOW, TZ, generate


def filled(tmp_path: Path) -> History:
    history = History(tmp_path / "h.sqlite3")
    history.add(list(generate(now=NOW, slower_this_week=1.2)))
    with transaction(history.db):
        roll_up(history.db, NOW)
    return history


def test_pooled_hours_match_the_pure_functions(tmp_path: Path) -> None:
    history = filled(tmp_path)
    clock = LocalClock(TZ)
    buckets = hourly(history.db, NOW - 14 * 86400)
    names = model_names(history.db)
    by_model = {mid: str(ref) for mid, ref in names.items()}
    slots = pooled(history.db, NOW - 14 * 86400, NOW, by_model, clock, by_weekday=False)
    for ref in names.values():
        mine = [b for b in buckets if b.ref == ref]
        expected = by_hour_of_day(mine, clock)
        got = {hod: cell for (key, _, hod), cell in slots.items() if key == str(ref)}
        assert got == expected
    by_provider = {mid: ref.provider for mid, ref in names.items()}
    week = pooled(history.db, NOW - 14 * 86400, NOW, by_provider, clock, by_weekday=True)
    fast = {(wd, hod): c.ttft_p50_ms for (k, wd, hod), c in week.items() if k == "fastco"}
    expected_map = heatmap([b for b in buckets if b.provider == "fastco"], clock)
    assert {k: v for k, v in fast.items() if v is not None} == expected_map
    history.close()


def test_trends_match_the_pure_function(tmp_path: Path) -> None:
    history = filled(tmp_path)
    buckets = hourly(history.db, NOW - 14 * 86400)
    names = model_names(history.db)
    found = trends(history.db, NOW, names)
    assert set(found) == set(names)
    for mid, ref in names.items():
        expected = trend([b for b in buckets if b.ref == ref], NOW)
        assert found[mid] == expected
        assert found[mid].arrow == "▲"
    history.close()


def test_a_schema_1_file_keeps_its_rollups(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE models (id INTEGER PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
            UNIQUE (provider, model));
        CREATE TABLE rollups (hour INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
            samples INTEGER NOT NULL, ok INTEGER NOT NULL, server_failures INTEGER NOT NULL,
            rate_limited INTEGER NOT NULL, ttft_mean_ms REAL, ttft_p50_ms REAL, ttft_p95_ms REAL,
            PRIMARY KEY (hour, provider, model));
        INSERT INTO rollups VALUES (500000, 'p', 'm', 10, 9, 1, 0, 120.4, 118.6, 160.2);
        """
    )
    db.commit()
    db.close()
    history = History(path)
    (bucket,) = hourly(history.db, 0)
    assert (bucket.provider, bucket.model, bucket.samples, bucket.ok) == ("p", "m", 10, 9)
    assert bucket.ttft_p50_ms == 119.0
    version = history.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    assert int(version[0]) == SCHEMA_VERSION
    history.close()
