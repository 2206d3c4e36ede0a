"""A real Prometheus server scrapes `serve --demo --metrics` and answers PromQL about it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from programs import require_program
from serve_fixtures import fetch, free_port, scrape_until, start_serve

pytestmark = pytest.mark.e2e

TTFT_P50 = (
    "histogram_quantile(0.5, sum by (le, provider, model) "
    "(rate(freemodels_probe_ttft_seconds_bucket[30s])))"
)


def query(base: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    answer = json.loads(fetch(url))
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def wait_for_series(base: str, promql: str, minimum: int, timeout: float) -> list[dict[str, Any]]:
    """Query until at least `minimum` series have a real number (not NaN)."""
    deadline = time.monotonic() + timeout
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            answer = query(base, promql)
        except urllib.error.URLError:  # still starting
            time.sleep(0.3)
            continue
        result = [r for r in answer if r["value"][1] not in ("NaN", "+Inf")]
        if len(result) >= minimum:
            return result
        time.sleep(1)
    pytest.fail(f"{promql}: {len(result)} series after {timeout} s, wanted {minimum}")


def test_prometheus_scrapes_serve_and_answers_about_probes_and_ttft(tmp_path: Path) -> None:
    prometheus = require_program("prometheus", installer="scripts/ci/web.sh")
    # A short --interval so each model's counters move within the test's time.
    serve, metrics_url = start_serve("--demo", "--interval", "2")
    with serve:
        scrape_until(metrics_url, "freemodels_probes")
        target = urllib.parse.urlsplit(metrics_url).netloc
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: freemodels\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
            "        labels: {region: test}\n"
        )
        port = free_port()
        log = (tmp_path / "prometheus.log").open("w")
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            probes = wait_for_series(base, "freemodels_probes_total", minimum=8, timeout=20)
            p50 = wait_for_series(base, TTFT_P50, minimum=5, timeout=25)
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
        assert serve.stop() == 0

    for series in probes:
        labels = series["metric"]
        assert labels["provider"].startswith("demo-") and labels["model"] and labels["outcome"]
        assert labels["region"] == "test" and labels["job"] == "freemodels"
    assert any(s["metric"]["outcome"] == "ok" for s in probes)
    for series in p50:
        assert set(series["metric"]) == {"provider", "model"}
        seconds = float(series["value"][1])
        # The demo's fastest models answer in ~0.1-0.3 s, the slow ones within a few seconds.
        assert 0.01 < seconds < 10.0, series
