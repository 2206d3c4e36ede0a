"""Rate budgets: the single gate every request passes (docs/architecture.md, "Rate budgets").

In any sliding 60 s window the requests to one budget never exceed its `rpm`, nor `rpd` in 24 h,
nor a model's own `rpd`. The count lives in the history database's `ledger` table, so every
freemodels process on the machine (dashboard, `serve`, `check`, web sessions) shares it: a
request is recorded inside the same write transaction that checked the room for it, before it is
sent. A 429 pauses the budget for everyone through the `pauses` table.

Routed requests (a user's work, relayed by `serve --router`) take precedence over probes (our
measurements): while a router is live (`router_live`), a ledger made with `routed_reserve` lets
every other kind use only the rest of each cap (rounded down, at least one request), while
routed requests may use the whole of it. So probes can never crowd out the user, and the router
never waits on the scheduler's cadence. The monitor says whether a router is live on the machine
(its own, or one whose heartbeat it reads: `serve --router` attached to a running dashboard).
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from freemodels.core.records import BudgetState, Model, ModelRef, ProbeKind, Provider
from freemodels.core.store.history import model_id, transaction

MINUTE = 60.0
DAY = 86400.0
ROUTED_RESERVE = 0.2
"""The share of each cap kept for routed requests while a router is live (MonitorConfig's
default, and a `check` sweep's)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """One budget's caps; None is uncapped."""

    rpm: int | None = None
    rpd: int | None = None


def budget_limits(providers: Iterable[Provider]) -> dict[str, Limits]:
    """Each budget's caps: the strictest of its member providers'."""
    limits: dict[str, Limits] = {}
    for provider in providers:
        current = limits.get(provider.budget_id, Limits())
        limits[provider.budget_id] = Limits(
            rpm=_min(current.rpm, provider.rpm), rpd=_min(current.rpd, provider.rpd)
        )
    return limits


def _min(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class BudgetLedger(Protocol):
    """What the gate, the monitor and the commands need of a ledger: this module's SQLite
    `Ledger`, or the Redis one a team shares (`core.monitor.ledger_redis`)."""

    def limits(self, budget: str) -> Limits:
        """The caps of one budget."""
        ...

    def try_acquire(self, provider: Provider, model: Model | None, kind: ProbeKind) -> float:
        """Record one request and return 0 when it fits; else the seconds until it may fit."""
        ...

    def try_acquire_many(self, requests: Sequence[Request]) -> list[float]:
        """Check and record requests in order: 0 for each one recorded, else its wait."""
        ...

    def wait(self, provider: Provider, model: Model | None) -> float:
        """Seconds until one more request to `model` would fit (0: now); records nothing."""
        ...

    def pause(self, budget: str, until: float, reason: str) -> None:
        """Pause a budget for everyone until the wall-clock time `until`."""
        ...

    def pauses(self) -> dict[str, float]:
        """Every budget paused now, with the time it resumes."""
        ...

    def paused_until(self, budget: str) -> float | None:
        """When a paused budget resumes (None when it is not paused)."""
        ...

    def state(self, budget: str) -> BudgetState:
        """Requests used and left in the budget's windows."""
        ...

    def router_live(self, live: bool) -> None:
        """Whether a router serves on this machine now: while it does, requests other than
        routed ones leave the `routed_reserve` share of each cap to it."""
        ...


DAY_RECOUNT_S = 60.0
"""How often `Ledger.state` counts a budget's last day whole. In between it counts only the
requests recorded since and the ones that left the day: the whole count walks up to a day of
rows, ~10 ms per Snapshot at 100,000 rows, for every Snapshot of a dashboard left open."""


class Ledger:
    """Checks and records requests against budgets in the shared database."""

    def __init__(
        self,
        db: sqlite3.Connection,
        limits: Mapping[str, Limits],
        *,
        clock: Callable[[], float] = time.time,
        routed_reserve: float = 0.0,
    ) -> None:
        self._db = db
        self._limits = dict(limits)
        self._clock = clock
        self._reserve = routed_reserve
        self._live = True  # a ledger made with a reserve keeps it until told no router runs
        self._model_ids: dict[ModelRef, int] = {}
        # budget -> (counted at, the last ledger id counted, requests in the day then, last whole
        # count at)
        self._day_counts: dict[str, tuple[float, int, int, float]] = {}

    def limits(self, budget: str) -> Limits:
        """The caps of one budget."""
        return self._limits.get(budget, Limits())

    def router_live(self, live: bool) -> None:
        """Whether a router serves on this machine now (the reserve applies only then)."""
        self._live = live

    def try_acquire(self, provider: Provider, model: Model | None, kind: ProbeKind) -> float:
        """Record one request and return 0 when it fits; else the seconds until it may fit."""
        return self.try_acquire_many([(provider, model, kind)])[0]

    def try_acquire_many(self, requests: Sequence[Request]) -> list[float]:
        """Check and record a batch of requests, in order, in one write transaction: 0 for each
        one recorded, else the seconds until it may fit.

        Each window is counted once per batch and then kept in memory as the batch's own grants
        are added; the transaction holds the database's write lock throughout, so no other
        process can grant in between and the count stays exact.
        """
        db = self._db
        batch = _Batch(db, self._clock())
        db.execute("BEGIN IMMEDIATE")
        try:
            waits = [self._grant(batch, *request) for request in requests]
            batch.flush()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return waits

    def wait(
        self, provider: Provider, model: Model | None, kind: ProbeKind = ProbeKind.PROBE
    ) -> float:
        """Seconds until one more request to `model` would fit (0: now); records nothing."""
        mid = self._model_ids.get(ModelRef(provider.id, model.id)) if model is not None else None
        batch = _Batch(self._db, self._clock())
        wait = batch.paused_for(provider.budget_id)
        for column, value, cap, span in self._windows(provider, model, mid, kind):
            wait = max(wait, batch.window_wait(column, value, cap, span))
        return max(0.0, wait)

    def _grant(
        self, batch: _Batch, provider: Provider, model: Model | None, kind: ProbeKind
    ) -> float:
        budget = provider.budget_id
        mid = (
            model_id(self._db, self._model_ids, ModelRef(provider.id, model.id)) if model else None
        )
        windows = self._windows(provider, model, mid, kind)
        wait = batch.paused_for(budget)
        for column, value, cap, span in windows:
            wait = max(wait, batch.window_wait(column, value, cap, span))
        if wait > 0:
            return wait
        batch.add((budget, provider.id, mid, kind.value, batch.now, os.getpid()))
        for column, value, _, span in windows:
            batch.counted(column, value, span)
        return 0.0

    def _windows(
        self, provider: Provider, model: Model | None, mid: int | None, kind: ProbeKind
    ) -> list[tuple[str, str | int, int, float]]:
        """The sliding windows a request counts in: (column, value, cap, span)."""
        budget = provider.budget_id
        caps = self.limits(budget)
        model_rpd = model.rpd if model is not None else None
        if self._reserve > 0 and self._live and kind is not ProbeKind.ROUTED:
            caps = Limits(self._share(caps.rpm), self._share(caps.rpd))
            model_rpd = self._share(model_rpd)
        windows: list[tuple[str, str | int, int, float]] = []
        if caps.rpm is not None:
            windows.append(("budget", budget, caps.rpm, MINUTE))
        if caps.rpd is not None:
            windows.append(("budget", budget, caps.rpd, DAY))
        if model_rpd is not None and mid is not None:
            windows.append(("model_id", mid, model_rpd, DAY))
        return windows

    def _share(self, cap: int | None) -> int | None:
        """The part of a cap that requests other than routed ones may use."""
        return None if cap is None else max(1, math.floor(cap * (1.0 - self._reserve)))

    def pause(self, budget: str, until: float, reason: str) -> None:
        """Pause a budget for every process until the wall-clock time `until`."""
        with transaction(self._db):
            self._db.execute(
                "INSERT INTO pauses (budget, until, reason) VALUES (?,?,?) "
                "ON CONFLICT(budget) DO UPDATE SET until = max(until, excluded.until), "
                "reason = excluded.reason",
                (budget, until, reason),
            )

    def shift(self, delta: float) -> None:
        """The wall clock stepped by `delta`: move the last day's request times and the pauses
        by as much, so the sliding windows hold the same requests as before the step (a step
        forward would otherwise empty the minute, a step back stretch it)."""
        now = self._clock()
        with transaction(self._db):
            self._db.execute(
                "UPDATE ledger SET at = at + ? WHERE at > ?", (delta, now - delta - DAY - 3600)
            )
            self._db.execute("UPDATE pauses SET until = until + ?", (delta,))
        self._day_counts.clear()

    def pauses(self) -> dict[str, float]:
        """Every budget paused now, with the time it resumes."""
        rows = self._db.execute(
            "SELECT budget, until FROM pauses WHERE until > ?", (self._clock(),)
        ).fetchall()
        return {str(budget): float(until) for budget, until in rows}

    def paused_until(self, budget: str) -> float | None:
        """When a paused budget resumes (None when it is not paused)."""
        row = self._db.execute("SELECT until FROM pauses WHERE budget = ?", (budget,)).fetchone()
        now = self._clock()
        return float(row[0]) if row and row[0] > now else None

    def state(self, budget: str) -> BudgetState:
        """Requests used and left in the budget's windows."""
        now = self._clock()
        caps = self.limits(budget)
        (minute,) = self._db.execute(
            "SELECT COUNT(*) FROM ledger WHERE budget = ? AND at > ?", (budget, now - MINUTE)
        ).fetchone()
        day = self._used_day(budget, now)
        return BudgetState(budget, caps.rpm, caps.rpd, int(minute), day, self.paused_until(budget))

    def _used_day(self, budget: str, now: float) -> int:
        """Requests in the budget's last day: counted whole now and then (DAY_RECOUNT_S), else
        the last count plus what was recorded since, less what has aged out of the day since.
        (Rows are kept a day and an hour, so pruning never takes one still in a day. A clock step
        another process moved the rows for is caught up by the next whole count.)"""
        cached = self._day_counts.get(budget)
        if cached is None or now < cached[0] or now - cached[3] >= DAY_RECOUNT_S:
            last_id, count = self._db.execute(
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM ledger), COUNT(*) FROM ledger "
                "WHERE budget = ? AND at > ?",
                (budget, now - DAY),
            ).fetchone()
            self._day_counts[budget] = (now, int(last_id), int(count), now)
            return int(count)
        counted_at, last_id, count, whole_at = cached
        # `+`: walk the ids recorded since, not the budget's whole day in its index.
        newest, added = self._db.execute(
            "SELECT COALESCE(MAX(id), ?), COUNT(*) FROM ledger WHERE id > ? AND +budget = ? "
            "AND +at > ?",
            (last_id, last_id, budget, now - DAY),
        ).fetchone()
        (aged,) = self._db.execute(
            "SELECT COUNT(*) FROM ledger WHERE budget = ? AND at > ? AND at <= ? AND id <= ?",
            (budget, counted_at - DAY, now - DAY, last_id),
        ).fetchone()
        count += int(added) - int(aged)
        self._day_counts[budget] = (now, int(newest), count, whole_at)
        return count


Request = tuple[Provider, Model | None, ProbeKind]
"""What a request is counted as: its provider (so its budget), its model if any, its kind."""


class _Batch:
    """One transaction's view of the ledger: each window counted once, then kept in memory."""

    __slots__ = ("_counts", "_db", "_pauses", "_rows", "now")

    def __init__(self, db: sqlite3.Connection, now: float) -> None:
        self._db = db
        self.now = now
        self._counts: dict[tuple[str, str | int, float], int] = {}
        self._pauses: dict[str, float] = {}
        self._rows: list[tuple[str, str, int | None, str, float, int]] = []

    def paused_for(self, budget: str) -> float:
        """Seconds the budget stays paused (0 when it is not)."""
        until = self._pauses.get(budget)
        if until is None:
            row = self._db.execute("SELECT until FROM pauses WHERE budget = ?", (budget,))
            found = row.fetchone()
            until = self._pauses[budget] = float(found[0]) if found else 0.0
        return until - self.now if until > self.now else 0.0

    def window_wait(self, column: str, value: str | int, cap: int, span: float) -> float:
        """Seconds until a request fits `cap` in the sliding `span` (0 when it fits now)."""
        key = (column, value, span)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = self._db.execute(
                f"SELECT COUNT(*) FROM ledger WHERE {column} = ? AND at > ?",
                (value, self.now - span),
            ).fetchone()[0]
        if count < cap:
            return 0.0
        self.flush()  # the rows granted so far must be in the table the next query reads
        # The window frees a slot when the (count - cap + 1)-th oldest request in it ages out.
        oldest = self._db.execute(
            f"SELECT at FROM ledger WHERE {column} = ? AND at > ? ORDER BY at LIMIT 1 OFFSET ?",
            (value, self.now - span, count - cap),
        ).fetchone()[0]
        return float(oldest + span - self.now) + 0.001

    def counted(self, column: str, value: str | int, span: float) -> None:
        """One more grant in a window already counted."""
        self._counts[(column, value, span)] += 1

    def add(self, row: tuple[str, str, int | None, str, float, int]) -> None:
        """A granted request, written at the next flush (before the transaction commits)."""
        self._rows.append(row)

    def flush(self) -> None:
        """Write the granted rows."""
        if self._rows:
            self._db.executemany(
                "INSERT INTO ledger (budget, provider, model_id, kind, at, pid) "
                "VALUES (?,?,?,?,?,?)",
                self._rows,
            )
            self._rows = []


class RequestGate:
    """Waits until a request fits its provider's budget, then records it before it is sent."""

    def __init__(self, ledger: BudgetLedger, *, poll_s: float = 1.0) -> None:
        self.ledger = ledger
        self._poll_s = poll_s
        self._pending: list[tuple[Request, asyncio.Future[float]]] = []

    async def acquire(
        self,
        provider: Provider,
        model: Model | None,
        kind: ProbeKind,
        *,
        max_wait_s: float = math.inf,
    ) -> bool:
        """Wait for room and record the request; False when that would take over `max_wait_s`."""
        deadline = time.monotonic() + max_wait_s
        while True:
            wait = await self.try_acquire((provider, model, kind))
            if wait <= 0:
                return True
            if time.monotonic() + wait > deadline:
                return False
            # Re-check at least every poll: another process may have released a pause.
            await asyncio.sleep(min(wait, self._poll_s))

    def try_acquire(self, request: Request) -> asyncio.Future[float]:
        """Seconds until `request` may be sent (0: granted and recorded), decided with the
        batch the next loop turn writes: hundreds of probes (or fifty routed requests)
        starting together share one transaction or Redis round trip instead of one each."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._pending.append((request, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        try:
            waits = self.ledger.try_acquire_many([request for request, _ in pending])
        except BaseException as exc:  # handed to every waiter, who re-raises it
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        # A waiter cancelled meanwhile leaves its grant recorded: counting a request that was
        # never sent errs on the side of the budget.
        for (_, future), wait in zip(pending, waits, strict=True):
            if not future.done():
                future.set_result(wait)

    def pause(self, budget_id: str, until: float, reason: str = "429") -> None:
        """Pause a budget until the wall-clock time `until` (after a 429)."""
        self.ledger.pause(budget_id, until, reason)
