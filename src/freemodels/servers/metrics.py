"""Prometheus metrics of the monitor (`serve --metrics`).

One custom collector reads the newest Snapshot at scrape time, so a probe never touches a metric
object; only the probe counter and the TTFT histogram accumulate, and they are fed from the new
samples of each Snapshot. Conventions: base units (seconds, ratios 0..1), per-model series
labelled `provider` and `model` (`outcome` on the counter, `window` on availability), budget
series labelled `budget` alone. No label or value ever carries a key: labels are catalog ids.

    freemodels_probes_total{provider,model,outcome}     probes seen since this process started
    freemodels_probe_ttft_seconds{provider,model}       histogram (OpenTelemetry GenAI buckets)
    freemodels_model_up / _rank / _info                 usable now (1/0), rank (1 = best), names
    freemodels_availability_ratio{provider,model,window}   5m and 30m (absent under 3 samples)
    freemodels_ttft_p50_seconds / _p95 / _last / _jitter   over the window's ok samples
    freemodels_stability{provider,model}                0..100
    freemodels_budget_remaining_minute / _day{budget}   requests left (absent when uncapped)
    freemodels_budget_used_minute / _day, _limit_rpm / _rpd, _paused{budget}
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from freemodels import __version__
from freemodels.core.monitor.stats import WINDOWS, ModelInfo, model_stats
from freemodels.core.records import ModelRef, ModelStats, Outcome, ProbeResult, Snapshot

TTFT_BUCKETS_S = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""OpenTelemetry GenAI semantic conventions: gen_ai.server.time_to_first_token buckets."""

MODEL_LABELS = ("provider", "model")


@dataclass(slots=True)
class _Histogram:
    """Per-bucket (not cumulative) counts, the sum and the count of one model's TTFTs."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(TTFT_BUCKETS_S))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        for index, bound in enumerate(TTFT_BUCKETS_S):
            if seconds <= bound:
                self.buckets[index] += 1
                break
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        points: list[tuple[str, float]] = []
        for bound, count in zip(TTFT_BUCKETS_S, self.buckets, strict=True):
            running += count
            points.append((_go_float(bound), running))
        points.append(("+Inf", self.count))
        return points


class SnapshotCollector(Collector):
    """Metrics of the newest Snapshot; subscribe `observe` to the monitor."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        ledger: Callable[[], tuple[str, bool]] | None = None,
    ) -> None:
        self._ledger = ledger  # the monitor's ledger_status: backend and health
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._since = clock()
        # The newest sample start counted per model: counters count each sample once.
        self._counted: dict[ModelRef, float] = {}
        self._probes: Counter[tuple[str, str, str]] = Counter()
        self._ttft: dict[ModelRef, _Histogram] = {}
        self._short: tuple[Snapshot | None, dict[ModelRef, ModelStats]] = (None, {})

    def observe(self, snapshot: Snapshot) -> None:
        """Take a new Snapshot (called on the monitor's thread)."""
        with self._lock:
            for ref, samples in snapshot.samples.items():
                self._count_new(ref, samples)
            self._snapshot = snapshot

    def _count_new(self, ref: ModelRef, samples: tuple[ProbeResult, ...]) -> None:
        last = self._counted.get(ref, self._since)
        fresh: list[ProbeResult] = []
        # Samples are oldest first: walk back only over the ones not counted yet.
        for sample in reversed(samples):
            if sample.started_at <= last:
                break
            fresh.append(sample)
        if not fresh:
            return
        self._counted[ref] = fresh[0].started_at
        for sample in fresh:
            self._probes[(ref.provider, ref.model, sample.outcome.value)] += 1
            if sample.ttft_ms is not None and sample.outcome is Outcome.OK:
                self._ttft.setdefault(ref, _Histogram()).observe(sample.ttft_ms / 1000)

    def describe(self) -> Iterable[Metric]:
        """No fixed description: series come and go with the catalog."""
        return []

    def collect(self) -> Iterable[Metric]:
        """Every metric family, built from the newest Snapshot."""
        with self._lock:
            snapshot = self._snapshot
            probes = dict(self._probes)
            ttft = {ref: hist.cumulative() for ref, hist in self._ttft.items()}
            ttft_sums = {ref: hist.total for ref, hist in self._ttft.items()}
        yield InfoMetricFamily("freemodels_build", "freemodels version", {"version": __version__})
        yield from _counters(probes, ttft, ttft_sums)
        if self._ledger is not None:
            backend, healthy = self._ledger()
            up = GaugeMetricFamily(
                "freemodels_ledger_up",
                "1 while the request ledger answers (0: Redis unreachable, counting locally)",
                labels=["backend"],
            )
            up.add_metric([backend], 1.0 if healthy else 0.0)
            yield up
        if snapshot is None:
            return
        yield from self._model_gauges(snapshot)
        yield from _budget_gauges(snapshot)
        yield from _monitor_gauges(snapshot)

    def _model_gauges(self, snapshot: Snapshot) -> Iterator[Metric]:
        rows = snapshot.rows
        short = self._short_window(snapshot)
        up = _gauge("freemodels_model_up", "1 when the model is usable now (its rank group)")
        rank = _gauge("freemodels_model_rank", "The model's rank, 1 = best")
        info = GaugeMetricFamily(
            "freemodels_model_info", "Display name of each model (always 1)",
            labels=[*MODEL_LABELS, "name"],
        )  # fmt: skip
        availability = GaugeMetricFamily(
            "freemodels_availability_ratio",
            "ok / (ok + server-side failures); 429 and key problems excluded",
            labels=[*MODEL_LABELS, "window"],
        )
        p50 = _gauge("freemodels_ttft_p50_seconds", "Median time to first token in the window")
        p95 = _gauge("freemodels_ttft_p95_seconds", "95th percentile time to first token")
        last = _gauge("freemodels_ttft_last_seconds", "Time to first token of the latest probe")
        jitter = _gauge("freemodels_ttft_jitter_seconds", "Standard deviation of the TTFTs")
        stability = _gauge("freemodels_stability", "Stability score 0..100")
        samples = _gauge("freemodels_window_samples", "Probes in the window")
        limited = _gauge(
            "freemodels_rate_limited_ratio", "Share of the window's probes answered 429"
        )
        last_at = _gauge(
            "freemodels_last_probe_timestamp_seconds", "Unix time of the model's latest probe"
        )
        window = _window_name(snapshot.window_s)
        for position, row in enumerate(rows, 1):
            labels = [row.provider, row.model]
            up.add_metric(labels, 1.0 if row.usable else 0.0)
            rank.add_metric(labels, position)
            info.add_metric([*labels, row.name], 1.0)
            samples.add_metric(labels, row.samples)
            _add(availability, [*labels, window], row.availability)
            recent = short.get(row.ref)
            if recent is not None:
                _add(availability, [*labels, "5m"], recent.availability)
            _add(p50, labels, _seconds(row.ttft_p50_ms))
            _add(p95, labels, _seconds(row.ttft_p95_ms))
            _add(last, labels, _seconds(row.ttft_ms))
            _add(jitter, labels, _seconds(row.jitter_ms))
            _add(stability, labels, row.stability)
            _add(limited, labels, row.rate_limited_ratio)
            _add(last_at, labels, row.last_at)
        yield from (up, rank, info, availability, p50, p95, last, jitter, stability, samples)
        yield from (limited, last_at)

    def _short_window(self, snapshot: Snapshot) -> dict[ModelRef, ModelStats]:
        """Stats over the last 5 minutes, computed once per Snapshot."""
        cached_for, cached = self._short
        if cached_for is snapshot:
            return cached
        short_s = WINDOWS["5m"]
        stats: dict[ModelRef, ModelStats] = {}
        if snapshot.window_s > short_s:
            for row in snapshot.rows:
                info = ModelInfo(row.provider, row.model, row.name)
                samples = snapshot.samples.get(row.ref, ())
                stats[row.ref] = model_stats(info, samples, snapshot.at, short_s)
        self._short = (snapshot, stats)
        return stats


def _counters(
    probes: dict[tuple[str, str, str], int],
    ttft: dict[ModelRef, list[tuple[str, float]]],
    ttft_sums: dict[ModelRef, float],
) -> Iterator[Metric]:
    counter = CounterMetricFamily(
        "freemodels_probes",
        "Probes seen since this process started, by outcome",
        labels=[*MODEL_LABELS, "outcome"],
    )
    for labels, count in sorted(probes.items()):
        counter.add_metric(list(labels), count)
    yield counter
    histogram = HistogramMetricFamily(
        "freemodels_probe_ttft_seconds",
        "Time to first token of ok probes (seconds)",
        labels=list(MODEL_LABELS),
    )
    for ref, buckets in sorted(ttft.items()):
        histogram.add_metric([ref.provider, ref.model], buckets, ttft_sums[ref])
    yield histogram


def _budget_gauges(snapshot: Snapshot) -> Iterator[Metric]:
    names = {
        "remaining_minute": "Requests left in the sliding minute (absent when uncapped)",
        "remaining_day": "Requests left in the sliding day (absent when uncapped)",
        "used_minute": "Requests sent in the sliding minute, by every freemodels process",
        "used_day": "Requests sent in the sliding day, by every freemodels process",
        "limit_rpm": "The budget's requests-per-minute cap",
        "limit_rpd": "The budget's requests-per-day cap",
        "paused": "1 while a 429 pauses the budget",
    }
    families = {
        key: GaugeMetricFamily(f"freemodels_budget_{key}", doc, labels=["budget"])
        for key, doc in names.items()
    }
    for budget_id, state in sorted(snapshot.budgets.items()):
        labels = [budget_id]
        paused = state.paused_until is not None and state.paused_until > snapshot.at
        values: dict[str, float | None] = {
            "remaining_minute": state.remaining_minute,
            "remaining_day": state.remaining_day,
            "used_minute": state.used_minute,
            "used_day": state.used_day,
            "limit_rpm": state.rpm,
            "limit_rpd": state.rpd,
            "paused": 1.0 if paused else 0.0,
        }
        for key, value in values.items():
            _add(families[key], labels, value)
    yield from families.values()


def _monitor_gauges(snapshot: Snapshot) -> Iterator[Metric]:
    attached = GaugeMetricFamily(
        "freemodels_monitor_attached",
        "1 while this process reads another freemodels process's monitor instead of probing",
        value=1.0 if snapshot.attached else 0.0,
    )
    in_flight = GaugeMetricFamily(
        "freemodels_probes_in_flight", "Probes waiting for an answer", value=len(snapshot.in_flight)
    )
    at = GaugeMetricFamily(
        "freemodels_snapshot_timestamp_seconds",
        "Unix time of the newest Snapshot",
        value=snapshot.at,
    )
    yield from (attached, in_flight, at)


def _go_float(value: float) -> str:
    """A bucket bound as Prometheus writes it (`0.1`, `1.0`, `10.0`)."""
    text = repr(float(value))
    return text if "e" not in text else f"{value:f}".rstrip("0")


def _gauge(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(MODEL_LABELS))


def _add(family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    # Unknown is an absent series, not a zero: a 0 would read as "down" or "instant" in a graph.
    if value is not None:
        family.add_metric(labels, float(value))


def _seconds(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else milliseconds / 1000


def _window_name(window_s: float) -> str:
    for name, seconds in WINDOWS.items():
        if seconds == window_s:
            return name
    return f"{window_s:g}s"


def build_registry(collector: SnapshotCollector, *, process: bool = True) -> CollectorRegistry:
    """A registry with the snapshot collector (and the process's CPU and memory)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    if process:
        ProcessCollector(registry=registry)
    return registry


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """An aiohttp app serving `registry` at /metrics (text or OpenMetrics, as asked)."""

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="freemodels metrics: /metrics\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", index)
    return app
