"""Prometheus metrics of the router, added to `serve --metrics` when the router runs.

    freemodels_routed_requests_total{provider,model,outcome}   every attempt, by its outcome
    freemodels_router_requests_total{result}                   client requests: routed / failed
    freemodels_router_failovers_total                          attempts beyond a request's first
    freemodels_router_attempts                                 histogram of attempts per request
    freemodels_routed_tokens_total{provider,model,direction}   tokens in and out (streams too)
    freemodels_router_ttft_seconds                             histogram: routing began → first
                                                               token, every attempt included

Counts are plain numbers updated on the event loop (the hot path takes no lock); a scrape reads
them from the same loop, so it never sees half an update.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from freemodels.core.records import ModelRef

TTFT_BUCKETS_S = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0,
)  # fmt: skip
ATTEMPT_BUCKETS = (1.0, 2.0, 3.0, 4.0)


class _Histogram:
    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[index] += 1
                break
        self.total += value
        self.count += 1

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        running = 0
        points: list[tuple[str, float]] = []
        for bound, count in zip(self.bounds, self.counts, strict=True):
            running += count
            points.append((repr(float(bound)), running))
        points.append(("+Inf", self.count))
        return HistogramMetricFamily(name, documentation, buckets=points, sum_value=self.total)


class RouterMetrics(Collector):
    """The router's counters; register it in the metrics registry."""

    def __init__(self) -> None:
        self._attempts: Counter[tuple[str, str, str]] = Counter()
        self._requests: Counter[str] = Counter()
        self._failovers = 0
        self._per_request = _Histogram(ATTEMPT_BUCKETS)
        self._tokens: Counter[tuple[str, str, str]] = Counter()
        self._ttft = _Histogram(TTFT_BUCKETS_S)

    def attempt(self, ref: ModelRef, outcome: str) -> None:
        """One request sent to a model ended with `outcome`."""
        self._attempts[(ref.provider, ref.model, outcome)] += 1

    def request_routed(self, attempts: int) -> None:
        """A client request got an answer after `attempts` attempts."""
        self._request("routed", attempts)

    def request_failed(self, attempts: int) -> None:
        """A client request got an error after `attempts` attempts."""
        self._request("failed", attempts)

    def _request(self, result: str, attempts: int) -> None:
        self._requests[result] += 1
        self._failovers += max(0, attempts - 1)
        if attempts:
            self._per_request.observe(attempts)

    def tokens(self, ref: ModelRef, tokens_in: int, tokens_out: int) -> None:
        """Tokens a routed answer consumed and produced."""
        self._tokens[(ref.provider, ref.model, "in")] += tokens_in
        self._tokens[(ref.provider, ref.model, "out")] += tokens_out

    def ttft(self, seconds: float) -> None:
        """The time to the first token of a routed answer."""
        self._ttft.observe(seconds)

    def describe(self) -> Iterable[Metric]:
        """No fixed description: series come and go with the traffic."""
        return []

    def collect(self) -> Iterable[Metric]:
        """Every router metric family."""
        attempts = CounterMetricFamily(
            "freemodels_routed_requests",
            "Requests the router sent to each model, by outcome",
            labels=["provider", "model", "outcome"],
        )
        for (provider, model, outcome), count in sorted(self._attempts.items()):
            attempts.add_metric([provider, model, outcome], count)
        yield attempts
        requests = CounterMetricFamily(
            "freemodels_router_requests", "Client requests, by result", labels=["result"]
        )
        for result, count in sorted(self._requests.items()):
            requests.add_metric([result], count)
        yield requests
        yield CounterMetricFamily(
            "freemodels_router_failovers",
            "Attempts beyond the first of each client request",
            value=self._failovers,
        )
        yield self._per_request.family("freemodels_router_attempts", "Attempts per client request")
        tokens = CounterMetricFamily(
            "freemodels_routed_tokens",
            "Tokens in (prompt) and out (completion) of routed answers",
            labels=["provider", "model", "direction"],
        )
        for (provider, model, direction), count in sorted(self._tokens.items()):
            tokens.add_metric([provider, model, direction], count)
        yield tokens
        yield self._ttft.family(
            "freemodels_router_ttft_seconds", "Time to first token of routed answers"
        )
