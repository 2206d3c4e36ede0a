"""`freemodels watch --json-lines`: one record per model update, flushed, quiet on SIGINT."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

from freemodels.cli.updates import UpdateWriter
from freemodels.core.monitor.stats import ModelInfo, model_stats, rank
from freemodels.core.records import Outcome, ProbeResult, Snapshot
from freemodels.paths import data_dir
from serve_fixtures import Freemodels, scrape_until, start_serve, wait_for_heartbeat

RECORD_FIELDS = [
    "rank", "provider", "model", "name", "outcome", "http_status", "samples", "ok",
    "availability", "ttft_ms", "ttft_p50_ms", "ttft_p95_ms", "total_ms", "jitter_ms",
    "stability", "error",
]  # fmt: skip
INFOS = (ModelInfo("a", "one", "One"), ModelInfo("b", "two", "Two"), ModelInfo("c", "idle", "I"))


def snapshot(samples: list[ProbeResult], now: float) -> Snapshot:
    rows = [
        model_stats(info, [s for s in samples if s.model == info.model], now, 1800)
        for info in INFOS
    ]
    return Snapshot(now, 1800, tuple(rank(rows)))


def test_writer_emits_a_line_only_when_a_models_latest_sample_changes() -> None:
    out = io.StringIO()
    writer = UpdateWriter(out)
    first = [ProbeResult("a", "one", Outcome.OK, 100.0, 200, 120.0, 130.0)]
    assert writer.observe(snapshot(first, 101)) == 1
    assert writer.observe(snapshot(first, 102)) == 0  # stats aged, no new sample
    second = [*first, ProbeResult("b", "two", Outcome.SERVER_ERROR, 103.0, 503)]
    assert writer.observe(snapshot(second, 104)) == 1
    third = [*second, ProbeResult("a", "one", Outcome.OK, 105.0, 200, 90.0, 95.0)]
    assert writer.observe(snapshot(third, 106)) == 1
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["provider"], r["samples"]) for r in records] == [("a", 1), ("b", 1), ("a", 2)]
    assert all(list(r) == RECORD_FIELDS for r in records)
    assert records[1]["outcome"] == "server_error" and records[1]["ttft_ms"] is None
    assert records[2]["rank"] == 1 and records[2]["ttft_ms"] == 90.0


def test_watch_demo_prints_flushed_records_and_sigint_exits_0_quietly() -> None:
    with Freemodels("watch", "--demo", "--json-lines") as watch:
        lines = watch.wait_for_stdout_lines(8, timeout=20)
        code = watch.stop(signal.SIGINT)
    assert code == 0, watch.stderr
    assert "Traceback" not in watch.stderr and "KeyboardInterrupt" not in watch.stderr
    records = [json.loads(line) for line in lines]
    assert all(list(r) == RECORD_FIELDS for r in records)
    assert len({(r["provider"], r["model"]) for r in records}) >= 8
    assert {r["outcome"] for r in records} >= {"ok"}
    assert all(r["provider"].startswith("demo-") for r in records)


def test_watch_attaches_to_a_running_serve_instead_of_probing(tmp_path: Path) -> None:
    log = tmp_path / "watch.log"
    serve, url = start_serve("--demo", "--interval", "2")
    with serve:
        scrape_until(url, "freemodels_probes")
        wait_for_heartbeat(data_dir() / "history-demo.sqlite3")  # watch attaches to it
        with Freemodels("watch", "--demo", "--json-lines", "--debug", str(log)) as watch:
            lines = watch.wait_for_stdout_lines(8, timeout=25)
            assert watch.stop(signal.SIGTERM) == 0, watch.stderr
        assert serve.stop() == 0
    assert f"attached to the monitor of process {serve.process.pid}" in log.read_text()
    records = [json.loads(line) for line in lines]
    assert len({(r["provider"], r["model"]) for r in records}) >= 8
