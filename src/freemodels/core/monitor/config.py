"""How a monitor behaves: its cadence, windows, intervals and role (`MonitorConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from freemodels.core.monitor.budget import ROUTED_RESERVE
from freemodels.core.monitor.scheduler import Cadence
from freemodels.core.monitor.stats import WINDOWS


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """How the monitor behaves; the defaults keep the bundled catalog under every budget."""

    cadence: Cadence = field(default_factory=Cadence)
    timeout_s: float = 15.0
    window_s: float = WINDOWS["30m"]
    publish_interval_s: float = 0.5
    flush_interval_s: float = 1.0
    heartbeat_interval_s: float = 5.0
    stats_refresh_s: float = 5.0
    """A Snapshot is published at least this often, also with nothing new: windows slide, and a
    model whose oldest sample left its window is recomputed then (`windows.SampleWindows`)."""
    prune_interval_s: float = 600.0
    """How often old samples are rolled up and dropped from the history."""
    role: str = "monitor"
    attach: bool = True
    routed_reserve: float = ROUTED_RESERVE
    """Share of each rate cap kept for routed requests while a router serves on this machine
    (or anywhere in a team sharing a Redis ledger): probes use at most the rest (budget.Ledger)."""

    @classmethod
    def for_demo(cls, demo: bool, **overrides: Any) -> MonitorConfig:
        """The default config, or a livelier one on the simulated fleet (which has no quotas)."""
        if demo:
            overrides.setdefault("cadence", Cadence(min_interval_s=5.0))
        return cls(**overrides)
