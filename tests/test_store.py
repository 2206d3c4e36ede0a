"""The history database: round trips, migrations, pruning, heartbeats, and kill -9 mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from freemodels.core.records import ModelRef, Outcome, ProbeKind, ProbeResult
from freemodels.core.store.history import SCHEMA_VERSION, History
from freemodels.errors import StoreError


def result(at: float, outcome: Outcome = Outcome.OK, model: str = "m") -> ProbeResult:
    ok = outcome is Outcome.OK
    return ProbeResult(
        "p", model, outcome, at, http_status=200 if ok else 500, ttft_ms=120.5 if ok else None,
        total_ms=130.0, headers_ms=5.0, reused=True, error=None if ok else "HTTP 500",
        kind=ProbeKind.SPEED, tokens_per_s=88.0, tool_calls=None,
    )  # fmt: skip


def test_samples_round_trip(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    now = time.time()
    written = [result(now - 10), result(now - 5, Outcome.SERVER_ERROR)]
    history.add(written)
    assert history.samples(now - 60) == written
    assert history.samples(now - 7) == written[1:]
    newest, since = history.samples_since_id(0)
    assert since == written and newest == 2
    assert history.samples_since_id(newest) == (newest, [])
    history.close()


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    History(tmp_path / "h.sqlite3").close()
    db = sqlite3.connect(tmp_path / "h.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION


def test_a_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    History(tmp_path / "h.sqlite3").close()
    db = sqlite3.connect(tmp_path / "h.sqlite3")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    with pytest.raises(StoreError, match="newer freemodels"):
        History(tmp_path / "h.sqlite3")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use the history database"):
        History(path)
    assert path.read_bytes() == b"this is not sqlite" * 100, "nothing was overwritten"


def test_prune_rolls_old_samples_up_and_keeps_the_file_bounded(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    now = 1_800_000_000.0
    old = [result(now - 50 * 3600 - i * 60, model=f"m{i % 3}") for i in range(120)]
    fresh = [result(now - 60)]
    history.add(old + fresh)
    history.prune(now)
    assert history.samples(0) == fresh
    rollups = {(p, m): (n, ok) for p, m, n, ok, _, _ in history.rollups(now - 30 * 86400)}
    assert sum(n for n, _ in rollups.values()) == 120
    history.prune(now + 31 * 86400)
    assert history.rollups(0) == []
    history.close()


def test_heartbeats_show_a_live_monitor_of_another_process(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from pathlib import Path
            from freemodels.core.store.history import History
            h = History(Path({str(path)!r}))
            h.beat("serve", time.time())
            print("beating", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "beating"
        history = History(path)
        live = history.live_monitor()
        assert live is not None and live.pid == child.pid and live.role == "serve"
        assert history.live_monitor(time.time() + 60) is None, "a stale heartbeat is not live"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    assert History(path).live_monitor() is None, "a dead process's heartbeat does not count"


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from freemodels.core.records import Outcome, ProbeResult
    from freemodels.core.store.history import History
    h = History(Path(sys.argv[1]))
    i = 0
    while True:
        now = time.time()
        batch = [ProbeResult("p", f"m{j}", Outcome.OK, now, ttft_ms=float(i)) for j in range(50)]
        h.add(batch)
        i += 1
        if i == 5:
            print("writing", flush=True)
""")


def test_kill_9_mid_write_never_corrupts_the_file(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    for attempt in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
        time.sleep(0.2 + attempt * 0.1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        db.close()
        assert count > 0 and count % 50 == 0, "transactions are whole: no half-written batch"
        history = History(path)
        assert len(history.samples(0)) == count, "the file opens and reads after the kill"
        history.close()


def test_not_found_runs_start_after_the_last_other_answer(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    now = time.time()
    history.add(
        [
            result(now - 90000, Outcome.NOT_FOUND, model="old"),
            result(now - 50, Outcome.NOT_FOUND, model="old"),
            result(now - 9000, Outcome.NOT_FOUND, model="back"),
            result(now - 100, model="back"),
            result(now - 20, Outcome.NOT_FOUND, model="new"),
        ]
    )
    assert history.not_found_runs() == {
        ModelRef("p", "old"): now - 90000,
        ModelRef("p", "new"): now - 20,
    }
    history.close()


def test_latest_per_model_keeps_each_models_newest_samples(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    now = time.time()
    history.add([result(now - 1000 - i, model=m) for i in range(30) for m in ("a", "b")])
    history.add([result(now - 200000, model="old")])
    latest = history.latest_per_model(now - 86400, 5)
    assert sorted((r.model, r.started_at) for r in latest) == sorted(
        (m, now - 1000 - i) for i in range(5) for m in ("a", "b")
    )
    assert [r.started_at for r in latest] == sorted(r.started_at for r in latest)
    history.close()


def test_finished_hours_roll_up_while_raw_samples_stay_and_late_samples_re_roll(
    tmp_path: Path,
) -> None:
    from freemodels.core.store.rollups import hourly, rolled_id

    history = History(tmp_path / "h.sqlite3")
    hour = 500_000 * 3600.0
    history.add([result(hour + i * 60) for i in range(30)])
    history.add([result(hour + 3600 + 10)])  # the next hour, still running
    history.prune(hour + 3600 + 60)
    assert hourly(history.db, 0) == [], "an hour is rolled up only after its grace period"
    history.prune(hour + 3600 + 600)
    (first,) = hourly(history.db, 0)
    assert (first.start, first.samples, first.ok) == (hour, 30, 30)
    assert len(history.samples(0)) == 31, "raw samples stay 48 h after their roll-up"
    # A sample of that hour written late (a clock stepped back, another process): rolled again.
    history.add([result(hour + 1800, Outcome.SERVER_ERROR)])
    history.prune(hour + 3600 + 700)
    (again,) = hourly(history.db, 0)
    assert (again.samples, again.server_failures) == (31, 1)
    # A wall clock far ahead deletes raw samples only once their hour is rolled up.
    history.add([result(hour + 2 * 3600 + 5)])
    history.prune(hour + 60 * 3600)
    assert history.samples(0) == []
    assert sum(b.samples for b in hourly(history.db, 0)) == 33
    assert rolled_id(history.db) == 33
    history.close()


def test_rollable_says_whether_a_finished_hour_waits_for_its_roll_up(tmp_path: Path) -> None:
    """What the history screen checks before taking the write lock to roll hours up."""
    from freemodels.core.store.rollups import rollable

    history = History(tmp_path / "h.sqlite3")
    hour = 500_000 * 3600.0
    assert not rollable(history.db, hour), "an empty history"
    history.add([result(hour + 60)])
    assert not rollable(history.db, hour + 3600 + 60), "its hour is still in its grace period"
    assert rollable(history.db, hour + 3600 + 600)
    history.prune(hour + 3600 + 600)
    assert not rollable(history.db, hour + 3600 + 600), "rolled up"
    history.add([result(hour + 3600 + 700)])  # the running hour: nothing to roll yet
    assert not rollable(history.db, hour + 3600 + 800)
    history.add([result(hour + 1200)])  # a late sample of the rolled hour
    assert rollable(history.db, hour + 3600 + 800)
    history.close()
