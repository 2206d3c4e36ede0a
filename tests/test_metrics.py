"""The Prometheus collector: counts each sample once, reads the newest Snapshot, never a key."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from freemodels.core.monitor.stats import ModelInfo, model_stats, rank
from freemodels.core.records import BudgetState, ModelRef, Outcome, ProbeResult, Snapshot
from freemodels.servers.metrics import TTFT_BUCKETS_S, SnapshotCollector, build_registry

START = 1_800_000_000.0
INFOS = {
    ModelRef("groq", "llama"): ModelInfo("groq", "llama", "Llama"),
    ModelRef("nim", "kimi/k2"): ModelInfo("nim", "kimi/k2", "Kimi K2"),
}


def sample(provider: str, model: str, at: float, outcome: Outcome, ttft_ms: float | None = None):
    return ProbeResult(provider, model, outcome, at, 200 if outcome is Outcome.OK else 500, ttft_ms)


def snapshot(samples: list[ProbeResult], now: float, **extra: object) -> Snapshot:
    by_model = {ref: tuple(s for s in samples if s.ref == ref) for ref in INFOS}
    rows = rank(model_stats(INFOS[ref], by_model[ref], now, 1800.0) for ref in INFOS)
    return Snapshot(at=now, window_s=1800.0, rows=tuple(rows), samples=by_model, **extra)  # type: ignore[arg-type]


def families(collector: SnapshotCollector) -> dict[str, list[Sample]]:
    text = generate_latest(build_registry(collector, process=False)).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], metric: str, /, **labels: str) -> float | None:
    for s in samples:
        if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def test_each_sample_is_counted_once_across_snapshots_and_warm_start_is_not() -> None:
    collector = SnapshotCollector(clock=lambda: START)
    old = sample("groq", "llama", START - 60, Outcome.OK, 150.0)  # from the history (warm start)
    first = sample("groq", "llama", START + 1, Outcome.OK, 150.0)
    second = sample("groq", "llama", START + 2, Outcome.RATE_LIMITED)
    third = sample("nim", "kimi/k2", START + 2, Outcome.OK, 3000.0)
    collector.observe(snapshot([old, first], START + 1.5))
    collector.observe(snapshot([old, first, second, third], START + 3))
    collector.observe(snapshot([old, first, second, third], START + 4))  # nothing new

    got = families(collector)
    probes = got["freemodels_probes"]
    assert value(probes, "freemodels_probes_total", model="llama", outcome="ok") == 1
    assert value(probes, "freemodels_probes_total", model="llama", outcome="rate_limited") == 1
    assert value(probes, "freemodels_probes_total", model="kimi/k2", outcome="ok") == 1
    ttft = got["freemodels_probe_ttft_seconds"]
    assert value(ttft, "freemodels_probe_ttft_seconds_count", model="llama") == 1
    assert value(ttft, "freemodels_probe_ttft_seconds_sum", model="llama") == 0.15
    assert value(ttft, "freemodels_probe_ttft_seconds_bucket", model="llama", le="0.1") == 0
    assert value(ttft, "freemodels_probe_ttft_seconds_bucket", model="llama", le="0.25") == 1
    assert value(ttft, "freemodels_probe_ttft_seconds_bucket", model="kimi/k2", le="2.5") == 0
    assert value(ttft, "freemodels_probe_ttft_seconds_bucket", model="kimi/k2", le="5.0") == 1
    assert value(ttft, "freemodels_probe_ttft_seconds_bucket", model="kimi/k2", le="+Inf") == 1
    les = [
        s.labels["le"] for s in ttft if s.name.endswith("_bucket") and s.labels["model"] == "llama"
    ]
    assert les == [*(repr(b) for b in TTFT_BUCKETS_S), "+Inf"]


def test_gauges_follow_the_newest_snapshot_and_unknowns_are_absent() -> None:
    collector = SnapshotCollector(clock=lambda: START)
    oks = [sample("groq", "llama", START + i, Outcome.OK, 100.0 + i) for i in range(5)]
    collector.observe(snapshot(oks, START + 10))
    got = families(collector)
    assert value(got["freemodels_model_up"], "freemodels_model_up", model="llama") == 1
    assert value(got["freemodels_model_up"], "freemodels_model_up", model="kimi/k2") == 0
    assert value(got["freemodels_model_rank"], "freemodels_model_rank", model="llama") == 1
    p50 = got["freemodels_ttft_p50_seconds"]
    assert value(p50, "freemodels_ttft_p50_seconds", model="llama") == 0.102
    # Kimi has no sample: no p50, no availability (absent, not a misleading 0).
    assert value(p50, "freemodels_ttft_p50_seconds", model="kimi/k2") is None
    availability = got["freemodels_availability_ratio"]
    assert value(availability, "freemodels_availability_ratio", model="llama", window="30m") == 1
    assert value(availability, "freemodels_availability_ratio", model="llama", window="5m") == 1
    assert value(availability, "freemodels_availability_ratio", model="kimi/k2") is None
    info = got["freemodels_model_info"]
    assert value(info, "freemodels_model_info", model="kimi/k2", name="Kimi K2") == 1

    fails = [sample("groq", "llama", START + 20 + i, Outcome.SERVER_ERROR) for i in range(5)]
    collector.observe(snapshot(oks + fails, START + 30))
    got = families(collector)
    assert value(got["freemodels_model_up"], "freemodels_model_up", model="llama") == 0
    ratio = value(
        got["freemodels_availability_ratio"], "freemodels_availability_ratio", window="30m"
    )
    assert ratio == 0.5


def test_budget_gauges_carry_only_the_budget_label() -> None:
    collector = SnapshotCollector(clock=lambda: START)
    budgets = {
        "openrouter": BudgetState("openrouter", 20, 50, 4, 30, paused_until=START + 100),
        "groq": BudgetState("groq", None, None, 7, 70),
    }
    collector.observe(snapshot([], START + 1, budgets=budgets))
    got = families(collector)
    remaining = got["freemodels_budget_remaining_minute"]
    assert value(remaining, "freemodels_budget_remaining_minute", budget="openrouter") == 16
    # Uncapped: absent rather than a fake number.
    assert value(remaining, "freemodels_budget_remaining_minute", budget="groq") is None
    assert value(got["freemodels_budget_remaining_day"], "freemodels_budget_remaining_day") == 20
    paused = got["freemodels_budget_paused"]
    assert value(paused, "freemodels_budget_paused", budget="openrouter") == 1
    assert value(paused, "freemodels_budget_paused", budget="groq") == 0
    for name, samples in got.items():
        if name.startswith("freemodels_budget_"):
            assert all(set(s.labels) == {"budget"} for s in samples), name


def test_before_the_first_snapshot_only_build_info_and_empty_families() -> None:
    got = families(SnapshotCollector())
    assert got["freemodels_build_info"][0].labels["version"]
    assert got["freemodels_probes"] == []
    assert "freemodels_model_up" not in got


def test_no_label_or_value_carries_a_key_even_in_an_error_text() -> None:
    secret = "gsk_live0secret0value0abcd"
    collector = SnapshotCollector(clock=lambda: START)
    failed = ProbeResult(
        "groq", "llama", Outcome.AUTH_FAILED, START + 1, 401, error=f"Invalid API Key: {secret}"
    )
    collector.observe(snapshot([failed], START + 2))
    text = generate_latest(build_registry(collector)).decode()
    assert secret not in text and "Invalid API Key" not in text
    assert 'outcome="auth_failed"' in text


def test_the_ledger_backend_and_its_health_are_a_gauge() -> None:
    status = ["redis", True]
    collector = SnapshotCollector(ledger=lambda: (str(status[0]), bool(status[1])))
    assert value(families(collector)["freemodels_ledger_up"], "freemodels_ledger_up") == 1.0
    status[1] = False
    got = families(collector)["freemodels_ledger_up"]
    assert value(got, "freemodels_ledger_up", backend="redis") == 0.0
    assert "freemodels_ledger_up" not in families(SnapshotCollector())
