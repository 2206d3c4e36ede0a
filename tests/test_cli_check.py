"""`check`, `best` and the global options, run as the real command in a subprocess."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.fleet.synthetic import catalog_toml
from programs import fresh_python

CONTRACT_FIELDS = [
    "rank", "provider", "model", "name", "outcome", "http_status", "samples", "ok",
    "availability", "ttft_ms", "ttft_p50_ms", "ttft_p95_ms", "total_ms", "jitter_ms",
    "stability", "error",
]  # fmt: skip


def freemodels(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True, text=True, timeout=timeout, env=dict(os.environ),
    )  # fmt: skip


@pytest.fixture
def fleet_catalog(tmp_path: Path) -> Iterator[tuple[Fleet, Path]]:
    fleet = Fleet()
    # TTFTs 380+ ms apart: with 100 ms between a and b, a stall of the fleet's thread beside
    # two CPU hogs reordered them once in a loaded whole-suite run.
    # a's second event leaves 300 ms after its first: timing a later event cannot pass for TTFT.
    fleet.set("fast", "a", Behaviour(ttft_s=0.02, tokens=2, token_interval_s=0.3))
    fleet.set("fast", "b", Behaviour(ttft_s=0.4))
    fleet.set("slow", "c", Behaviour(ttft_s=1.0))
    fleet.set("slow", "dead", Behaviour(status=404))
    with FleetThread(fleet):
        path = tmp_path / "catalog.toml"
        path.write_text(catalog_toml(fleet), encoding="utf-8")
        yield fleet, path


def test_check_demo_json_is_exactly_one_array_with_the_contract_fields() -> None:
    started = time.monotonic()
    proc = freemodels("check", "--demo", "--json")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 15, "check --demo finishes within a few seconds"
    records = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert isinstance(records, list) and len(records) >= 8
    assert all(list(r) == CONTRACT_FIELDS for r in records)
    assert [r["rank"] for r in records] == list(range(1, len(records) + 1))
    assert len({r["provider"] for r in records}) >= 5
    assert sum(r["outcome"] == "ok" for r in records) >= 5
    assert all(r["provider"].startswith("demo-") for r in records)


def test_check_ranks_by_ttft_and_writes_history(fleet_catalog: tuple[Fleet, Path]) -> None:
    fleet, catalog = fleet_catalog
    proc = freemodels(
        "--catalog", str(catalog), "check", "--json", "--rounds", "2", "--interval", "0.1"
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert [(r["provider"], r["model"]) for r in records] == [
        ("fast", "a"), ("fast", "b"), ("slow", "c"), ("slow", "dead"),
    ]  # fmt: skip
    assert records[0]["samples"] == 2 and records[0]["ok"] == 2
    assert records[-1]["outcome"] == "not_found" and records[-1]["ttft_ms"] is None
    # A model answering 404/410 is news once: one stderr line, however many rounds it failed.
    gone = [line for line in proc.stderr.splitlines() if "gone:" in line]
    assert gone == [
        "freemodels: gone: slow/dead answered 404/410 (no longer served); "
        "`freemodels providers refresh` lists what the providers serve now"
    ]
    # The reported TTFT is the latest probe's, against the fleet's own record of that request:
    # never less than the 20 ms the fleet holds the content back, and not the next event's,
    # which left 300 ms later (a 250 ms margin holds for two hops between processes on a loaded
    # machine; bench/ measures the precision). The fleet's own stamps are taken after its write
    # returns, so a stalled fleet thread may stamp a few ms after the client already read it.
    latest = [r for r in fleet.requests if (r.provider, r.model) == ("fast", "a")][-1]
    assert latest.sent.first_content is not None
    truth_ms = (latest.sent.first_content - latest.at) * 1000
    assert truth_ms >= 20
    assert 20 <= records[0]["ttft_ms"] <= truth_ms + 250, (truth_ms, records[0])
    assert len([r for r in fleet.requests if r.path == "chat/completions"]) == 8
    stats = freemodels("--catalog", str(catalog), "stats", "--json")
    assert [r["model"] for r in json.loads(stats.stdout)][:3] == ["a", "b", "c"]


def test_check_provider_filter_and_unknown_provider(fleet_catalog: tuple[Fleet, Path]) -> None:
    _, catalog = fleet_catalog
    proc = freemodels("check", "--catalog", str(catalog), "--provider", "slow", "--json")
    assert {r["provider"] for r in json.loads(proc.stdout)} == {"slow"}
    bad = freemodels("check", "--catalog", str(catalog), "--provider", "nope")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "fast" in bad.stderr and "slow" in bad.stderr


def test_an_unknown_transport_is_a_clear_error(
    fleet_catalog: tuple[Fleet, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FREEMODELS_TRANSPORT names the valid choices instead of quietly using the default."""
    fleet, catalog = fleet_catalog
    monkeypatch.setenv("FREEMODELS_TRANSPORT", "curl")
    proc = freemodels("check", "--catalog", str(catalog))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "FREEMODELS_TRANSPORT 'curl'" in proc.stderr
    assert "httpcore" in proc.stderr and "aiohttp" in proc.stderr
    assert not [r for r in fleet.requests if r.path == "chat/completions"], "nothing was sent"


@pytest.mark.parametrize(
    "args",
    [["check", "--rounds", "0"], ["check", "--timeout", "-1"], ["check", "--interval", "x"],
     ["stats", "--window", "7m"], ["nonsense"]],
)  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(args: list[str]) -> None:
    proc = freemodels(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_check_speed_and_tools_add_their_fields(fleet_catalog: tuple[Fleet, Path]) -> None:
    fleet, catalog = fleet_catalog
    fleet.set(
        "fast", "a", Behaviour(ttft_s=0.02, tokens=20, token_interval_s=0.025, tool_call=True)
    )
    proc = freemodels(
        "check", "--catalog", str(catalog), "--provider", "fast", "--speed", "--tools", "--json"
    )
    records = {r["model"]: r for r in json.loads(proc.stdout)}
    # Against the rate the fleet really sent the speed probe's 20 tokens at, not a nominal one.
    (speed,) = [
        r for r in fleet.requests if r.model == "a" and (r.body or {}).get("max_tokens") == 256
    ]
    sent = speed.sent
    assert sent.first_content is not None and sent.end is not None
    rate = 19 / (sent.end - sent.first_content)
    assert records["a"]["tokens_per_s"] == pytest.approx(rate, rel=0.35)
    assert records["a"]["tool_calls"] is True
    assert records["b"]["tool_calls"] is False


def test_best_prints_provider_slash_model_from_fresh_history(
    fleet_catalog: tuple[Fleet, Path],
) -> None:
    fleet, catalog = fleet_catalog
    first = freemodels("best", "--catalog", str(catalog))
    assert first.returncode == 0 and first.stdout == "fast/a\n"
    sent = len(fleet.requests)
    again = freemodels("best", "--catalog", str(catalog), "--json")
    assert len(fleet.requests) == sent, "samples under 5 minutes old are used, no new requests"
    record = json.loads(again.stdout)
    assert record["provider"] == "fast" and record["model"] == "a" and record["rank"] == 1
    freemodels("best", "--catalog", str(catalog), "--fresh")
    assert len(fleet.requests) > sent, "--fresh sweeps again"
    tool = freemodels("best", "--catalog", str(catalog), "--for", "opencode")
    assert tool.stdout.strip() == "freemodels-fast/a"


def test_best_exits_3_when_nothing_is_usable(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.set("p", "x", Behaviour(status=500))
    with FleetThread(fleet):
        catalog = tmp_path / "dead.toml"
        catalog.write_text(catalog_toml(fleet), encoding="utf-8")
        plain = freemodels("best", "--catalog", str(catalog))
        assert plain.returncode == 3 and plain.stdout == ""
        assert "no usable model" in plain.stderr
        as_json = freemodels("best", "--catalog", str(catalog), "--json")
        assert as_json.returncode == 3 and json.loads(as_json.stdout) is None


def test_version_and_module_entry_point() -> None:
    proc = freemodels("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("freemodels ")


def test_debug_log_is_written_and_redacted(tmp_path: Path) -> None:
    key = "sk-SENTINEL-debuglog-77aa88bb99cc"
    fleet = Fleet()
    fleet.require_key("keyed", key)
    fleet.set("keyed", "echo", Behaviour(status=400, echo_auth=True))
    fleet.set("keyed", "fine", Behaviour())
    with FleetThread(fleet):
        catalog = tmp_path / "keyed.toml"
        catalog.write_text(catalog_toml(fleet), encoding="utf-8")
        log = tmp_path / "debug.log"
        env = {**os.environ, "KEYED_API_KEY": key}
        proc = subprocess.run(
            [sys.executable, "-m", "freemodels", "--debug", str(log), "check", "--catalog",
             str(catalog), "--json"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    assert "keyed/fine probe: ok" in text and "keyed/echo probe: rejected" in text
    assert fleet.requests[-1].authorization == f"Bearer {key}"
    for output in (text, proc.stdout, proc.stderr):
        assert key not in output


def test_headless_modules_never_import_textual() -> None:
    code = (
        "import sys, importlib, pkgutil, freemodels.core, freemodels.integrations\n"
        "for pkg in (freemodels.core, freemodels.integrations):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
        "import freemodels.cli.check, freemodels.cli.best, freemodels.cli.stats\n"
        "from freemodels.cli import build_parser; build_parser()\n"
        "ui = ('textual', 'textual.', 'freemodels.ui')\n"
        "bad = [m for m in sys.modules if m.startswith(ui)]\n"
        "print(bad)\n"
    )
    assert fresh_python(code) == "[]"


def test_a_sweep_imports_only_what_a_sweep_needs(fleet_catalog: tuple[Fleet, Path]) -> None:
    """Every import before the first request delays the whole sweep (docs/architecture.md,
    "Performance notes"): the monitor's scheduler and config (with random), and
    importlib.resources (with tempfile), are for other commands."""
    _, path = fleet_catalog
    code = (
        "import contextlib, io, sys\n"
        "from freemodels.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    code = main(['--catalog', {str(path)!r}, 'check', '--json'])\n"
        "assert code == 0 and '\"ok\"' in out.getvalue(), out.getvalue()\n"
        "heavy = ('freemodels.core.monitor.scheduler', 'freemodels.core.monitor.config',\n"
        "         'random', 'importlib.resources', 'tempfile')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert fresh_python(code) == "[]"


def test_stats_flags_models_not_found_for_a_day(fleet_catalog: tuple[Fleet, Path]) -> None:
    from freemodels import paths
    from freemodels.core.records import Outcome, ProbeResult
    from freemodels.core.store.history import History

    _, catalog = fleet_catalog
    history = History(paths.history_path())
    now = time.time()
    history.add(
        [ProbeResult("slow", "dead", Outcome.NOT_FOUND, now - h * 3600) for h in (30, 20, 0.1)]
        + [ProbeResult("fast", "a", Outcome.OK, now - 60, ttft_ms=20.0)]
    )
    history.close()
    proc = freemodels("stats", "--catalog", str(catalog), "--json")
    records = {r["model"]: r for r in json.loads(proc.stdout)}
    assert records["dead"]["gone"] is True and records["a"]["gone"] is False
    table = freemodels("stats", "--catalog", str(catalog))
    assert "gone? slow/dead" in table.stderr


def test_best_tools_picks_the_best_model_whose_function_calling_works(
    fleet_catalog: tuple[Fleet, Path],
) -> None:
    fleet, catalog = fleet_catalog
    # One sample each: 230 ms between a and b is more than a loaded machine's stall.
    fleet.set("fast", "b", Behaviour(ttft_s=0.25, tool_call=True))
    plain = freemodels("best", "--catalog", str(catalog))
    assert plain.stdout == "fast/a\n"
    tools = freemodels("best", "--catalog", str(catalog), "--tools")
    assert tools.returncode == 0 and tools.stdout == "fast/b\n"
    tool_requests = [r for r in fleet.requests if r.body and "tools" in r.body]
    assert [r.model for r in tool_requests] == ["a", "b"], "tested in rank order, then stopped"
    again = freemodels("best", "--catalog", str(catalog), "--tools", "--json")
    assert json.loads(again.stdout)["model"] == "b"
    assert len([r for r in fleet.requests if r.body and "tools" in r.body]) == 2, (
        "known results come from the history"
    )


def test_a_json_document_larger_than_the_pipe_reaches_a_slow_reader_whole(tmp_path: Path) -> None:
    # After uvloop has run, a write to a full pipe came back short and Python's buffered writer
    # dropped the rest: a reader that started late got the first 64 KiB and exit 0.
    import fcntl
    import termios

    fleet = Fleet()
    for p in range(4):
        for m in range(50):
            fleet.set(f"wide-{p}", f"model-{m}-" + "x" * 60, Behaviour(ttft_s=0.0))
    with FleetThread(fleet):
        catalog = tmp_path / "wide.toml"
        catalog.write_text(catalog_toml(fleet), encoding="utf-8")
        with subprocess.Popen(
            [sys.executable, "-m", "freemodels", "--catalog", str(catalog), "check", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ),
        ) as proc:  # fmt: skip
            assert proc.stdout is not None
            # Read nothing until the pipe is full (or the command ended): the slow reader.
            deadline = time.monotonic() + 120
            waiting = bytearray(4)
            while proc.poll() is None and time.monotonic() < deadline:
                fcntl.ioctl(proc.stdout.fileno(), termios.FIONREAD, waiting)
                if int.from_bytes(waiting, sys.byteorder) >= 65536:
                    break
                time.sleep(0.05)
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    assert len(out) > 65536  # larger than the pipe, or this test shows nothing
    rows = json.loads(out)
    assert len(rows) == 200 and {row["outcome"] for row in rows} == {"ok"}


def test_the_console_script_leaves_at_once_with_every_sample_stored(
    fleet_catalog: tuple[Fleet, Path],
) -> None:
    """The console script ends with os._exit and does not close the history database: what a
    sweep stored is committed, and the next process reads it (from the write-ahead log)."""
    _, catalog = fleet_catalog
    script = [sys.executable, "-c", "from freemodels.cli import entry; entry()"]
    for _ in range(2):
        proc = subprocess.run(
            [*script, "--catalog", str(catalog), "check", "--json"],
            capture_output=True, text=True, timeout=60, env=dict(os.environ),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert len(json.loads(proc.stdout)) == 4
    stats = json.loads(freemodels("--catalog", str(catalog), "stats", "--json").stdout)
    assert {r["model"]: r["samples"] for r in stats} == {"a": 2, "b": 2, "c": 2, "dead": 2}
    history = Path(os.environ["XDG_DATA_HOME"]) / "freemodels" / "history.sqlite3"
    with sqlite3.connect(history) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
