"""Each model's samples in the sliding window, and its stats over them, as time passes.

No I/O, no asyncio and no clock of its own: the caller passes `now`, so a test drives time by
hand. A model's stats are recomputed only when they can have changed: it got a sample, or the
time came when its oldest sample leaves the window (or its last success stops being recent).
Recomputing every model every 5 s instead was a third of the monitor's CPU in a 200 s profile
of `serve` on the real catalog, and grew with the samples each model holds (docs/architecture.md,
"Performance notes").
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from freemodels.core.monitor.stats import RECENT_OK_S, ModelInfo, model_stats, rank
from freemodels.core.records import ModelRef, ModelStats, Outcome, ProbeResult

EARLIER_S = 86400.0
"""How far back a restart looks for the numbers of models with no sample in the window."""


class SampleWindows:
    """The samples of every catalog model inside (now - window_s, now], and their ranked stats."""

    def __init__(self, infos: Iterable[ModelInfo], window_s: float) -> None:
        self.window_s = window_s
        self._infos = {info.ref: info for info in infos}
        self._samples: dict[ModelRef, deque[ProbeResult]] = {ref: deque() for ref in self._infos}
        self._stats: dict[ModelRef, ModelStats] = {}
        self._frozen: dict[ModelRef, tuple[ProbeResult, ...]] = {}
        # The last samples of models with none in the window (from up to a day before the
        # start), shown until each is probed again: a restart resumes with yesterday's numbers.
        self._earlier: dict[ModelRef, tuple[ProbeResult, ...]] = {}
        # When each model's current run of not_found answers began: tracked beyond the window,
        # since "gone?" means a whole day of them (and the backoff makes them sparse).
        self._not_found_since: dict[ModelRef, float] = {}
        self._stale: set[ModelRef] = set(self._infos)
        # When each model's stats change next with no new sample (see `_next_change`).
        self._due: dict[ModelRef, float] = {}
        self._ranked: tuple[ModelStats, ...] = ()

    @property
    def refs(self) -> Collection[ModelRef]:
        """Every model the windows keep, in catalog order."""
        return self._infos.keys()

    def add(self, sample: ProbeResult) -> bool:
        """Take one new sample; False (and ignored) when its model is not in the catalog."""
        ref = sample.ref
        samples = self._samples.get(ref)
        if samples is None:
            return False
        samples.append(sample)
        self._stale.add(ref)
        self._earlier.pop(ref, None)
        if sample.outcome is Outcome.NOT_FOUND:
            self._not_found_since.setdefault(ref, sample.started_at)
        else:
            self._not_found_since.pop(ref, None)
        return True

    def resume_not_found(self, runs: Mapping[ModelRef, float]) -> None:
        """When each model's stored run of not_found answers began (before adding samples)."""
        self._not_found_since = {ref: at for ref, at in runs.items() if ref in self._infos}

    def unmeasured(self) -> list[ModelRef]:
        """The models with no sample in the window."""
        return [ref for ref, samples in self._samples.items() if not samples]

    def resume_earlier(self, samples: Iterable[ProbeResult]) -> None:
        """Older samples standing in for models with none in the window, until they get one."""
        earlier: dict[ModelRef, list[ProbeResult]] = {}
        for sample in samples:
            ref = sample.ref
            if ref in self._infos and not self._samples[ref]:
                earlier.setdefault(ref, []).append(sample)
        self._earlier = {ref: tuple(found) for ref, found in earlier.items()}
        self._stale.update(self._earlier)

    def measured(self) -> bool:
        """Whether any sample held (in a window or standing in) has a TTFT."""
        loaded = (*self._samples.values(), *self._earlier.values())
        return any(s.ttft_ms is not None for samples in loaded for s in samples)

    def refresh(self, now: float) -> tuple[ModelStats, ...]:
        """Every model's stats at `now`, ranked best first; samples past the window drop out."""
        # Windows slide: a model's stats also change when its time comes, with nothing new.
        stale = self._stale
        stale.update(ref for ref, due in self._due.items() if due <= now)
        if not stale:
            return self._ranked
        for ref in stale:
            self._refresh_one(ref, now)
        self._stale = set()
        self._ranked = tuple(rank(self._stats.values()))
        return self._ranked

    def _refresh_one(self, ref: ModelRef, now: float) -> None:
        samples = self._samples[ref]
        while samples and samples[0].started_at <= now - self.window_s:
            samples.popleft()
        earlier = self._earlier.get(ref) if not samples else None
        if earlier:
            # Not probed since the restart yet: the last day's numbers stand in.
            self._stats[ref] = model_stats(self._infos[ref], earlier, now, EARLIER_S)
            self._frozen[ref] = earlier
            self._due[ref] = _next_change(self._stats[ref], earlier, now, EARLIER_S)
            return
        stats = model_stats(self._infos[ref], samples, now, self.window_s)
        since = self._not_found_since.get(ref)
        if since is not None and stats.not_found_since is not None:
            stats = replace(stats, not_found_since=since)
        self._stats[ref] = stats
        self._frozen[ref] = tuple(samples)
        self._due[ref] = _next_change(stats, samples, now, self.window_s)

    def shift(self, delta: float) -> None:
        """The wall clock stepped by `delta`: move the held samples by as much, so the step
        neither ages them out of the window nor keeps them in it longer (the stored history
        keeps the times as measured)."""
        for ref, samples in self._samples.items():
            self._samples[ref] = deque(replace(s, started_at=s.started_at + delta) for s in samples)
        self._not_found_since = {ref: at + delta for ref, at in self._not_found_since.items()}
        self._stale = set(self._infos)

    def samples(self) -> dict[ModelRef, tuple[ProbeResult, ...]]:
        """Each model's samples as of the last refresh, oldest first (sparklines, detail views)."""
        return dict(self._frozen)


def _next_change(
    stats: ModelStats, samples: Iterable[ProbeResult], now: float, window_s: float
) -> float:
    """When `model_stats` over these samples next gives another answer, with no new sample:
    `now` enters it only through the window, (now - window_s, now], and the recent-success test
    (`now - last_ok_at <= RECENT_OK_S`). Samples arrive as probes end, not in start order, so
    every one is looked at."""
    due = math.inf
    for sample in samples:
        at = sample.started_at
        # Inside: it leaves when now - window_s reaches it. Ahead of now (a clock stepped
        # back): it enters when now reaches it.
        change = at + window_s if at <= now else at
        if now < change < due:
            due = change
    if stats.last_ok_at is not None:
        # Recent up to and including last_ok_at + RECENT_OK_S: the first look after it differs.
        recent_until = stats.last_ok_at + RECENT_OK_S
        if recent_until >= now:
            due = min(due, recent_until)
    return due
