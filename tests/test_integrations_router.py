"""`use TOOL router`: the local router in each tool's config, byte for byte, and safely undone."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from freemodels.cli import main
from freemodels.core.records import ModelRef
from freemodels.core.store.history import History
from freemodels.errors import ConfigWriteError, UsageError
from freemodels.integrations import registry, router
from freemodels.integrations.formats.jsonc import parse
from freemodels.integrations.router import RouterAddress
from integrations_fixtures import (
    ENV_KEY,
    EXISTING,
    GOLDEN,
    GROQ,
    LLAMA,
    assert_golden,
    home_env,
    jsonc_value,
    put_existing,
    schema,
    written,
)

LOCAL = RouterAddress("http://127.0.0.1:8766", "default")
REMOTE = RouterAddress("http://10.1.2.3:8766", "given")  # only written into files, never contacted
TOKEN = "fmr_SECRETTOKEN0123456789"


def meaning(path: Path) -> Any:
    """A config file's parsed value (YAML or JSONC)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yml", ".yaml"):
        return YAML(typ="safe").load(text)
    return parse(text).value


@pytest.mark.parametrize("case", ["fresh", "existing"])
@pytest.mark.parametrize("tool", registry.ROUTER_TOOLS)
def test_golden(tool: str, case: str, tmp_path: Path) -> None:
    """What `use TOOL router` writes against the default address, byte for byte."""
    home = tmp_path / "home"
    home.mkdir()
    if case == "existing":
        put_existing(tool, home)
    registry.apply_router(tool, LOCAL, env=home_env(home), cwd=tmp_path)
    assert_golden(home, GOLDEN / tool / f"router-{case}")


@pytest.mark.parametrize("tool", registry.ROUTER_TOOLS)
def test_second_write_changes_nothing(tool: str, tmp_path: Path) -> None:
    """Idempotent: the same `use TOOL router` again leaves every byte and makes no second backup."""
    put_existing(tool, tmp_path)
    env = home_env(tmp_path)
    registry.apply_router(tool, LOCAL, env=env, cwd=tmp_path)
    before = written(tmp_path)
    again = registry.apply_router(tool, LOCAL, env=env, cwd=tmp_path)
    assert not again.changed
    assert written(tmp_path) == before


@pytest.mark.parametrize("tool", registry.ROUTER_TOOLS)
def test_undo_restores_the_users_config(tool: str, tmp_path: Path) -> None:
    """use TOOL router, then --undo: the user's own values and comments all come back."""
    path = put_existing(tool, tmp_path)
    original = path.read_text(encoding="utf-8")
    env = home_env(tmp_path)
    registry.apply_router(tool, LOCAL, env=env, cwd=tmp_path)
    assert path.read_text(encoding="utf-8") != original
    registry.undo(tool, env=env)
    assert meaning(path) == meaning(GOLDEN / tool / path.name)
    assert not list(tmp_path.rglob("custom_providers/*.json"))
    for line in original.splitlines():
        if ("//" in line and "http" not in line) or line.lstrip().startswith("#"):
            comment = line[line.index("//") if "//" in line else line.index("#") :]
            assert comment in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("tool", registry.ROUTER_TOOLS)
def test_undo_of_a_fresh_write_leaves_nothing_of_ours(tool: str, tmp_path: Path) -> None:
    """A file we created holds nothing that names the router after --undo."""
    env = home_env(tmp_path)
    registry.apply_router(tool, LOCAL, env=env, cwd=tmp_path)
    registry.undo(tool, env=env)
    for text in written(tmp_path).values():
        assert "8766" not in text and "auto:tools" not in text


def test_router_beside_picked_models(tmp_path: Path) -> None:
    """A per-model pick stays listed beside the router; the router becomes the default; undo
    takes both out."""
    env = home_env(tmp_path)
    path = put_existing("opencode", tmp_path)
    registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    registry.apply_router("opencode", LOCAL, env=env, cwd=tmp_path)
    value = jsonc_value(path)
    assert value["model"] == "freemodels/auto:tools"
    assert {"ollama", "freemodels-groq", "freemodels"} <= set(value["provider"])
    assert set(value["provider"]["freemodels"]["models"]) == {"auto", "auto:tools"}
    registry.undo("opencode", env=env)
    assert jsonc_value(path) == jsonc_value(GOLDEN / "opencode" / "opencode.jsonc")


def test_a_moved_router_is_rewritten_not_duplicated(tmp_path: Path) -> None:
    """The router's entry follows its address (Qwen keeps per-URL entries for catalog models)."""
    env = home_env(tmp_path)
    moved = RouterAddress("http://127.0.0.1:9000", "given")
    for tool in ("qwen", "opencode", "claude"):
        registry.apply_router(tool, LOCAL, env=env, cwd=tmp_path)
        result = registry.apply_router(tool, moved, env=env, cwd=tmp_path)
        text = result.paths[0].read_text(encoding="utf-8")
        assert "127.0.0.1:9000" in text and "8766" not in text
    entries = jsonc_value(tmp_path / ".qwen" / "settings.json")["modelProviders"]["openai"]
    assert [entry["id"] for entry in entries] == ["auto", "auto:tools"]


# -- a router off loopback: the token ---------------------------------------------------------


def test_remote_router_is_referenced_by_its_token_variable(tmp_path: Path) -> None:
    """Off loopback no placeholder is written: each tool names FREEMODELS_ROUTER_TOKEN."""
    env = home_env(tmp_path)
    for tool in registry.TOOLS:
        registry.apply_router(tool, REMOTE, env=env, cwd=tmp_path)
    texts = written(tmp_path)
    assert "{env:FREEMODELS_ROUTER_TOKEN}" in texts[".config/opencode/opencode.json"]
    assert "${FREEMODELS_ROUTER_TOKEN}" in texts[".openclaw/openclaw.json"]
    assert '"$FREEMODELS_ROUTER_TOKEN"' in texts[".config/crush/crush.json"]
    assert "${{ secrets.FREEMODELS_ROUTER_TOKEN }}" in texts[".continue/config.yaml"]
    goose = json.loads(texts[".config/goose/custom_providers/freemodels.json"])
    assert goose["api_key_env"] == "FREEMODELS_ROUTER_TOKEN" and goose["requires_auth"] is True
    placeholders = ('"apiKey": "freemodels"', '"api_key": "freemodels"', "apiKey: freemodels")
    assert not any(p in text for p in placeholders for text in texts.values())
    assert "openai-api-key" not in texts[".aider.conf.yml"]
    notes = registry.apply_router("opencode", REMOTE, env=env, cwd=tmp_path).notes
    assert any("export FREEMODELS_ROUTER_TOKEN" in note for note in notes)
    notes = registry.apply_router(
        "opencode", REMOTE, env={**env, "FREEMODELS_ROUTER_TOKEN": TOKEN}, cwd=tmp_path
    ).notes
    assert notes == ()


def test_claude_gets_the_token_itself_privately(tmp_path: Path) -> None:
    """Claude Code cannot name a variable in its settings: the token is written 0600, masked."""
    env = {**home_env(tmp_path), "FREEMODELS_ROUTER_TOKEN": TOKEN}
    path = tmp_path / ".claude" / "settings.json"
    registry.apply_router("claude", LOCAL, env=env, cwd=tmp_path)
    assert jsonc_value(path)["env"]["ANTHROPIC_AUTH_TOKEN"] == "freemodels"
    preview = registry.apply_router("claude", REMOTE, env=env, cwd=tmp_path, dry_run=True)
    assert TOKEN not in preview.diff() and "http://10.1.2.3:8766" in preview.diff()
    registry.apply_router("claude", REMOTE, env=env, cwd=tmp_path)
    assert jsonc_value(path)["env"] == {
        "ANTHROPIC_BASE_URL": "http://10.1.2.3:8766",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "8192",
        "ANTHROPIC_AUTH_TOKEN": TOKEN,
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_claude_without_the_token_drops_the_placeholder_and_says_so(tmp_path: Path) -> None:
    """Moving off loopback with no token at hand: the stale placeholder goes; a note says why."""
    env = home_env(tmp_path)
    path = tmp_path / ".claude" / "settings.json"
    registry.apply_router("claude", LOCAL, env=env, cwd=tmp_path)
    result = registry.apply_router("claude", REMOTE, env=env, cwd=tmp_path)
    assert "ANTHROPIC_AUTH_TOKEN" not in jsonc_value(path)["env"]
    assert any("FREEMODELS_ROUTER_TOKEN" in note for note in result.notes)


def test_claude_settings_keep_unrelated_keys_and_honour_the_config_dir(tmp_path: Path) -> None:
    """CLAUDE_CONFIG_DIR names the folder; every other key of the user's stays as it was."""
    folder = tmp_path / "claude-config"
    folder.mkdir()
    shutil.copyfile(GOLDEN / "claude" / "settings.json", folder / "settings.json")
    env = {**home_env(tmp_path), "CLAUDE_CONFIG_DIR": str(folder)}
    result = registry.apply_router("claude", LOCAL, env=env, cwd=tmp_path)
    assert result.paths == (folder / "settings.json",)
    after, before = jsonc_value(folder / "settings.json"), meaning(GOLDEN / "claude/settings.json")
    assert after["env"]["CLAUDE_CODE_ENABLE_TELEMETRY"] == "0"
    assert {k: v for k, v in after.items() if k != "env"} == {
        k: v for k, v in before.items() if k != "env"
    }


def test_claude_settings_behind_a_dotfiles_link(tmp_path: Path) -> None:
    """~/.claude/settings.json linked into a dotfiles repo: the link stays, its target changes,
    its mode is kept; undo gives the target its old meaning."""
    target = tmp_path / "dotfiles" / "claude-settings.json"
    target.parent.mkdir()
    shutil.copyfile(GOLDEN / "claude" / "settings.json", target)
    target.chmod(0o640)
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(target)
    registry.apply_router("claude", LOCAL, env=home_env(tmp_path), cwd=tmp_path)
    assert link.is_symlink() and link.resolve() == target
    assert jsonc_value(target)["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8766"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert (tmp_path / ".claude" / "settings.json.freemodels.bak").is_file()
    registry.undo("claude", env=home_env(tmp_path))
    assert link.is_symlink() and meaning(target) == meaning(GOLDEN / "claude" / "settings.json")


def test_claude_undo_leaves_a_file_that_is_not_ours_alone(tmp_path: Path) -> None:
    """No backup and no placeholder: the user's own gateway setting is not ours to remove."""
    path = put_existing("claude", tmp_path)
    original = path.read_bytes()
    result = registry.undo("claude", env=home_env(tmp_path))
    assert not result.changed and path.read_bytes() == original


def test_project_settings_warn(tmp_path: Path) -> None:
    """A project's .claude/settings.local.json that sets the base URL overrides ours: warn."""
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "settings.local.json").write_text(
        '{"env": {"ANTHROPIC_BASE_URL": "https://x"}}', encoding="utf-8"
    )
    notes = registry.apply_router("claude", LOCAL, env=home_env(tmp_path), cwd=project).notes
    assert any("settings.local.json overrides" in note for note in notes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"env": {"A": "1",}', "not valid JSON"),
        (b'{"env": "ANTHROPIC_BASE_URL=x"}', "expected an object at env"),
        (b'{"provider": {"freemodels": 3}}', None),  # not Claude's: still edited, minimally
    ],
)
def test_claude_settings_it_cannot_edit_stay_byte_for_byte(
    content: bytes, message: str | None, tmp_path: Path
) -> None:
    """A broken settings file: a one-line error naming it; its bytes stay; no backup is made."""
    path = tmp_path / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_bytes(content)
    if message is None:
        registry.apply_router("claude", LOCAL, env=home_env(tmp_path), cwd=tmp_path)
        assert jsonc_value(path)["provider"] == {"freemodels": 3}
        return
    with pytest.raises(ConfigWriteError, match=message):
        registry.apply_router("claude", LOCAL, env=home_env(tmp_path), cwd=tmp_path)
    assert path.read_bytes() == content
    assert not (tmp_path / ".claude" / "settings.json.freemodels.bak").exists()


def test_claude_takes_only_the_router() -> None:
    """A PROVIDER/MODEL for Claude Code is refused: it speaks Anthropic's API, not OpenAI's."""
    with pytest.raises(UsageError, match="needs the router"):
        registry.apply("claude", GROQ, LLAMA, ENV_KEY)
    with pytest.raises(UsageError, match="needs the router"):
        registry.reference("claude", ModelRef("groq", "x"))
    assert "claude" not in registry.TOOLS and "claude" in registry.ROUTER_TOOLS


# -- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "schema_name"),
    [
        ("opencode", "opencode-config.schema.json"),
        ("kilo", "opencode-config.schema.json"),
        ("openclaw", "openclaw.schema.json"),
        ("crush", "crush.schema.json"),
        ("continue", "continue-config-yaml.schema.json"),
    ],
)
@pytest.mark.parametrize("where", [LOCAL, REMOTE], ids=["loopback", "remote"])
def test_router_entry_matches_the_tool_schema(
    tool: str, schema_name: str, where: RouterAddress, tmp_path: Path
) -> None:
    """What `use TOOL router` writes validates against the tool's published schema."""
    put_existing(tool, tmp_path)
    registry.apply_router(tool, where, env=home_env(tmp_path), cwd=tmp_path)
    value = meaning(tmp_path / EXISTING[tool])
    if tool == "kilo":
        value.pop("$schema")  # Kilo's own keys are a superset; the OpenCode schema is the base
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


# -- the router's address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:8766", "http://127.0.0.1:8766"),
        ("http://127.0.0.1:8766/", "http://127.0.0.1:8766"),
        ("http://127.0.0.1:8766/v1", "http://127.0.0.1:8766"),
        ("0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("http://[::]:9000", "http://[::1]:9000"),
        ("https://router.example.com/team/v1/", "https://router.example.com/team"),
        ("localhost", "http://localhost"),
    ],
)
def test_address_normalised(given: str, url: str) -> None:
    """Whatever form the address takes, tools get `scheme://host:port` (plus `/v1` for OpenAI)."""
    assert router.normalize_url(given) == url


@pytest.mark.parametrize("given", ["ftp://host:1", "http://", "http://host:99999", "::"])
def test_bad_address_is_a_usage_error(given: str) -> None:
    """Not an http(s) address: one line saying the form it takes."""
    with pytest.raises(UsageError, match="http://HOST:PORT"):
        router.normalize_url(given)


def pretend_router(monkeypatch: pytest.MonkeyPatch, url: str | None) -> None:
    """A live monitor whose heartbeat names `url` as its router (None: it serves none), both as
    `Heartbeat.router` and through the router's own `History.live_router()`."""
    beat = SimpleNamespace(pid=1, role="serve", at=0.0, started=0.0, router=url)
    monkeypatch.setattr(History, "live_monitor", lambda self, now=None: beat)
    monkeypatch.setattr(History, "live_router", lambda self, now=None: url, raising=False)


def test_address_comes_from_the_running_router(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--url wins; else the live monitor's heartbeat names the router; else the default."""
    history_path = tmp_path / "history.sqlite3"
    assert router.address(None, history_path) == RouterAddress(router.DEFAULT_URL, "default")
    assert not history_path.exists()  # looking did not create the database
    History(history_path).close()
    assert router.address(None, history_path).source == "default"  # no live monitor
    pretend_router(monkeypatch, "http://0.0.0.0:9100")
    assert router.address(None, history_path) == RouterAddress("http://127.0.0.1:9100", "running")
    assert router.address("127.0.0.1:1234", history_path).url == "http://127.0.0.1:1234"
    pretend_router(monkeypatch, None)  # a monitor without a router
    assert router.address(None, history_path).source == "default"


# -- the command line --------------------------------------------------------------------------


def test_cli_router_dry_run_then_write_then_undo(capsys: pytest.CaptureFixture[str]) -> None:
    """`use opencode router --dry-run` prints the diff and writes nothing; then for real; undo."""
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"
    assert main(["use", "opencode", "router", "--url", "127.0.0.1:9000", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '"baseURL": "http://127.0.0.1:9000/v1"' in out and not path.exists()
    assert main(["use", "opencode", "router", "--url", "127.0.0.1:9000"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {path}" in out and "opencode model: freemodels/auto:tools" in out
    assert main(["use", "opencode", "--undo"]) == 0
    assert "model" not in jsonc_value(path) and "provider" not in jsonc_value(path)


def test_cli_claude_router(capsys: pytest.CaptureFixture[str]) -> None:
    """`use claude router` writes ~/.claude/settings.json; --undo takes it out again."""
    home = Path(os.environ["HOME"])
    assert main(["use", "claude", "router"]) == 0
    captured = capsys.readouterr()
    assert "claude model: auto:tools" in captured.out
    assert "no running router was found" in captured.err
    settings = jsonc_value(home / ".claude" / "settings.json")
    assert settings["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8766"
    assert main(["use", "claude", "--undo"]) == 0
    assert "env" not in jsonc_value(home / ".claude" / "settings.json")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["use", "claude", "groq/llama-3.3-70b-versatile"], "Claude Code speaks only Anthropic"),
        (["use", "opencode", "router", "--url", "ftp://x"], "not a router address"),
        (["use", "opencode", "groq/x", "--url", "127.0.0.1:1"], "--url goes with `router`"),
        (["use", "opencode", "router", "--inline-key"], "the router takes no provider key"),
        (["use", "opencode", "--undo", "--url", "127.0.0.1:1"], "--undo takes only TOOL"),
        (["use", "vim", "router"], "choose one of: opencode"),
        (["best", "--for", "claude"], "needs the router"),
    ],
)
def test_cli_bad_router_usage(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each mistake: exit 2, one line on stderr, nothing written."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(Path(os.environ["HOME"]).rglob("*.json"))


def test_launch_on_the_router(tmp_path: Path) -> None:
    """--launch: each tool on the router's default name; Continue lives in the editor."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("opencode", "aider", "claude"):
        (bin_dir / name).write_text("#!/bin/sh\n", encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    env = {**home_env(tmp_path), "PATH": str(bin_dir)}
    assert registry.launch_router("opencode", LOCAL, env=env) == [
        str(bin_dir / "opencode"),
        "-m",
        "freemodels/auto:tools",
    ]
    assert registry.launch_router("aider", LOCAL, env=env)[1:] == ["--model", "openai/auto"]
    assert registry.launch_router("claude", LOCAL, env=env) == [str(bin_dir / "claude")]
    with pytest.raises(UsageError, match="editor"):
        registry.launch_router("continue", LOCAL, env=env)
    with pytest.raises(UsageError, match="npm install -g @kilocode/cli"):
        registry.launch_router("kilo", LOCAL, env=env)


def test_cli_works_from_a_deleted_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shell's folder was removed under it: no project check, no traceback, the write done."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert main(["use", "opencode", "router"]) == 0
    assert "opencode model: freemodels/auto:tools" in capsys.readouterr().out


def test_cli_demo_reads_the_demo_monitors_heartbeat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`use --demo TOOL router` looks for the router of a `serve --demo` (its own history)."""
    from freemodels import paths

    History(paths.data_dir() / "history-demo.sqlite3").close()
    pretend_router(monkeypatch, "http://127.0.0.1:9200")
    assert main(["use", "--demo", "claude", "router"]) == 0
    assert "no running router" not in capsys.readouterr().err
    settings = jsonc_value(Path(os.environ["HOME"]) / ".claude" / "settings.json")
    assert settings["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9200"
