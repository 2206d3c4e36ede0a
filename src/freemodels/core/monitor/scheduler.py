"""Which model to probe next, and when: the scheduling policy, with no I/O and no clock of its own.

Per budget (a provider, or providers sharing a `budget`), requests are spaced so the steady
cadence stays within `headroom` of the budget's rpm and rpd; the request ledger is the hard cap on
top. Within a budget the models take turns (fewest probes this run first), favourites and the
currently best-ranked first within a turn. A model is never probed twice at once, nor more often
than `min_interval_s`. Models that keep answering not_found back off: 1 min, 5 min, 30 min, 1 h.
A warm-up lets every model that has no recent sample be probed as fast as the budgets allow, so a
first ranking shows quickly, while spending at most a tenth of a daily budget on it.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from freemodels.core.monitor.budget import DAY, MINUTE, Limits
from freemodels.core.records import Model, ModelRef, Outcome, Provider

NOT_FOUND_BACKOFF_S = (60.0, 300.0, 1800.0, 3600.0)
WARMUP_DAILY_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often probes go out."""

    min_interval_s: float = 60.0
    """Never probe one model more often than this."""
    headroom: float = 0.5
    """The steady cadence uses at most this share of a budget's rpm and rpd: the rest is left
    to the user's own coding traffic, which shares the key and the quota."""
    jitter: float = 0.1
    """Slots move by up to ±10 % so processes and providers do not fire in lockstep."""


@dataclass(slots=True)
class _ModelState:
    ref: ModelRef
    provider: Provider
    model: Model
    probes: int = 0
    last_at: float | None = None
    in_flight: bool = False
    not_found_streak: int = 0
    backoff_until: float = 0.0


@dataclass(slots=True)
class _BudgetState:
    budget: str
    limits: Limits
    members: list[_ModelState] = field(default_factory=list)
    next_at: float = 0.0
    warmup_left: int = 0
    starved: bool = False
    recent: deque[float] = field(default_factory=deque)  # this minute's dispatch times

    def minute_full(self, now: float) -> float | None:
        """When the sliding minute has room again, if it is full now (rpm counts bursts too)."""
        while self.recent and self.recent[0] <= now - MINUTE:
            self.recent.popleft()
        if self.limits.rpm is None or len(self.recent) < self.limits.rpm:
            return None
        return self.recent[len(self.recent) - self.limits.rpm] + MINUTE


def spacing_s(limits: Limits, headroom: float) -> float:
    """Seconds between two requests of one budget in the steady cadence (0 when uncapped)."""
    gaps = [0.0]
    if limits.rpm:
        gaps.append(MINUTE / (limits.rpm * headroom))
    if limits.rpd:
        gaps.append(DAY / (limits.rpd * headroom))
    return max(gaps)


class Scheduler:
    """Tracks every model's turn and hands out the next (provider, model) per budget."""

    def __init__(
        self,
        providers: Iterable[Provider],
        limits: Mapping[str, Limits],
        cadence: Cadence = Cadence(),
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.cadence = cadence
        self._rng = rng or random.Random()
        self._models: dict[ModelRef, _ModelState] = {}
        self._budgets: dict[str, _BudgetState] = {}
        for provider in providers:
            budget = self._budgets.setdefault(
                provider.budget_id,
                _BudgetState(provider.budget_id, limits.get(provider.budget_id, Limits())),
            )
            for model in provider.models:
                state = _ModelState(ModelRef(provider.id, model.id), provider, model)
                self._models[state.ref] = state
                budget.members.append(state)
        for budget in self._budgets.values():
            budget.warmup_left = len(budget.members)
            if budget.limits.rpd:
                share = max(1, int(budget.limits.rpd * WARMUP_DAILY_SHARE))
                budget.warmup_left = min(budget.warmup_left, share)
        self._priority: dict[ModelRef, int] = {}

    def budgets(self) -> list[str]:
        """Every budget id."""
        return list(self._budgets)

    def set_priority(self, ordered: Iterable[ModelRef]) -> None:
        """Models to favour within a turn, best first (favourites, then the current ranking)."""
        self._priority = {ref: index for index, ref in enumerate(ordered)}

    def seen(self, ref: ModelRef, at: float) -> None:
        """A sample from history (warm start) or another process: this model needs no warm-up."""
        state = self._models.get(ref)
        if state is not None and (state.last_at is None or at > state.last_at):
            state.last_at = at

    def next_due(self, now: float) -> float:
        """The earliest time any budget may send again."""
        return min((b.next_at for b in self._budgets.values()), default=now + 1.0)

    def take(self, budget_id: str, now: float) -> tuple[Provider, Model] | None:
        """The model this budget should probe now, marked in flight; None when none is due."""
        budget = self._budgets[budget_id]
        if now < budget.next_at:
            return None
        full_until = budget.minute_full(now)
        if full_until is not None:
            budget.next_at = full_until
            return None
        candidates = [s for s in budget.members if self._eligible(s, now)]
        if not candidates:
            # Look again when the first member's interval or backoff is over, or as soon as a
            # probe of this budget finishes. (Looking again every half second woke an idle
            # dashboard's loop some twenty times a second across the catalog's budgets.)
            budget.next_at = self._first_eligible(budget, now)
            budget.starved = True
            return None
        default_rank = len(self._priority)
        state = min(
            candidates,
            key=lambda s: (
                s.probes,
                s.last_at is not None,
                self._priority.get(s.ref, default_rank),
                s.last_at or 0.0,
            ),
        )
        warming = state.last_at is None and budget.warmup_left > 0
        if warming:
            budget.warmup_left -= 1
        if warming and budget.warmup_left > 0:
            gap = 0.0
        else:
            gap = spacing_s(budget.limits, self.cadence.headroom)
            gap *= 1 + self._rng.uniform(-self.cadence.jitter, self.cadence.jitter)
        budget.next_at = now + gap
        budget.recent.append(now)
        state.in_flight = True
        state.probes += 1
        state.last_at = now
        return state.provider, state.model

    def _first_eligible(self, budget: _BudgetState, now: float) -> float:
        """When the first member not in flight may be probed (all in flight: a cadence on, unless
        one finishing wakes the budget before)."""
        interval = self.cadence.min_interval_s
        return min(
            (
                max(s.backoff_until, now if s.last_at is None else s.last_at + interval)
                for s in budget.members
                if not s.in_flight
            ),
            default=now + interval,
        )

    def _eligible(self, state: _ModelState, now: float) -> bool:
        if state.in_flight or now < state.backoff_until:
            return False
        return state.last_at is None or now - state.last_at >= self.cadence.min_interval_s

    def done(self, ref: ModelRef, outcome: Outcome | None, now: float) -> bool:
        """A probe finished (None: no request went out): release the model, apply backoffs.
        True when its budget, which had no model to send, may send again now."""
        freed = self._free(ref, now)
        if freed is None:
            return False
        state, woken = freed
        if outcome is None:
            # Its turn did not happen: give it back.
            state.probes -= 1
            state.last_at = None if state.probes == 0 else state.last_at
        elif outcome is Outcome.NOT_FOUND:
            step = min(state.not_found_streak, len(NOT_FOUND_BACKOFF_S) - 1)
            state.backoff_until = now + NOT_FOUND_BACKOFF_S[step]
            state.not_found_streak += 1
        else:
            state.not_found_streak = 0
            state.backoff_until = 0.0
        return woken

    def delay(self, budget_id: str, until: float) -> None:
        """Hold a budget back (paused after a 429, or no room in the ledger)."""
        budget = self._budgets[budget_id]
        budget.next_at = max(budget.next_at, until)

    def reset_turn(self, ref: ModelRef) -> None:
        """Make a model due now (the user asked for a re-probe)."""
        state = self._models.get(ref)
        if state is not None:
            state.last_at = None
            state.backoff_until = 0.0
            self._budgets[state.provider.budget_id].next_at = 0.0

    def in_flight(self) -> frozenset[ModelRef]:
        """Models with a probe under way."""
        return frozenset(ref for ref, s in self._models.items() if s.in_flight)

    # -- time that jumped (see core.monitor.gaps) ----------------------------------------------

    def shift(self, delta: float) -> None:
        """The wall clock stepped by `delta`: move every time held by as much, so no turn comes
        early or late for it."""
        for state in self._models.values():
            if state.last_at is not None:
                state.last_at += delta
            if state.backoff_until:
                state.backoff_until += delta
        for budget in self._budgets.values():
            budget.next_at += delta
            budget.recent = deque(at + delta for at in budget.recent)

    def spread(self, now: float) -> None:
        """After a pause (a stop, a sleep), turns that fell due meanwhile are spread over one
        cadence, in the order they fell due, instead of all firing on resuming."""
        interval = self.cadence.min_interval_s
        for budget in self._budgets.values():
            overdue = sorted(
                (
                    s
                    for s in budget.members
                    if s.last_at is not None and now - s.last_at >= interval
                ),
                key=lambda s: s.last_at or 0.0,
            )
            period = max(interval, spacing_s(budget.limits, self.cadence.headroom) * len(overdue))
            for index, state in enumerate(overdue):
                state.last_at = now + period * index / len(overdue) - interval
            budget.next_at = max(budget.next_at, now)

    def release(self, ref: ModelRef) -> bool:
        """A probe's result was discarded (it spanned a pause): the model is free again, and its
        turn counts as taken (the request went out). True as `done` says it."""
        freed = self._free(ref, 0.0)  # 0: look again; `take` works out when it may send
        return freed is not None and freed[1]

    def _free(self, ref: ModelRef, due: float) -> tuple[_ModelState, bool] | None:
        """Mark a model no longer in flight; a budget that had no model to send is due by `due`
        (and the second item says so)."""
        state = self._models.get(ref)
        if state is None:
            return None
        state.in_flight = False
        budget = self._budgets[state.provider.budget_id]
        woken = budget.starved
        if woken:
            budget.starved = False
            budget.next_at = min(budget.next_at, due)
        return state, woken
