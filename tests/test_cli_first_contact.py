"""What a new user meets in the first minutes: bad input exits 2 in one line, help says enough."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.fleet.synthetic import catalog_toml


def freemodels(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, piped, in the isolated HOME."""
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True, text=True, timeout=90, env=dict(os.environ), cwd=cwd,
    )  # fmt: skip


def one_line_exit_2(proc: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a bad-input exit."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_use_refuses_a_demo_model_unless_allowed(tmp_path: Path) -> None:
    """A --demo pick points at a port that dies with the command: refused, nothing written."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "opencode"
    listed = json.loads(freemodels("--demo", "providers", "--json").stdout)
    first = listed[0]
    pick = ["--demo", "use", "opencode", f"{first['id']}/{first['models'][0]['id']}"]
    line = one_line_exit_2(freemodels(*pick, cwd=tmp_path))
    assert "--demo model" in line and "--allow-demo" in line
    assert not config.exists()
    dry = freemodels(*pick, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "+++" in dry.stdout and not config.exists()
    allowed = freemodels(*pick, "--allow-demo", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert "127.0.0.1" in (config / "opencode.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("content", ["x = [", "schema_version = 1\n"])
def test_catalog_with_demo_is_refused(content: str, tmp_path: Path) -> None:
    """--catalog is not silently ignored beside --demo, broken or not."""
    path = tmp_path / "catalog.toml"
    path.write_text(content, encoding="utf-8")
    for args in (
        ["--catalog", str(path), "--demo", "check"],
        ["check", "--demo", "--catalog", str(path)],
    ):
        assert "--catalog" in one_line_exit_2(freemodels(*args))


@pytest.mark.parametrize(
    "content", ["", "schema_version = 1\n", "schema_version = 1\n[providers]\n"]
)
def test_an_empty_catalog_is_bad_input(content: str, tmp_path: Path) -> None:
    """A catalog without a model would print an empty table and exit 0: it exits 2 instead."""
    path = tmp_path / "empty.toml"
    path.write_text(content, encoding="utf-8")
    for command in ("check", "best", "stats"):
        line = one_line_exit_2(freemodels(command, "--catalog", str(path)))
        assert str(path) in line


def test_help_describes_check_best_stats_and_the_dashboard() -> None:
    """Each command's --help has a description; the top level says no command opens the TUI."""
    top = freemodels("--help").stdout
    assert "with no command to open the live dashboard" in top and "none of them opens it" in top
    for command, words in (
        ("check", "Probe every model"),
        ("best", "Exit 3"),
        ("stats", "without sending"),
    ):
        text = " ".join(freemodels(command, "--help").stdout.split())
        assert words in text, text


def test_an_unknown_option_points_to_the_commands_help() -> None:
    """`check --bogus` names `freemodels check --help`, not the top-level help."""
    line = one_line_exit_2(freemodels("check", "--bogus"))
    assert "--bogus" in line and "'freemodels check --help'" in line
    assert "'freemodels --help'" in one_line_exit_2(freemodels("--bogus"))


def test_check_says_which_models_are_past_their_date(tmp_path: Path) -> None:
    """A model past its `until` is hidden, and check says so (one line) instead of dropping it."""
    fleet = Fleet()
    fleet.set("p", "live", Behaviour())
    fleet.set("p", "retired", Behaviour())
    with FleetThread(fleet):
        path = tmp_path / "catalog.toml"
        text = catalog_toml(fleet).replace('id = "retired"', 'id = "retired"\nuntil = 2020-01-01')
        path.write_text(text, encoding="utf-8")
        proc = freemodels("check", "--catalog", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "freemodels check: 1 model, 1 round"
    assert "p/retired" not in proc.stdout
    notes = [line for line in proc.stderr.splitlines() if "past its shutdown date" in line]
    assert notes == [
        "freemodels: 1 catalog model past its shutdown date, hidden: p/retired (until 2020-01-01)"
    ]


def test_a_catalog_of_providers_without_models_cannot_be_checked(tmp_path: Path) -> None:
    """Keys can be set for it, but `check` has nothing to rank: exit 2."""
    path = tmp_path / "bare.toml"
    path.write_text(
        'schema_version = 1\n[providers.solo]\nname = "Solo"\nbase_url = "http://127.0.0.1:9/v1"\n'
        "key_required = false\n",
        encoding="utf-8",
    )
    assert "lists no model" in one_line_exit_2(freemodels("check", "--catalog", str(path)))
