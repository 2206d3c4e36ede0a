"""Why a model sits where it does in the ranking: one line for the detail pane.

It restates the monitor's rank rule (see `freemodels.core.monitor.stats.rank_key`) for one row,
so a fast model below slower ones, or a flaky one below a steady one, explains itself.
"""

from __future__ import annotations

from freemodels.core.monitor.stats import PROVEN_OK_SAMPLES, RECENT_OK_S
from freemodels.core.records import ModelStats
from freemodels.ui import format as fmt

USABLE_BOUND = 0.5  # the Wilson lower bound of availability a usable model needs


def rank_reason(stats: ModelStats) -> str:
    """`1 ok sample; proven models (≥ 3) rank first`, `availability 33% (lower bound 10%): …`."""
    oks = fmt.count(stats.ok, "ok sample")
    if stats.outcome is None:
        return "not measured yet: ranks after the measured models"
    if stats.usable:
        if stats.ok >= PROVEN_OK_SAMPLES:
            return f"usable, {oks}: proven models rank by p50, then stability"
        return f"{oks}; proven models (≥ {PROVEN_OK_SAMPLES}) rank first"
    if stats.ok == 0:
        return "no ok answer in the window: not usable; ranks by its latest outcome"
    low = stats.availability_low
    if low is not None and low < USABLE_BOUND:
        share = (
            fmt.percent(stats.availability)
            if stats.availability is not None
            else f"{stats.ok} ok of {stats.samples}"
        )
        return f"availability {share} (lower bound {fmt.percent(low)}): not usable"
    return f"no ok answer in the last {RECENT_OK_S / 60:.0f} min: not usable"
