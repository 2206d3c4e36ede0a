"""`stats --by-hour`, `stats --csv` and `best --at`, run as the real command over a history file."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from freemodels import paths
from freemodels.core.store.history import History
from history_fixtures import FAST_HOURS, generate

CATALOG = """
schema_version = 1
[providers.fastco]
name = "Fast Co"
base_url = "http://127.0.0.1:9/fast/v1"
key_required = false
api_key_env = ["FREEMODELS_TEST_NO_KEY"]
signup_url = "http://127.0.0.1:9"
[[providers.fastco.models]]
id = "quick"
name = "Quick"
context = 8192
[providers.slowco]
name = "Slow Co"
base_url = "http://127.0.0.1:9/slow/v1"
key_required = false
api_key_env = ["FREEMODELS_TEST_NO_KEY"]
signup_url = "http://127.0.0.1:9"
[[providers.slowco.models]]
id = "big"
name = "Big"
context = 8192
"""


def freemodels(*args: str) -> subprocess.CompletedProcess[str]:
    # Etc/GMT-2 is UTC+02:00, the zone the generated rhythm is written in (no DST).
    env = {**os.environ, "TZ": "Etc/GMT-2"}
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    history = History(paths.history_path())
    now = time.time() // 3600 * 3600
    history.add(list(generate(now=now, days=14)))
    history.close()
    return str(path)


def test_by_hour_json_has_each_hour_and_the_fast_hours(catalog: str) -> None:
    proc = freemodels("stats", "--by-hour", "--json", "--catalog", catalog)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert document["by"] == "provider" and document["timezone"] == "UTC+02:00"
    rows = {row["provider"]: row for row in document["rows"]}
    assert set(rows) == {"fastco", "slowco"}
    fast = rows["fastco"]
    assert fast["fastest_hours"] == list(FAST_HOURS)
    hours = {h["hour"]: h for h in fast["hours"]}
    assert hours[3]["availability"] == 0.0 and hours[3]["ttft_p50_ms"] is None
    assert hours[7]["ttft_p50_ms"] < hours[15]["ttft_p50_ms"]


def test_by_hour_per_model_for_one_provider_and_fewer_days(catalog: str) -> None:
    proc = freemodels(
        "stats", "--by-hour", "--model", "--provider", "slowco", "--days", "2", "--json",
        "--catalog", catalog,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["rows"]
    assert (row["provider"], row["model"]) == ("slowco", "big")
    assert max(h["samples"] for h in row["hours"]) <= 2 * 4, "two days of 4 samples an hour"


def test_by_hour_table_highlights_the_fastest_hours(catalog: str) -> None:
    proc = freemodels("stats", "--by-hour", "--catalog", catalog)
    assert proc.returncode == 0, proc.stderr
    assert "06–08h" in proc.stdout and "fastco" in proc.stdout and "slowco" in proc.stdout


def test_by_hour_piped_is_whole_and_unpadded(catalog: str) -> None:
    # Piped, the table takes its own width: no cell is cut ("03h, 05–0…") and no line is padded.
    proc = freemodels("stats", "--by-hour", "--model", "--catalog", catalog)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "…" not in proc.stdout and all(line == line.rstrip() for line in lines)
    assert any(line.split()[:1] == ["fastco/quick"] and "06–08h" in line for line in lines)


def test_csv_rows_per_model_and_hour(catalog: str) -> None:
    proc = freemodels("stats", "--by-hour", "--csv", "--catalog", catalog)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 2 * 24
    assert {(r["provider"], r["model"]) for r in rows} == {("fastco", "quick"), ("slowco", "big")}
    outage = next(r for r in rows if r["model"] == "quick" and r["hour"] == "3")
    assert outage["availability"] == "0.0000" and outage["ttft_p50_ms"] == ""
    hourly = list(
        csv.DictReader(io.StringIO(freemodels("stats", "--csv", "--catalog", catalog).stdout))
    )
    assert 2 * 24 * 13 <= len(hourly) <= 2 * 24 * 14
    assert hourly[0]["hour"].endswith("+02:00")


def test_best_at_picks_by_the_hour(catalog: str) -> None:
    at_seven = freemodels("best", "--at", "07:30", "--catalog", catalog)
    assert at_seven.returncode == 0, at_seven.stderr
    assert at_seven.stdout.strip() == "fastco/quick"
    at_three = freemodels("best", "--at", "03:00", "--json", "--catalog", catalog)
    assert at_three.returncode == 0, at_three.stderr
    record = json.loads(at_three.stdout)
    assert record["provider"] == "slowco" and record["rank"] == 1, "fastco is down at 03h"


def test_bad_input_is_one_line_and_exit_2(catalog: str) -> None:
    for args in (
        ("best", "--at", "25:00"),
        ("best", "--at", "7pm"),
        ("stats", "--by-hour", "--days", "31"),
        ("stats", "--by-hour", "--provider", "nope"),
        ("stats", "--csv", "--json"),
    ):
        proc = freemodels(*args, "--catalog", catalog)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_no_history_is_an_empty_document_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    proc = freemodels("stats", "--by-hour", "--json", "--catalog", str(path))
    assert proc.returncode == 0 and json.loads(proc.stdout)["rows"] == []
    best = freemodels("best", "--at", "07:00", "--catalog", str(path))
    assert best.returncode == 3 and best.stdout == ""
