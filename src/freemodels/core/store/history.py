"""The history database: samples, hourly rollups, the request ledger and monitor heartbeats.

One SQLite file (`paths.history_path()`), shared by every freemodels process on the machine: WAL
mode and a busy timeout let the dashboard, a `serve` and a `check` use it at once. Raw samples
are kept 48 h, hourly rollups (made as each hour finishes, see `rollups`) 30 days; `prune()`
keeps the file bounded. Writes are small transactions, so a `kill -9` loses at most the samples
not yet flushed and never corrupts the file.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freemodels.core.records import ModelRef, Outcome, ProbeKind, ProbeResult
from freemodels.core.store.rollups import migrate_rollups_v2, roll_up
from freemodels.errors import StoreError

SCHEMA_VERSION = 3
RAW_RETENTION_S = 48 * 3600.0
ROLLUP_RETENTION_S = 30 * 86400.0
LEDGER_RETENTION_S = 86400.0 + 3600.0
HEARTBEAT_STALE_S = 15.0
ROUTER_ONLY_ROLE = "router"
"""The role of a heartbeat that only advertises a router: its process reads another monitor's
samples (attached), so it must not be mistaken for a monitor to attach to."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL, UNIQUE (provider, model)
);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models (id), kind TEXT NOT NULL, outcome TEXT NOT NULL,
    started_at REAL NOT NULL, http_status INTEGER, ttft_ms REAL, total_ms REAL, headers_ms REAL,
    reused INTEGER, error TEXT, retry_after_s REAL, tokens_per_s REAL, tool_calls INTEGER
);
CREATE INDEX IF NOT EXISTS samples_at ON samples (started_at);
CREATE INDEX IF NOT EXISTS samples_model ON samples (model_id, started_at);
CREATE VIEW IF NOT EXISTS sample_rows AS
    SELECT s.id, m.provider, m.model, s.kind, s.outcome, s.started_at, s.http_status, s.ttft_ms,
           s.total_ms, s.headers_ms, s.reused, s.error, s.retry_after_s, s.tokens_per_s,
           s.tool_calls
    FROM samples s JOIN models m ON m.id = s.model_id;
CREATE TABLE IF NOT EXISTS rollups (
    model_id INTEGER NOT NULL REFERENCES models (id), hour INTEGER NOT NULL,
    samples INTEGER NOT NULL, ok INTEGER NOT NULL, server_failures INTEGER NOT NULL,
    rate_limited INTEGER NOT NULL, ttft_mean_ms REAL, ttft_p50_ms REAL, ttft_p95_ms REAL,
    PRIMARY KEY (model_id, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY,
    budget TEXT NOT NULL, provider TEXT NOT NULL, model_id INTEGER, kind TEXT NOT NULL,
    at REAL NOT NULL, pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_budget ON ledger (budget, at);
CREATE INDEX IF NOT EXISTS ledger_model ON ledger (model_id, at);
CREATE TABLE IF NOT EXISTS pauses (budget TEXT PRIMARY KEY, until REAL NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS heartbeats (
    pid INTEGER PRIMARY KEY, role TEXT NOT NULL, at REAL NOT NULL, started REAL NOT NULL,
    router TEXT
);
"""

_COLUMNS = (
    "provider, model, kind, outcome, started_at, http_status, ttft_ms, total_ms, headers_ms, "
    "reused, error, retry_after_s, tokens_per_s, tool_calls"
)
_STORED = (
    "model_id, kind, outcome, started_at, http_status, ttft_ms, total_ms, headers_ms, "
    "reused, error, retry_after_s, tokens_per_s, tool_calls"
)


def model_id(db: sqlite3.Connection, cache: dict[ModelRef, int], ref: ModelRef) -> int:
    """The integer id of a model, made on first use.

    Rows name models by id: a model id such as `nvidia/nemotron-3-super-120b-a12b:free` stored
    in every sample and index entry would make the file several times larger.
    """
    found = cache.get(ref)
    if found is None:
        key = (ref.provider, ref.model)
        db.execute("INSERT OR IGNORE INTO models (provider, model) VALUES (?, ?)", key)
        row = db.execute("SELECT id FROM models WHERE provider = ? AND model = ?", key).fetchone()
        found = cache[ref] = int(row[0])
    return found


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A running monitor's sign of life."""

    pid: int
    role: str
    at: float
    started: float
    router: str | None = None
    """The base URL of the router this process serves (e.g. "http://127.0.0.1:8766"), or the
    one another live process on this machine serves; None when no router runs."""


class History:
    """A connection to the history database; use from one thread."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = path
        self._model_ids: dict[ModelRef, int] = {}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a crash may lose the last commits, never consistency.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{path}: cannot use the history database ({exc})",
                "move the file aside; freemodels starts a new one",
            ) from None

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: written by a newer freemodels (schema {version})",
                    "upgrade freemodels, or move the file aside",
                )
            if version == 1:
                migrate_rollups_v2(self._db)
            if 1 <= version < 3:
                # 2 → 3: heartbeats name the router their process serves. A file without the
                # table gets it, column and all, from the schema below.
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(heartbeats)")}
                if columns and "router" not in columns:
                    self._db.execute("ALTER TABLE heartbeats ADD COLUMN router TEXT")
            if version < SCHEMA_VERSION:
                # Migrations run in order; version 0 is an empty file.
                for statement in _SCHEMA.strip().split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    @property
    def db(self) -> sqlite3.Connection:
        """The underlying connection (for the ledger, which shares it)."""
        return self._db

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    # -- samples -------------------------------------------------------------------------------

    def add(self, results: Sequence[ProbeResult]) -> None:
        """Append samples in one transaction."""
        if not results:
            return
        with transaction(self._db):
            rows = [
                (
                    model_id(self._db, self._model_ids, r.ref), r.kind.value,
                    r.outcome.value, r.started_at, r.http_status, r.ttft_ms, r.total_ms,
                    r.headers_ms, _bool(r.reused), r.error, r.retry_after_s, r.tokens_per_s,
                    _bool(r.tool_calls),
                )
                for r in results
            ]  # fmt: skip
            self._db.executemany(
                f"INSERT INTO samples ({_STORED}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

    def samples(
        self, since: float, until: float | None = None, *, after_id: int = 0
    ) -> list[ProbeResult]:
        """Samples that started in (since, until], oldest first."""
        query = f"SELECT {_COLUMNS} FROM sample_rows WHERE started_at > ? AND id > ?"
        params: list[object] = [since, after_id]
        if until is not None:
            query += " AND started_at <= ?"
            params.append(until)
        rows = self._db.execute(query + " ORDER BY started_at", params).fetchall()
        return [_result(row) for row in rows]

    def latest_per_model(self, since: float, limit: int) -> list[ProbeResult]:
        """Each model's newest `limit` samples that started after `since`, oldest first."""
        # One indexed query per model (model_id, started_at): a window function over the whole
        # day scans every row, ~30× slower on a day of samples, and this runs at start-up.
        rows: list[Any] = []
        for (mid,) in self._db.execute("SELECT id FROM models").fetchall():
            rows += self._db.execute(
                f"SELECT {_COLUMNS} FROM sample_rows WHERE id IN (SELECT id FROM samples "
                "WHERE model_id = ? AND started_at > ? ORDER BY started_at DESC LIMIT ?)",
                (mid, since, limit),
            ).fetchall()
        return sorted((_result(row) for row in rows), key=lambda r: r.started_at)

    def latest_sample_id(self) -> int:
        """The newest sample's row id (0 when there is none): where an attached reader starts."""
        row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM samples").fetchone()
        return int(row[0])

    def samples_since_id(self, after_id: int) -> tuple[int, list[ProbeResult]]:
        """Samples added after row id `after_id`, and the newest id (for attached readers)."""
        rows = self._db.execute(
            f"SELECT id, {_COLUMNS} FROM sample_rows WHERE id > ? ORDER BY id", (after_id,)
        ).fetchall()
        if not rows:
            return after_id, []
        return rows[-1][0], [_result(row[1:]) for row in rows]

    def not_found_runs(self) -> dict[ModelRef, float]:
        """For models whose latest samples all answered not_found: when that run began."""
        rows = self._db.execute(
            "SELECT m.provider, m.model, MIN(s.started_at) FROM samples s "
            "JOIN models m ON m.id = s.model_id WHERE s.outcome = 'not_found' AND s.started_at > "
            "COALESCE((SELECT MAX(o.started_at) FROM samples o WHERE o.model_id = s.model_id "
            "AND o.outcome != 'not_found'), 0) GROUP BY s.model_id"
        ).fetchall()
        return {ModelRef(str(p), str(m)): float(at) for p, m, at in rows}

    def rollups(self, since: float) -> list[tuple[str, str, int, int, int, int]]:
        """(provider, model, samples, ok, server_failures, rate_limited) summed since `since`."""
        return self._db.execute(
            "SELECT m.provider, m.model, SUM(r.samples), SUM(r.ok), SUM(r.server_failures), "
            "SUM(r.rate_limited) FROM rollups r JOIN models m ON m.id = r.model_id "
            "WHERE r.hour >= ? GROUP BY r.model_id",
            (int(since // 3600),),
        ).fetchall()

    def prune(self, now: float | None = None) -> None:
        """Roll finished hours up, then drop what is past retention (raw samples only once their
        hour is rolled up, so a wall clock that jumps ahead never loses a sample's hour)."""
        now = time.time() if now is None else now
        cutoff = now - RAW_RETENTION_S
        with transaction(self._db):
            done = roll_up(self._db, now)
            self._db.execute(
                "DELETE FROM samples WHERE started_at <= ? AND id <= ?", (cutoff, done)
            )
            self._db.execute(
                "DELETE FROM rollups WHERE hour < ?", (int((now - ROLLUP_RETENTION_S) // 3600),)
            )
            self._db.execute("DELETE FROM ledger WHERE at <= ?", (now - LEDGER_RETENTION_S,))
            self._db.execute("DELETE FROM pauses WHERE until <= ?", (now,))
            self._db.execute(
                "DELETE FROM heartbeats WHERE at <= ?", (now - HEARTBEAT_STALE_S * 20,)
            )

    # -- heartbeats ----------------------------------------------------------------------------

    def beat(
        self, role: str, started: float, now: float | None = None, *, router: str | None = None
    ) -> None:
        """Record that this process's monitor (or router, role `ROUTER_ONLY_ROLE`) is alive."""
        now = time.time() if now is None else now
        with transaction(self._db):
            self._db.execute(
                "INSERT OR REPLACE INTO heartbeats (pid, role, at, started, router) "
                "VALUES (?,?,?,?,?)",
                (os.getpid(), role, now, started, router),
            )

    def end_beat(self) -> None:
        """Withdraw this process's heartbeat (a clean shutdown)."""
        with transaction(self._db):
            self._db.execute("DELETE FROM heartbeats WHERE pid = ?", (os.getpid(),))

    def live_monitor(self, now: float | None = None) -> Heartbeat | None:
        """Another process's monitor that beat recently, if any."""
        now = time.time() if now is None else now
        rows = self._db.execute(
            "SELECT pid, role, at, started, router FROM heartbeats WHERE at > ? AND pid != ? "
            "AND role != ? ORDER BY started",
            (now - HEARTBEAT_STALE_S, os.getpid(), ROUTER_ONLY_ROLE),
        ).fetchall()
        for pid, role, at, started, router in rows:
            if _pid_alive(pid):
                return Heartbeat(pid, role, at, started, router or self.live_router(now))
        return None

    def live_router(self, now: float | None = None) -> str | None:
        """The base URL of a router served by a live process on this machine (this one too)."""
        now = time.time() if now is None else now
        rows = self._db.execute(
            "SELECT pid, router FROM heartbeats WHERE at > ? AND router IS NOT NULL "
            "ORDER BY started",
            (now - HEARTBEAT_STALE_S,),
        ).fetchall()
        for pid, router in rows:
            if pid == os.getpid() or _pid_alive(pid):
                return str(router)
        return None


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction. The connection is in autocommit mode (isolation_level=None), where
    `with db:` would not begin one, and a batch must land whole or not at all."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _result(row: Sequence[Any]) -> ProbeResult:
    """A ProbeResult from a `sample_rows` row in `_COLUMNS` order (SQLite gives plain values)."""
    (
        provider, model, kind, outcome, started_at, status, ttft, total, headers, reused, error,
        retry, tps, tools,
    ) = row  # fmt: skip
    return ProbeResult(
        provider=provider,
        model=model,
        outcome=Outcome(outcome),
        started_at=started_at,
        http_status=status,
        ttft_ms=ttft,
        total_ms=total,
        headers_ms=headers,
        reused=None if reused is None else bool(reused),
        error=error,
        retry_after_s=retry,
        kind=ProbeKind(kind),
        tokens_per_s=tps,
        tool_calls=None if tools is None else bool(tools),
    )
