"""`serve --router` as users run it: the heartbeat names it, routed samples reach the history,
metrics count it, and a real coding tool (OpenCode) gets its answer through it."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from freemodels.core.monitor.budget import Ledger, budget_limits
from freemodels.core.records import Model, ProbeKind, Provider, Snapshot
from freemodels.core.store.history import ROUTER_ONLY_ROLE, History
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.paths import history_path
from freemodels.ui.preferences import Preferences
from freemodels.ui.widgets.status import status_text
from integrations_fixtures import run_tool, tool_binary
from serve_fixtures import Freemodels, free_port, scrape_until, write_catalog


def _post(url: str, body: dict[str, object]) -> tuple[dict[str, str], dict[str, object]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{exc.code}: {exc.read().decode()}") from None


def _start(catalog: Path, *extra: str) -> tuple[Freemodels, str]:
    port = free_port()
    serve = Freemodels("serve", "--catalog", str(catalog), "--router", f"127.0.0.1:{port}", *extra)
    url = serve.wait_for_stderr(r"router: (http://127\.0\.0\.1:\d+)/v1").group(1)
    return serve, url


def _wait(condition: object, within_s: float = 30.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "the condition did not become true in time"
        time.sleep(0.2)


def test_serve_router_answers_records_samples_and_names_itself_in_the_heartbeat(
    tmp_path: Path,
) -> None:
    fleet = Fleet()
    fleet.set("local", "m1", Behaviour(ttft_s=0.02))
    with FleetThread(fleet):
        catalog = write_catalog(tmp_path / "c.toml", "local", fleet.base_url("local"), ["m1"], 600)
        metrics_port = free_port()
        serve, url = _start(catalog, "--metrics", f"127.0.0.1:{metrics_port}")
        with serve:
            headers, answer = _post(
                f"{url}/v1/chat/completions",
                {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert headers["x-freemodels-model"] == "local/m1"
            assert answer["model"] == "local/m1"
            history = History(history_path())
            try:
                _wait(lambda: (beat := history.live_monitor()) is not None and beat.router == url)
                _wait(lambda: any(s.kind is ProbeKind.ROUTED for s in history.samples(0)))
            finally:
                history.close()
            families = scrape_until(
                f"http://127.0.0.1:{metrics_port}/metrics", "freemodels_routed_requests"
            )
            routed = families["freemodels_routed_requests"].samples
            assert any(s.labels.get("outcome") == "ok" for s in routed)
            assert "freemodels_router_ttft_seconds" in families
            assert serve.stop() == 0, serve.stderr


def test_a_model_that_probes_well_but_refuses_real_work_is_failed_over(tmp_path: Path) -> None:
    fleet = Fleet()
    # The fastest in probes, so ranked first; but a real request gets 429 (its quota is gone).
    fleet.set("spent", "quota", Behaviour(ttft_s=0.005, real_status=429, retry_after="60"))
    fleet.set("local", "steady", Behaviour(ttft_s=0.08))
    with FleetThread(fleet):
        # Two providers: the 429 pauses the spent one's whole budget, not the other's.
        catalog = write_catalog(
            tmp_path / "c.toml", "local", fleet.base_url("local"), ["steady"], 600
        )
        spent = write_catalog(tmp_path / "s.toml", "spent", fleet.base_url("spent"), ["quota"], 600)
        catalog.write_text(
            catalog.read_text() + spent.read_text().replace("schema_version = 1\n", "")
        )
        serve, url = _start(catalog, "--no-metrics")
        with serve:

            def both_usable() -> bool:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    return bool(json.loads(response.read())["usable_models"] == 2)

            _wait(both_usable)
            headers, answer = _post(
                f"{url}/v1/chat/completions",
                {"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert serve.stop() == 0, serve.stderr
    assert headers["x-freemodels-attempts"] == "2"
    assert answer["model"] == "local/steady"
    real = [
        r for r in fleet.requests if r.model == "quota" and r.body and "max_tokens" not in r.body
    ]
    assert len(real) == 1, "one real request reached the model that refuses them"


def test_opencode_gets_an_answer_through_the_router(tmp_path: Path) -> None:
    binary = tool_binary("opencode")
    fleet = Fleet()
    # No tool call: OpenCode's agent would otherwise run the tool and ask again, forever.
    fleet.set("local", "m1", Behaviour(ttft_s=0.02, tokens=6, tool_call=False))
    with FleetThread(fleet):
        catalog = write_catalog(tmp_path / "c.toml", "local", fleet.base_url("local"), ["m1"], 600)
        serve, url = _start(catalog, "--no-metrics")
        with serve:
            home = tmp_path / "home"
            config = home / ".config" / "opencode" / "opencode.json"
            config.parent.mkdir(parents=True)
            config.write_text(json.dumps({
                "$schema": "https://opencode.ai/config.json",
                "provider": {"freemodels": {
                    "npm": "@ai-sdk/openai-compatible",
                    "name": "freemodels",
                    "options": {"baseURL": f"{url}/v1", "apiKey": "sk-anything"},
                    "models": {"auto": {"name": "auto"}},
                }},
                "model": "freemodels/auto",
            }))  # fmt: skip
            done = run_tool([binary, "run", "-m", "freemodels/auto", "Say hello."], home)
            assert done.returncode == 0, done.stderr[-2000:]
            assert "Hello from the fake fleet" in done.stdout, done.stdout[-2000:]
            serve.stop()
    chats = [r for r in fleet.requests if r.path == "chat/completions" and r.body]
    routed = [r for r in chats if r.body and r.body.get("tools")]
    assert routed, "OpenCode's own request (with its tools) reached the fleet"
    assert all("sk-anything" not in json.dumps(r.headers) for r in fleet.requests)


def test_claude_code_gets_an_answer_through_the_router(tmp_path: Path) -> None:
    binary = tool_binary("claude")
    fleet = Fleet()
    fleet.set("local", "m1", Behaviour(ttft_s=0.02, tokens=6, tool_call=False))
    with FleetThread(fleet):
        catalog = write_catalog(tmp_path / "c.toml", "local", fleet.base_url("local"), ["m1"], 600)
        # Claude Code's system prompt and tools alone are ~20k tokens: a small context is skipped.
        catalog.write_text(catalog.read_text().replace("context = 8192", "context = 200000"))
        serve, url = _start(catalog, "--no-metrics")
        with serve:
            home = tmp_path / "home"
            (home / "work").mkdir(parents=True)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(home),
                "ANTHROPIC_BASE_URL": url,
                "ANTHROPIC_AUTH_TOKEN": "sk-anything",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_AUTOUPDATER": "1",
                "NO_COLOR": "1",
            }
            done = subprocess.run(
                [binary, "-p", "Say hello."], cwd=home / "work", env=env, capture_output=True,
                text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
            )  # fmt: skip
            serve.stop()
    assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
    assert "Hello from the fake fleet" in done.stdout, done.stdout[-2000:]
    messages = [r for r in fleet.requests if r.path == "chat/completions"]
    assert messages, "Claude Code's requests reached the fleet as chat completions"
    assert all("sk-anything" not in json.dumps(r.headers) for r in fleet.requests)


def test_the_heartbeat_migration_keeps_old_files_and_names_the_router(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    History(path).close()
    # A schema-2 file: today's, without the heartbeat's router column, and one heartbeat in it.
    db = sqlite3.connect(path)
    db.executescript(
        "ALTER TABLE heartbeats DROP COLUMN router;"
        "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
        f"INSERT INTO heartbeats VALUES (1, 'serve', {time.time()}, 0);"
    )
    db.close()
    history = History(path)
    try:
        assert history.live_router() is None
        history.beat(ROUTER_ONLY_ROLE, 0.0, router="http://127.0.0.1:8766")
        assert history.live_router() == "http://127.0.0.1:8766"
        own = history.db.execute("SELECT role FROM heartbeats WHERE pid = ?", (os.getpid(),))
        assert own.fetchone()[0] == ROUTER_ONLY_ROLE
    finally:
        history.close()


def test_the_status_line_shows_a_running_router() -> None:
    snapshot = Snapshot(time.time(), 1800.0, (), router="http://127.0.0.1:8766")
    line = status_text(snapshot, Preferences(), time.time(), demo=False).plain
    assert "router 127.0.0.1:8766" in line
    plain = Snapshot(time.time(), 1800.0, ())
    assert "router" not in status_text(plain, Preferences(), time.time(), demo=False).plain


@pytest.mark.parametrize("kind", [ProbeKind.PROBE, ProbeKind.SPEED])
def test_routed_requests_have_a_reserve_probes_cannot_use(tmp_path: Path, kind: ProbeKind) -> None:
    model = Model("m", "m", 8192)
    provider = Provider(
        "p", "p", "https://x.invalid/v1", ("K",), "https://x", rpm=10, models=(model,)
    )
    ledger = Ledger(
        History(tmp_path / "h.sqlite3").db, budget_limits([provider]), routed_reserve=0.2
    )
    probes = sum(ledger.try_acquire(provider, model, kind) == 0 for _ in range(10))
    assert probes == 8
    routed = sum(ledger.try_acquire(provider, model, ProbeKind.ROUTED) == 0 for _ in range(10))
    assert routed == 2, "routed requests use the whole cap, the reserve included"


async def test_the_monitor_takes_routed_samples_and_shows_any_running_router(
    tmp_path: Path,
) -> None:
    from freemodels.core.catalog.parse import parse_catalog
    from freemodels.core.keys.lookup import KeyRing
    from freemodels.core.monitor.config import MonitorConfig
    from freemodels.core.monitor.monitor import Monitor
    from freemodels.core.monitor.scheduler import Cadence
    from freemodels.core.records import ModelRef, Outcome, ProbeResult
    from freemodels.fleet.synthetic import catalog_toml

    path = tmp_path / "h.sqlite3"
    async with Fleet() as fleet:
        fleet.set("p", "m", Behaviour(ttft_s=0.01))
        catalog = parse_catalog(catalog_toml(fleet), "test", allow_http=True)
        config = MonitorConfig(
            cadence=Cadence(min_interval_s=60), publish_interval_s=0.05, flush_interval_s=0.1
        )
        monitor = Monitor(catalog, KeyRing(env={}), path, config)
        task = asyncio.create_task(monitor.run())
        try:
            # Another live process's router (its heartbeat is all the monitor sees of it).
            other = History(path)
            other.db.execute(
                "INSERT INTO heartbeats (pid, role, at, started, router) VALUES (?,?,?,?,?)",
                (os.getppid(), ROUTER_ONLY_ROLE, time.time() + 60, 0.0, "http://127.0.0.1:8766"),
            )
            other.close()
            routed = ProbeResult(
                "p", "m", Outcome.OK, time.time(), 200, ttft_ms=42.0, kind=ProbeKind.ROUTED
            )
            monitor.record(routed)

            def shown() -> bool:
                snapshot = monitor.snapshot
                samples = snapshot.samples.get(ModelRef("p", "m"), ())
                return snapshot.router == "http://127.0.0.1:8766" and routed in samples

            deadline = time.monotonic() + 20
            while not shown():
                assert time.monotonic() < deadline, (
                    monitor.snapshot.router,
                    monitor.snapshot.samples,
                )
                await asyncio.sleep(0.05)
        finally:
            monitor.stop()
            await asyncio.wait_for(task, 10)
    stored = History(path).samples(0)
    assert any(s.kind is ProbeKind.ROUTED for s in stored), "routed samples reach the history"
