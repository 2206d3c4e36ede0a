"""`freemodels best --at HH:MM`: the best model at that local time of day, from the last 14 days.

The hour containing HH:MM is taken on each of the last 14 days from the hourly rollups, and the
live ranking's rules (`stats.rank`: usable by the Wilson bound, proven by 3 oks, then p50) are
applied to those hours pooled per model: a pick for scheduling long jobs.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from freemodels.cli.by_hour import load_buckets
from freemodels.core.catalog.parse import Catalog
from freemodels.core.monitor.rhythm import HOUR, Bucket, LocalClock, stats_of_buckets
from freemodels.core.monitor.stats import ModelInfo, rank
from freemodels.core.records import ModelRef, ModelStats
from freemodels.errors import UsageError

LOOKBACK_DAYS = 14
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_time(text: str) -> int:
    """The hour of `HH:MM` (24-hour clock); a usage error otherwise."""
    match = _TIME.match(text.strip())
    if match is None:
        raise UsageError(
            f"--at expects HH:MM (24-hour local time), got {text!r}", "e.g. --at 07:30"
        )
    return int(match.group(1))


def ranked_at(catalog: Catalog, history_path: Path, hour: int) -> list[ModelStats]:
    """Every model with samples at that local hour in the last 14 days, best first."""
    now = time.time()
    clock = LocalClock()
    since = now - LOOKBACK_DAYS * 86400
    # The hour indexes at that local hour (a time zone's DST change moves them: ask the clock).
    first = int(since // HOUR)
    at_hour = [h for h in range(first, int(now // HOUR) + 1) if clock.slot(h * HOUR)[1] == hour]
    groups: dict[ModelRef, list[Bucket]] = {}
    for b in load_buckets(history_path, catalog, since, now, at_hour):
        groups.setdefault(b.ref, []).append(b)
    rows = [
        stats_of_buckets(ModelInfo.of(*catalog.find(ref)), items) for ref, items in groups.items()
    ]
    return rank(rows)
