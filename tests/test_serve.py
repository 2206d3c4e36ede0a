"""`freemodels serve`: the headless monitor, its metrics endpoint, signals, budgets, bad input."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric

from freemodels.cli import main
from freemodels.core.store.history import History
from freemodels.fleet.demo import demo_env
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.paths import data_dir, history_path
from freemodels.servers.address import Address, parse_address
from serve_fixtures import Freemodels, fetch, scrape_until, start_serve, write_catalog
from waiting import stays, wait_until

MODEL_FAMILIES = (
    "freemodels_probes",
    "freemodels_probe_ttft_seconds",
    "freemodels_model_up",
    "freemodels_model_rank",
    "freemodels_availability_ratio",
    "freemodels_ttft_p50_seconds",
    "freemodels_ttft_p95_seconds",
    "freemodels_stability",
)
BUDGET_FAMILIES = (
    "freemodels_budget_remaining_minute",
    "freemodels_budget_used_minute",
    "freemodels_budget_limit_rpm",
    "freemodels_budget_paused",
)


def test_serve_demo_metrics_parse_with_the_contract_labels_and_sigterm_flushes() -> None:
    serve, url = start_serve("--demo", "--interval", "2")
    with serve:
        scrape_until(url, "freemodels_probe_ttft_seconds")

        def settled(families: dict[str, Metric]) -> bool:
            # Enough probes landed for a 30m availability, an ok outcome and the budget gauges.
            windows = {
                s.labels["window"] for s in families["freemodels_availability_ratio"].samples
            }
            probes = families.get("freemodels_probes")
            outcomes = {s.labels["outcome"] for s in probes.samples} if probes else set()
            return (
                "30m" in windows
                and "ok" in outcomes
                and all(name in families for name in MODEL_FAMILIES + BUDGET_FAMILIES)
            )

        families = scrape_until(url, "freemodels_availability_ratio", timeout=30, until=settled)
        text = fetch(url)
        code = serve.stop(signal.SIGTERM)

    for name in MODEL_FAMILIES + BUDGET_FAMILIES:
        assert name in families, f"{name} missing from /metrics"
    assert families["freemodels_probe_ttft_seconds"].type == "histogram"
    assert families["freemodels_probes"].type == "counter"
    for name in MODEL_FAMILIES:
        for sample in families[name].samples:
            assert {"provider", "model"} <= sample.labels.keys(), (name, sample)
            assert sample.labels["provider"].startswith("demo-")
    outcomes = {s.labels["outcome"] for s in families["freemodels_probes"].samples}
    assert "ok" in outcomes
    windows = {s.labels["window"] for s in families["freemodels_availability_ratio"].samples}
    assert windows <= {"5m", "30m"} and "30m" in windows
    for name in BUDGET_FAMILIES:
        for sample in families[name].samples:
            assert set(sample.labels) == {"budget"}, (name, sample)
    buckets = {
        float(s.labels["le"])
        for s in families["freemodels_probe_ttft_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert {0.001, 0.1, 0.25, 1.0, 10.0, float("inf")} <= buckets
    # The demo keys are real secrets as far as the exporter knows: none may show.
    for key in demo_env().values():
        assert key not in text
        assert key[-8:] not in text

    assert code == 0, serve.stderr
    assert "Traceback" not in serve.stderr
    history = History(data_dir() / "history-demo.sqlite3")
    try:
        samples = history.samples(0)
    finally:
        history.close()
    assert len(samples) >= 8
    assert {s.provider for s in samples} >= {"demo-groq", "demo-cerebras"}


def test_sigint_also_stops_serve_with_exit_0() -> None:
    serve, url = start_serve("--demo")
    with serve:
        scrape_until(url, "freemodels_probes")
        assert serve.stop(signal.SIGINT) == 0
    assert "Traceback" not in serve.stderr


def sliding_max(times: list[float], window: float) -> int:
    """The most timestamps inside any half-open window of `window` seconds."""
    times = sorted(times)
    best = start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_serve_never_exceeds_rpm_at_the_fleet(tmp_path: Path) -> None:
    fleet = Fleet()
    models = [f"m{index:02d}" for index in range(12)]
    for model in models:
        fleet.set("tight", model, Behaviour(ttft_s=0.02, tokens=2))
    with FleetThread(fleet):
        catalog = write_catalog(
            tmp_path / "tight.toml", "tight", fleet.base_url("tight"), models, 6
        )
        # An eager cadence: the scheduler would send far more than 6/min if the budget let it.
        serve, url = start_serve("--catalog", str(catalog), "--interval", "1")
        with serve:
            scrape_until(url, "freemodels_probes")

            def sent() -> int:
                return sum(r.path == "chat/completions" for r in fleet.requests)

            wait_until(lambda: sent() >= 6, timeout=30, what="the budget of 6 to be used up")
            # Eager for 5 s more: a leaky budget would send a 7th request within a second.
            stays(lambda: sent() <= 6, duration=5.0, what="no request past the budget")
            code = serve.stop()
        chats = [r.wall for r in fleet.requests if r.path == "chat/completions"]

    assert code == 0, serve.stderr
    assert len(chats) == 6, f"{len(chats)} requests: the budget should have been used up"
    assert sliding_max(chats, 60.0) <= 6
    history = History(history_path())
    try:
        stored = history.samples(0)
    finally:
        history.close()
    assert 1 <= len(stored) <= len(chats)
    assert {s.model for s in stored} <= set(models)


def test_sliding_max_counts_windows() -> None:
    assert sliding_max([0, 10, 59.9, 60, 61], 60) == 4
    assert sliding_max([], 60) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9464", Address("127.0.0.1", 9464)),
        (":8765", Address("127.0.0.1", 8765)),
        ("9464", Address("127.0.0.1", 9464)),
        ("0.0.0.0:0", Address("0.0.0.0", 0)),
        ("[::1]:9464", Address("::1", 9464)),
        ("localhost:80", Address("localhost", 80)),
        ("metrics.example.org:9464", Address("metrics.example.org", 9464)),
    ],
)
def test_addresses_parse(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    "text", ["", "host:", "host:port", "1.2.3.4:65536", "::1:80", "[nothere]:80", "a b:80", "-x:1"]
)
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_address_kinds() -> None:
    assert parse_address("127.0.0.2:1").is_loopback
    assert parse_address("[::1]:1").is_loopback
    assert parse_address("localhost:1").is_loopback
    assert not parse_address("0.0.0.0:1").is_loopback
    assert parse_address("0.0.0.0:1").is_wildcard
    assert parse_address("[::]:1").is_wildcard
    assert parse_address("[::1]:9").url("/metrics") == "http://[::1]:9/metrics"


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--metrics", "nonsense:port"],
        ["serve", "--metrics", "127.0.0.1:70000"],
        ["serve", "--web", "1.2.3.4:"],
        ["serve", "--interval", "0.1"],
        ["serve", "--web", "--public-url", "ftp://example.org"],
        ["watch"],
    ],
)
def test_bad_arguments_exit_2_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("freemodels: "), err


def test_public_url_without_web_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--public-url", "https://x.example"]) == 2
    assert "--public-url needs --web" in capsys.readouterr().err


def test_a_port_in_use_is_a_one_line_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with Freemodels("serve", "--demo", "--metrics", f"127.0.0.1:{port}") as serve:
            code = serve.process.wait(20)
    lines = [line for line in serve.stderr.splitlines() if line.startswith("freemodels: ")]
    assert code == 2, serve.stderr
    assert len(lines) == 1 and "already in use" in lines[0], serve.stderr
    assert "Traceback" not in serve.stderr
