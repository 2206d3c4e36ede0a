"""`freemodels keys`: list, set, rm, test, import, and the sentinel-leak check over everything."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from freemodels import paths
from freemodels.cli import keys as keys_cli
from freemodels.cli import main
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from keys_fixtures import MemoryKeyring, installed

SENTINEL = "gsk_SENTINEL7f3a9c2e41d8b6SENTINELzz42"
SENTINEL_CORE = "SENTINEL7f3a9c2e41d8b6"  # any leak, even a partial one, contains this
MODEL = "tiny-model"


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        yield backend


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fcli(
    *argv: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess, on the headless (no keyring) path unless `env` says."""
    full = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
        check=False,
    )


def write_catalog(path: Path, fleet: Fleet, *ids: str) -> Path:
    blocks = [
        f"""
[providers.{pid}]
name = "{pid.title()}"
base_url = "{fleet.base_url(pid)}"
api_key_env = ["{pid.upper()}_API_KEY"]
signup_url = "https://{pid}.example/keys"

[[providers.{pid}.models]]
id = "{MODEL}"
name = "Tiny"
context = 8192
"""
        for pid in ids
    ]
    path.write_text("schema_version = 1\n" + "".join(blocks))
    return path


# -- set / list / rm -------------------------------------------------------------------------


def test_set_list_rm_with_the_os_keyring(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "keys", "set", "groq", stdin=f"  {SENTINEL}\n")
    assert code == 0
    assert memory_keyring.passwords[("freemodels", "groq")] == SENTINEL
    assert "gsk_…zz42" in out and "OS keyring" in out
    assert SENTINEL_CORE not in out + err
    code, out, _ = run_cli(monkeypatch, capsys, "keys", "list", "--json")
    assert code == 0
    records = json.loads(out)  # exactly one JSON document on stdout
    groq = next(r for r in records if r["provider"] == "groq")
    assert groq == {
        "provider": "groq",
        "name": "Groq",
        "configured": True,
        "source": "keyring",
        "masked": "gsk_…zz42",
        "key_required": True,
        "signup_url": "https://console.groq.com/keys",
        "overrides": [],
    }
    missing = next(r for r in records if r["provider"] == "cerebras")
    assert missing["configured"] is False and missing["signup_url"].startswith("https://")
    code, out, _ = run_cli(monkeypatch, capsys, "keys", "list")
    assert code == 0
    groq_line = next(line for line in out.splitlines() if line.startswith("groq "))
    assert "gsk_…zz42" in groq_line and "keyring" in groq_line
    cerebras_line = next(line for line in out.splitlines() if line.startswith("cerebras "))
    assert "not set" in cerebras_line and "https://cloud.cerebras.ai" in cerebras_line
    code, out, _ = run_cli(monkeypatch, capsys, "keys", "rm", "groq")
    assert code == 0 and "removed" in out
    assert memory_keyring.passwords == {}


def test_the_environment_wins_and_list_says_so(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_fromenvironment00")
    code, _, err = run_cli(monkeypatch, capsys, "keys", "set", "groq", stdin=SENTINEL)
    assert code == 0 and "GROQ_API_KEY is set in the environment" in err
    _, out, _ = run_cli(monkeypatch, capsys, "keys", "list", "--json")
    groq = next(r for r in json.loads(out) if r["provider"] == "groq")
    assert (groq["source"], groq["masked"], groq["overrides"]) == (
        "env:GROQ_API_KEY",
        "gsk_…nt00",
        ["keyring"],
    )


def test_set_uses_a_hidden_prompt_on_a_terminal(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        return "nvapi-typedkey00001234"

    monkeypatch.setattr(keys_cli, "_interactive", lambda: True)
    monkeypatch.setattr(keys_cli.getpass, "getpass", fake_getpass)
    code, _, _ = run_cli(monkeypatch, capsys, "keys", "set", "nvidia")
    assert code == 0 and prompts == ["NVIDIA NIM API key (input hidden): "]
    assert memory_keyring.passwords[("freemodels", "nvidia")] == "nvapi-typedkey00001234"


def test_a_key_in_argv_is_refused_without_echoing_it(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (["groq", SENTINEL], ["groq", "--key", SENTINEL], ["groq", f"--key={SENTINEL}"]):
        code, out, err = run_cli(monkeypatch, capsys, "keys", "set", *argv, stdin=SENTINEL)
        assert code == 2
        assert "shell history" in err and "pipe it in" in err
        assert SENTINEL_CORE not in out + err
    assert memory_keyring.passwords == {}


def test_global_options_still_work_after_set_provider(
    tmp_path: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = tmp_path / "c.toml"
    catalog.write_text(
        'schema_version = 1\n[providers.solo]\nname = "Solo"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = ["SOLO_KEY"]\nsignup_url = "https://solo.example"\n'
    )
    code, out, _ = run_cli(
        monkeypatch, capsys, "keys", "set", "solo", "--catalog", str(catalog), stdin="solo-key-1234"
    )
    assert code == 0 and out.startswith("solo: key")


@pytest.mark.parametrize("action", ["set", "rm", "test"])
def test_an_unknown_provider_exits_2_listing_the_known_ones(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    action: str,
) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "keys", action, "nosuch", stdin="k")
    assert code == 2 and out == ""
    assert "unknown provider 'nosuch'" in err and "groq" in err and "nvidia" in err


def test_empty_key_exits_2_and_odd_format_only_warns(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "keys", "set", "groq", stdin="  \n")
    assert code == 2 and "empty" in err
    assert memory_keyring.passwords == {}
    code, _, err = run_cli(monkeypatch, capsys, "keys", "set", "groq", stdin="sk-or-v1-abcdef123")
    assert code == 0 and "does not look like a groq key" in err
    assert memory_keyring.passwords[("freemodels", "groq")] == "sk-or-v1-abcdef123"


# -- the headless path, as a user runs it ----------------------------------------------------


def test_headless_set_list_rm_through_the_secrets_file(isolated_home: Path) -> None:
    done = fcli("keys", "set", "groq", stdin=SENTINEL + "\n")
    assert done.returncode == 0, done.stderr
    assert "no OS keyring available" in done.stderr and "secrets.toml (0600)" in done.stderr
    assert done.stderr.count("no OS keyring available") == 1
    secrets = paths.secrets_path()
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    listed = fcli("keys", "list", "--json")
    assert listed.returncode == 0
    groq = next(r for r in json.loads(listed.stdout) if r["provider"] == "groq")
    assert (groq["source"], groq["masked"]) == ("file", "gsk_…zz42")
    refused = fcli("keys", "set", "groq", "gsk_typedonthecommandline")
    assert refused.returncode == 2 and "shell history" in refused.stderr
    assert "typedonthecommandline" not in refused.stdout + refused.stderr
    removed = fcli("keys", "rm", "groq")
    assert removed.returncode == 0 and not secrets.exists()


def test_keys_test_against_the_fleet(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.set("alpha", MODEL, Behaviour())
    fleet.require_key("alpha", "alpha-good-key-0001")
    fleet.set("beta", MODEL, Behaviour())
    fleet.require_key("beta", "beta-good-key-0002")
    fleet.set("gamma", MODEL, Behaviour())
    with FleetThread(fleet):
        catalog = write_catalog(tmp_path / "c.toml", fleet, "alpha", "beta", "gamma")
        env = {"ALPHA_API_KEY": "alpha-good-key-0001", "BETA_API_KEY": "beta-wrong-key-0000"}
        done = fcli("keys", "test", "--json", "--catalog", str(catalog), env=env)
        one = fcli("keys", "test", "alpha", "--catalog", str(catalog), env=env)
        unknown = fcli("keys", "test", "delta", "--catalog", str(catalog), env=env)
    assert done.returncode == 0, done.stderr
    verdicts = {r["provider"]: (r["verdict"], r["http_status"]) for r in json.loads(done.stdout)}
    assert verdicts == {
        "alpha": ("ok", 200),
        "beta": ("rejected", 401),
        "gamma": ("not_configured", None),
    }
    assert one.returncode == 0
    assert one.stdout.splitlines()[1].split()[:2] == ["alpha", "ok"]
    assert len(one.stdout.splitlines()) == 2
    assert unknown.returncode == 2 and "alpha, beta, gamma" in unknown.stderr
    # Every request the tests sent was counted in the shared ledger.
    ledger = paths.history_path()
    assert ledger.exists()


def test_no_key_leaks_into_any_output_or_file(tmp_path: Path, isolated_home: Path) -> None:
    fleet = Fleet()
    fleet.set("alpha", MODEL, Behaviour())
    fleet.require_key("alpha", SENTINEL)
    # beta's /models is open; its completion refuses and echoes the Authorization header back.
    fleet.set("beta", MODEL, Behaviour(status=401, echo_auth=True))
    debug_log = isolated_home / "debug.log"
    outputs: list[str] = []
    with FleetThread(fleet):
        catalog = str(write_catalog(tmp_path / "c.toml", fleet, "alpha", "beta"))
        common = ["--catalog", catalog, "--debug", str(debug_log)]
        runs = [
            fcli("keys", "set", "alpha", *common, stdin=SENTINEL),
            fcli("keys", "set", "beta", *common, stdin=SENTINEL),
            fcli("keys", "list", *common),
            fcli("keys", "list", "--json", *common),
            fcli("keys", "test", *common),
            fcli("keys", "test", "--json", *common),
            fcli("keys", "set", "alpha", SENTINEL, *common),
        ]
    for done in runs:
        outputs += [done.stdout, done.stderr]
    tested = json.loads(runs[5].stdout)
    assert [(r["provider"], r["verdict"]) for r in tested] == [
        ("alpha", "ok"),
        ("beta", "rejected"),
    ]
    assert any(r.authorization == f"Bearer {SENTINEL}" for r in fleet.requests)  # it was sent
    for text in outputs:
        assert SENTINEL_CORE not in text
    secrets = paths.secrets_path()
    checked = 0
    for path in isolated_home.rglob("*"):
        if path.is_file() and path != secrets:
            assert SENTINEL_CORE.encode() not in path.read_bytes(), path
            checked += 1
    assert checked >= 1  # the history database (request ledger), at least
    assert paths.history_path().exists()
    assert SENTINEL.encode() in secrets.read_bytes()


# -- import from the npm peer ----------------------------------------------------------------


def write_peer(home: Path) -> Path:
    peer = home / ".free-coding-models.json"
    peer.write_text(
        json.dumps(
            {
                "apiKeys": {
                    "groq": "gsk_peergroq00001111",
                    "nvidia": ["nvapi-peerfirst0000", "nvapi-peersecond000"],
                    "not-a-provider": "xyz-0000000000",
                    "cerebras": "",
                },
                "openrouterApiKey": "sk-or-v1-peeropenrouter00",
                "providers": {"groq": {"enabled": True}},
                "telemetry": {"enabled": True},
            }
        )
    )
    return peer


def test_import_lists_only_without_a_terminal_or_yes(
    isolated_home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = write_peer(isolated_home)
    before = (peer.read_bytes(), peer.stat().st_mtime_ns)
    code, out, err = run_cli(monkeypatch, capsys, "keys", "import")
    assert code == 0
    assert "gsk_…1111" in out and "nva…0000" in out and "the first of 2 keys" in out
    assert "sk-…er00" in out and "skip: no such provider" in out
    assert "peergroq" not in out + err
    assert "nothing imported" in err and "--yes" in err
    assert memory_keyring.passwords == {}
    assert (peer.read_bytes(), peer.stat().st_mtime_ns) == before


def test_import_with_yes_stores_and_says_what_it_replaces(
    isolated_home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = write_peer(isolated_home)
    before = peer.read_bytes()
    memory_keyring.passwords[("freemodels", "groq")] = "gsk_alreadystored9999"
    code, out, _ = run_cli(monkeypatch, capsys, "keys", "import", "--yes")
    assert code == 0
    assert "REPLACING the stored key gsk_…9999" in out
    assert "groq: imported into the OS keyring" in out and "replacing gsk_…9999" in out
    assert memory_keyring.passwords == {
        ("freemodels", "groq"): "gsk_peergroq00001111",
        ("freemodels", "nvidia"): "nvapi-peerfirst0000",
        ("freemodels", "openrouter"): "sk-or-v1-peeropenrouter00",
    }
    assert peer.read_bytes() == before
    code, out, err = run_cli(monkeypatch, capsys, "keys", "import", "--yes")
    assert code == 0 and "already stored" in out and "nothing to import" in err


def test_import_asks_on_a_terminal(
    isolated_home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_peer(isolated_home)
    monkeypatch.setattr(keys_cli, "_interactive", lambda: True)
    code, _, err = run_cli(monkeypatch, capsys, "keys", "import", stdin="n\n")
    assert code == 0 and "Import 3 key(s)? [y/N]" in err and memory_keyring.passwords == {}
    code, _, _ = run_cli(monkeypatch, capsys, "keys", "import", stdin="y\n")
    assert code == 0 and len(memory_keyring.passwords) == 3


def test_import_without_a_peer_file_or_with_a_broken_one(
    isolated_home: Path,
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "keys", "import")
    assert code == 0 and out == "" and "nothing to import" in err
    (isolated_home / ".free-coding-models.json").write_text('{"apiKeys": {"groq": "gsk_' + "x" * 20)
    code, out, err = run_cli(monkeypatch, capsys, "keys", "import")
    assert code == 2 and "not valid JSON (line 1" in err and "gsk_" not in err
