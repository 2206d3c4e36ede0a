"""A real `freemodels serve` stopped with SIGSTOP for 20 s, then continued: no catch-up burst at
the fleet, and no sample that measured the stop."""

from __future__ import annotations

import bisect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from freemodels.core.store.history import History
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.paths import history_path
from serve_fixtures import start_serve
from waiting import wait_until

pytestmark = pytest.mark.e2e

STOP_S = 20.0
CAPPED = [f"c{i}" for i in range(6)]
OPEN = [f"o{i}" for i in range(8)]


def catalog(path: Path, fleet: Fleet) -> Path:
    lines = ["schema_version = 1"]
    for provider, models, rpm in (("capped", CAPPED, 30), ("open", OPEN, None)):
        lines += [
            f"[providers.{provider}]", f'name = "{provider}"',
            f'base_url = "{fleet.base_url(provider)}"',
            f'api_key_env = ["{provider.upper()}_API_KEY"]',
            'signup_url = "https://example.invalid/keys"', "key_required = false",
        ]  # fmt: skip
        if rpm:
            lines.append(f"rpm = {rpm}")
        for model in models:
            lines += [f"[[providers.{provider}.models]]", f'id = "{model}"', f'name = "{model}"']
            lines.append("context = 8192")
    path.write_text("\n".join(lines) + "\n")
    return path


def in_window(times: list[float], span: float) -> int:
    ordered = sorted(times)
    return max(
        (bisect.bisect_right(ordered, at + span - 1e-9) - i for i, at in enumerate(ordered)),
        default=0,
    )


def test_sigstop_then_sigcont_resumes_without_a_burst(tmp_path: Path) -> None:
    fleet = Fleet()
    for model in CAPPED:
        fleet.set("capped", model, Behaviour(ttft_s=0.02, tokens=2))
    for model in OPEN:
        fleet.set("open", model, Behaviour(ttft_s=0.02, tokens=2))
    with FleetThread(fleet):
        path = catalog(tmp_path / "catalog.toml", fleet)
        serve, _ = start_serve("--catalog", str(path), "--interval", "4")
        with serve:

            def chats(provider: str, after: float = 0.0) -> list[float]:
                return [
                    r.at for r in list(fleet.requests)
                    if r.path == "chat/completions" and r.provider == provider and r.at > after
                ]  # fmt: skip

            wait_until(lambda: len(chats("open")) >= 3 * len(OPEN), timeout=60, what="warm")
            serve.process.send_signal(signal.SIGSTOP)
            stopped = time.monotonic()
            time.sleep(STOP_S)  # the stimulus: a process that does not run for 20 s
            resumed = time.monotonic()
            serve.process.send_signal(signal.SIGCONT)
            wait_until(lambda: len(chats("open", resumed)) >= len(OPEN), timeout=60, what="resumed")
            code = serve.stop()
    assert code == 0, serve.stderr
    assert not chats("open", stopped + 1.0) or min(chats("open", stopped + 1.0)) >= resumed
    # Every open model fell due during the stop; spread over the 4 s cadence, not all at once.
    after = chats("open", resumed)
    burst = sum(1 for at in after if at <= after[0] + 1.0)
    assert burst <= 4, f"{burst} of {len(OPEN)} probes within a second of resuming"
    capped = chats("capped")
    assert in_window(capped, 60.0) <= 30, "the capped budget held across the stop"
    assert sum(1 for at in chats("capped", resumed) if at <= resumed + 1.0) <= 2
    stats = subprocess.run(
        [sys.executable, "-m", "freemodels", "stats", "--json", "--catalog", str(path)],
        capture_output=True, text=True, timeout=60, env=dict(os.environ), check=True,
    )  # fmt: skip
    records = json.loads(stats.stdout)
    assert records and all(
        (r["ttft_p95_ms"] or 0) < STOP_S * 1000 and (r["ttft_ms"] or 0) < STOP_S * 1000
        for r in records
    ), records
    history = History(history_path())
    try:
        stored = history.samples(0)
    finally:
        history.close()
    assert stored and max(s.ttft_ms or 0 for s in stored) < STOP_S * 1000
    assert not [s for s in stored if s.outcome.value == "timeout"], "the stop was no timeout"
