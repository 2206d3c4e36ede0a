"""How numbers and verdicts read in the dashboard: pure functions of a row and `now`."""

from __future__ import annotations

import datetime as dt

from freemodels.core.monitor.stats import is_gone
from freemodels.core.records import BudgetState, Health, ModelStats, Outcome, format_ms, format_wait


def ms(value: float | None) -> str:
    """`1,174 ms` (the one format every screen uses), `-` when unmeasured."""
    return "-" if value is None else format_ms(value)


def count(n: int, noun: str) -> str:
    """`1 ok sample`, `3 ok samples`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def percent(value: float | None) -> str:
    """`97%` from a 0..1 ratio, `-` when unknown."""
    return "-" if value is None else f"{value * 100:.0f}%"


def context(tokens: int | None) -> str:
    """`128k`, `1M`: a context window at a glance; `?` when the catalog does not say."""
    if tokens is None:
        return "?"
    if tokens >= 1_000_000:
        return f"{tokens / 1_048_576:.0f}M" if tokens % 1_048_576 == 0 else f"{tokens / 1e6:.1f}M"
    return f"{round(tokens / 1024)}k"


def swe(score: float | None) -> str:
    """A SWE-bench Verified percentage, `-` when the catalog has none."""
    return "-" if score is None else f"{score:.0f}%"


def countdown(seconds: float) -> str:
    """`42s`, `3m`, `2h`: how long until a pause ends, narrow enough for a cell."""
    return format_wait(seconds, compact=True)


def verdict(row: ModelStats, paused_until: float | None, now: float, probing: bool) -> str:
    """The status column: UP, DOWN, no key, rate limited 42s, waiting, ..."""
    if row.outcome is None:
        return "probing…" if probing else "waiting"
    if row.outcome is Outcome.RATE_LIMITED:
        if paused_until is not None and paused_until > now:
            return f"rate limited {countdown(paused_until - now)}"
        return "rate limited"
    if row.outcome is Outcome.OK:
        return "DOWN" if row.health is Health.DOWN else "UP"
    if is_gone(row, now):
        return "gone?"
    if row.health is Health.DOWN and row.outcome.server_side:
        return f"DOWN {row.outcome.label}"
    return row.outcome.label


def verdict_style(text: str) -> str:
    """The style class of a verdict: good, warn, bad or muted."""
    if text == "UP":
        return "good"
    if text.startswith(("rate limited", "probing", "waiting")):
        return "muted"
    if text in ("no key", "auth failed"):
        return "warn"
    return "bad"


def budget_left(state: BudgetState | None) -> str:
    """`12/30 a minute, 900/1000 a day`, or `no cap` when the budget is unlimited."""
    if state is None:
        return "-"
    parts = []
    if state.rpm is not None:
        parts.append(f"{state.remaining_minute}/{state.rpm} a minute")
    if state.rpd is not None:
        parts.append(f"{state.remaining_day}/{state.rpd} a day")
    return ", ".join(parts) if parts else f"no cap ({state.used_minute} in the last minute)"


FREE_KINDS = {
    "tier": "free tier (renews)",
    "trial": "TRIAL credit: one-time, it runs out",
    "keyless": "keyless: free without a key",
}


def free_kind(kind: str, verified: dt.date | None) -> str:
    """`free tier (renews), verified 2026-11-30`: what kind of free the provider is."""
    text = FREE_KINDS.get(kind, kind)
    return f"{text}, verified {verified.isoformat()}" if verified else text
