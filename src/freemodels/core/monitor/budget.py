"""Rate budgets: the single gate every request passes (docs/architecture.md, "Rate budgets").

In any sliding 60 s window the requests to one budget never exceed its `rpm`, nor `rpd` in 24 h,
nor a model's own `rpd`. The count lives in the history database's `ledger` table, so every
freemodels process on the machine (dashboard, `serve`, `check`, web sessions) shares it: a
request is recorded inside the same write transaction that checked the room for it, before it is
sent. A 429 pauses the budget for everyone through the `pauses` table.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from freemodels.core.records import BudgetState, Model, ModelRef, ProbeKind, Provider
from freemodels.core.store.history import model_id, transaction

MINUTE = 60.0
DAY = 86400.0


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


class Ledger:
    """Checks and records requests against budgets in the shared database."""

    def __init__(
        self,
        db: sqlite3.Connection,
        limits: Mapping[str, Limits],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._limits = dict(limits)
        self._clock = clock
        self._model_ids: dict[ModelRef, int] = {}

    def limits(self, budget: str) -> Limits:
        """The caps of one budget."""
        return self._limits.get(budget, Limits())

    def try_acquire(self, provider: Provider, model: Model | None, kind: ProbeKind) -> float:
        """Record one request and return 0 when it fits; else the seconds until it may fit."""
        budget = provider.budget_id
        caps = self.limits(budget)
        model_rpd = model.rpd if model is not None else None
        now = self._clock()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            mid = model_id(db, self._model_ids, ModelRef(provider.id, model.id)) if model else None
            wait = self._wait(budget, caps, mid, model_rpd, now)
            if wait <= 0:
                db.execute(
                    "INSERT INTO ledger (budget, provider, model_id, kind, at, pid) "
                    "VALUES (?,?,?,?,?,?)",
                    (budget, provider.id, mid, kind.value, now, os.getpid()),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return max(0.0, wait)

    def wait(self, provider: Provider, model: Model | None) -> float:
        """Seconds until one more request to `model` would fit (0: now); records nothing."""
        mid = self._model_ids.get(ModelRef(provider.id, model.id)) if model is not None else None
        model_rpd = model.rpd if model is not None else None
        caps = self.limits(provider.budget_id)
        return max(0.0, self._wait(provider.budget_id, caps, mid, model_rpd, self._clock()))

    def _wait(
        self, budget: str, caps: Limits, mid: int | None, model_rpd: int | None, now: float
    ) -> float:
        db = self._db
        row = db.execute("SELECT until FROM pauses WHERE budget = ?", (budget,)).fetchone()
        wait = row[0] - now if row and row[0] > now else 0.0
        if caps.rpm is not None:
            wait = max(wait, self._window_wait("budget = ?", (budget,), caps.rpm, MINUTE, now))
        if caps.rpd is not None:
            wait = max(wait, self._window_wait("budget = ?", (budget,), caps.rpd, DAY, now))
        if model_rpd is not None and mid is not None:
            wait = max(wait, self._window_wait("model_id = ?", (mid,), model_rpd, DAY, now))
        return wait

    def _window_wait(
        self, where: str, params: tuple[str | int, ...], cap: int, span: float, now: float
    ) -> float:
        """Seconds until a request fits `cap` in the sliding `span` (0 when it fits now)."""
        count = self._db.execute(
            f"SELECT COUNT(*) FROM ledger WHERE {where} AND at > ?", (*params, now - span)
        ).fetchone()[0]
        if count < cap:
            return 0.0
        # The window frees a slot when the (count - cap + 1)-th oldest request in it ages out.
        oldest = self._db.execute(
            f"SELECT at FROM ledger WHERE {where} AND at > ? ORDER BY at LIMIT 1 OFFSET ?",
            (*params, now - span, count - cap),
        ).fetchone()[0]
        return float(oldest + span - now) + 0.001

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
        minute, day = self._db.execute(
            "SELECT COALESCE(SUM(at > ?), 0), COUNT(*) FROM ledger WHERE budget = ? AND at > ?",
            (now - MINUTE, budget, now - DAY),
        ).fetchone()
        return BudgetState(
            budget, caps.rpm, caps.rpd, int(minute), int(day), self.paused_until(budget)
        )


class RequestGate:
    """Waits until a request fits its provider's budget, then records it before it is sent."""

    def __init__(self, ledger: Ledger, *, poll_s: float = 1.0) -> None:
        self.ledger = ledger
        self._poll_s = poll_s

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
            wait = self.ledger.try_acquire(provider, model, kind)
            if wait <= 0:
                return True
            if time.monotonic() + wait > deadline:
                return False
            # Re-check at least every poll: another process may have released a pause.
            await asyncio.sleep(min(wait, self._poll_s))

    def pause(self, budget_id: str, until: float, reason: str = "429") -> None:
        """Pause a budget until the wall-clock time `until` (after a 429)."""
        self.ledger.pause(budget_id, until, reason)
