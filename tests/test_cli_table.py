"""The ranking table of `check` and `stats`: readable at any width, honest on a first run.

Numbers and `provider/model` ids are never cut; columns drop by priority as the width shrinks;
a probe the local budget held back reads `skipped` and ranks after every measured model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from freemodels.cli.render import ranking_lines
from freemodels.core.monitor.stats import ModelInfo, model_stats, rank
from freemodels.core.records import ModelStats, Outcome, ProbeResult, format_ms
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.fleet.synthetic import catalog_toml

NOW = 1_800_000_000.0
LONG_ID = "nvidia/nemotron-3-super-120b-a12b:free"
LONG_NAME = "NVIDIA Nemotron 3 Super 120B A12B (free tier, reasoning)"


def _row(
    provider: str, model: str, name: str, ttfts: list[float], outcome: Outcome = Outcome.OK
) -> ModelStats:
    samples = [
        ProbeResult(provider, model, Outcome.OK, NOW - 10 - i, ttft_ms=t, total_ms=t + 5)
        for i, t in enumerate(ttfts)
    ]
    if outcome is not Outcome.OK:
        samples.append(ProbeResult(provider, model, outcome, NOW - 1, http_status=500))
    return model_stats(ModelInfo(provider, model, name), samples, NOW, 1800)


ROWS = rank(
    [
        _row("openrouter", LONG_ID, LONG_NAME, [1174.4, 1250.0, 1300.0]),
        _row("groq", "llama-3.1-8b-instant", "Llama 3.1 8B Instant", [212.0, 230.0, 12345.6]),
        _row("nvidia", "moonshotai/kimi-k2.6", "Kimi K2.6", [900.0], Outcome.SERVER_ERROR),
    ]
)


@pytest.mark.parametrize("width", [80, 100, 130, 200])
def test_numbers_and_ids_are_never_cut(width: int) -> None:
    """At every width each id and each number shown is whole, and no line is wider."""
    lines = ranking_lines(ROWS, width, now=NOW)
    text = "\n".join(lines)
    assert all(len(line) <= width for line in lines), text
    header = lines[0].split()
    assert header[:4] == ["#", "provider/model", "outcome", "TTFT"]
    for row in ROWS:
        assert f"{row.provider}/{row.model}" in text
    assert format_ms(1174.4) == "1,174 ms" and "1,174 ms" in text
    cut_from = lines[0].index("name") if "name" in header else None
    assert all("…" not in line[:cut_from] for line in lines), "only the name is shortened"
    for line in lines[1:]:
        assert line.split()[0].isdigit(), "the rank column is always there"


def test_columns_drop_by_priority_as_the_width_shrinks() -> None:
    """80: rank, id, outcome, TTFT; more as it grows; the name is the one text shortened."""
    headers = {w: ranking_lines(ROWS, w, now=NOW)[0].split() for w in (80, 100, 130, 200)}
    assert headers[80] == ["#", "provider/model", "outcome", "TTFT"]
    assert headers[100][:6] == ["#", "provider/model", "outcome", "TTFT", "p50", "p95"]
    assert headers[200] == [
        "#", "provider/model", "outcome", "TTFT", "p50", "p95", "avail", "n", "stab", "name"
    ]  # fmt: skip
    for narrow, wide in ((80, 100), (100, 130), (130, 200)):
        assert set(headers[narrow]) <= set(headers[wide])
    wide = "\n".join(ranking_lines(ROWS, 200, now=NOW))
    assert LONG_NAME in wide and "11,134 ms" in wide
    mid = "\n".join(ranking_lines(ROWS, 130, now=NOW))
    if "name" in mid.splitlines()[0]:
        assert LONG_NAME not in mid and "NVIDIA N" in mid and "…" in mid


def test_samples_column_counts_every_sample() -> None:
    """`n` is the number of samples behind the row (ok or not)."""
    lines = ranking_lines(ROWS, 200, now=NOW)
    n_at = lines[0].index(" n ") + 1
    counts = [line[n_at] for line in lines[1:]]
    assert counts == [str(row.samples)[-1] for row in ROWS]


def freemodels(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, piped."""
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True, text=True, timeout=90, env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture
def budget_catalog(tmp_path: Path) -> Iterator[tuple[Fleet, Path]]:
    """One provider of three models and rpm 1 (two are held back), one with a failing model."""
    fleet = Fleet()
    for model in ("a", "b", "c"):
        fleet.set("tight", model, Behaviour(ttft_s=0.02))
    fleet.set("loose", "ok", Behaviour(ttft_s=0.03))
    fleet.set("loose", "gone", Behaviour(status=404))
    with FleetThread(fleet):
        path = tmp_path / "catalog.toml"
        text = catalog_toml(fleet).replace(
            'key_required = false\n\n[[providers."tight"',
            'key_required = false\nrpm = 1\n\n[[providers."tight"',
        )
        assert "rpm = 1" in text
        path.write_text(text, encoding="utf-8")
        yield fleet, path


def test_budget_skips_read_skipped_and_rank_last(budget_catalog: tuple[Fleet, Path]) -> None:
    """Held back: `skipped (again in …)` in the table, after the measured failures too."""
    _, catalog = budget_catalog
    proc = freemodels("check", "--catalog", str(catalog), env={"COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()[3:]
    outcomes = [" ".join(line.split()[2:4]) for line in rows]
    assert sum("skipped (again" in o for o in outcomes) == 2, proc.stdout
    assert " gone " in proc.stdout and "rate limited" not in proc.stdout
    first_skipped = next(i for i, o in enumerate(outcomes) if o.startswith("skipped"))
    assert all(o.startswith("skipped") for o in outcomes[first_skipped:])
    assert any(o.startswith("gone") for o in outcomes[:first_skipped])
    assert "2 models skipped: the local rate budget" in proc.stderr
    assert "no API keys yet" not in proc.stderr, "no provider here needs a key"


def test_budget_skips_stay_rate_limited_in_json(budget_catalog: tuple[Fleet, Path]) -> None:
    """JSON keeps `rate_limited`, status null and the error; times null when not ok."""
    _, catalog = budget_catalog
    proc = freemodels("check", "--catalog", str(catalog), "--json")
    records = json.loads(proc.stdout)
    held = [r for r in records if r["outcome"] == "rate_limited"]
    assert len(held) == 2 and records[-2:] == held
    assert all(r["http_status"] is None and "no request sent" in r["error"] for r in held)
    for record in records:
        if record["outcome"] != "ok":
            assert record["ttft_ms"] is None and record["total_ms"] is None, record
    gone = next(r for r in records if r["model"] == "gone")
    assert gone["outcome"] == "not_found" and gone["http_status"] == 404


def test_piped_lines_are_not_padded(budget_catalog: tuple[Fleet, Path]) -> None:
    """A pipe gets plain lines, at most 130 columns, no trailing blanks; COLUMNS is honoured."""
    _, catalog = budget_catalog
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run(
        [sys.executable, "-m", "freemodels", "check", "--catalog", str(catalog)],
        capture_output=True, text=True, timeout=90, env=env,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    assert lines[0] == "freemodels check: 5 models, 1 round"
    assert all(line == line.rstrip() and len(line) <= 130 for line in lines)
    assert "\x1b[" not in proc.stdout
    narrow = freemodels("check", "--catalog", str(catalog), env={"COLUMNS": "80"})
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines())


def test_no_key_at_all_says_so_after_the_table(tmp_path: Path) -> None:
    """A first run without keys: one line on stderr pointing to `keys set` and `keys list`."""
    fleet = Fleet()
    fleet.require_key("keyed", "sk-test-123")
    fleet.set("keyed", "m", Behaviour())
    with FleetThread(fleet):
        catalog = tmp_path / "keyed.toml"
        catalog.write_text(catalog_toml(fleet), encoding="utf-8")
        proc = freemodels("check", "--catalog", str(catalog))
        keyed = freemodels("check", "--catalog", str(catalog), env={"KEYED_API_KEY": "sk-test-123"})
    notes = [line for line in proc.stderr.splitlines() if "no API keys yet" in line]
    assert len(notes) == 1
    assert "freemodels keys set PROVIDER" in notes[0] and "freemodels keys list" in notes[0]
    assert "no key" in proc.stdout
    assert "no API keys yet" not in keyed.stderr


def test_keyring_fallback_is_said_once(tmp_path: Path) -> None:
    """The 'no OS keyring' line: once for ordinary commands, every time from `keys`."""
    fleet = Fleet()
    fleet.require_key("keyed", "sk-test-123")
    fleet.set("keyed", "m", Behaviour())
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    with FleetThread(fleet):
        catalog = tmp_path / "keyed.toml"
        catalog.write_text(catalog_toml(fleet), encoding="utf-8")
        runs = [freemodels("check", "--catalog", str(catalog), env=env) for _ in range(2)]
        keys = [freemodels("keys", "list", "--catalog", str(catalog), env=env) for _ in range(2)]
    said = [run.stderr.count("no OS keyring available") for run in runs]
    assert said == [1, 0], [run.stderr for run in runs]
    assert all(run.stderr.count("no OS keyring available") == 1 for run in keys)
