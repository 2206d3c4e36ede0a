"""The careful writer: bad files stop with nothing changed; backup once; atomic; links; modes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from freemodels.cli import main
from freemodels.errors import ConfigWriteError
from freemodels.integrations import registry
from freemodels.integrations.formats import writer
from integrations_fixtures import ENV_KEY, FAKE_KEY, GROQ, LLAMA, SLASHED, STORED_KEY
from programs import need

CATALOG = """\
schema_version = 1

[providers.groq]
name = "Groq"
base_url = "https://api.groq.com/openai/v1"
api_key_env = ["GROQ_API_KEY"]
signup_url = "https://console.groq.com/keys"

[[providers.groq.models]]
id = "llama-3.3-70b-versatile"
name = "Llama 3.3 70B"
context = 131072
max_output = 32768

[[providers.groq.models]]
id = "openai/gpt-oss-120b"
name = "GPT OSS 120B"
context = 131072
"""


def env_for(home: Path) -> dict[str, str]:
    """HOME and XDG_CONFIG_HOME inside `home`."""
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "PATH": os.defpath}


def opencode_path(home: Path) -> Path:
    """Where OpenCode's user config is created."""
    return home / ".config" / "opencode" / "opencode.json"


def put(path: Path, text: str | bytes) -> Path:
    """Write a file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


BAD_FILES = [
    ("opencode", ".config/opencode/opencode.json", b'{"provider": {,}}', "not valid JSON"),
    ("opencode", ".config/opencode/opencode.json", b'{"provider": "groq"}', "expected an object"),
    ("opencode", ".config/opencode/opencode.json", b"[1, 2]", "the top level"),
    ("opencode", ".config/opencode/opencode.json", b'{"a": "\xff\xfe"}', "not UTF-8"),
    ("openclaw", ".openclaw/openclaw.json", b"{models: {providers: [1]}}", "expected an object"),
    ("qwen", ".qwen/settings.json", b'{"modelProviders": {"openai": {}}}', "expected an array"),
    ("aider", ".aider.conf.yml", b"model: [unclosed\n", "not valid YAML"),
    ("goose", ".config/goose/config.yaml", b"- a list\n- not a map\n", "expected an object"),
    ("continue", ".continue/config.yaml", b"models: {a: 1}\n", "expected an array"),
]


@pytest.mark.parametrize(("tool", "relative", "content", "message"), BAD_FILES)
def test_bad_config_stops_with_nothing_changed(
    tool: str, relative: str, content: bytes, message: str, tmp_path: Path
) -> None:
    """A corrupt or unexpected file: a clear error naming it; its bytes stay; no backup."""
    path = put(tmp_path / relative, content)
    with pytest.raises(ConfigWriteError) as caught:
        registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=env_for(tmp_path), cwd=tmp_path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)
    assert "nothing was changed" in str(caught.value)
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_bad_config_through_the_cli_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command prints one line naming the file and exits 2."""
    path = put(
        Path(os.environ["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json",
        '{\n  "model": "x",,\n}\n',
    )
    before = path.read_bytes()
    catalog = put(tmp_path / "catalog.toml", CATALOG)
    monkeypatch.chdir(tmp_path)
    code = main(["use", "opencode", "groq/llama-3.3-70b-versatile", "--catalog", str(catalog)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path} is not valid JSON/JSONC" in err and "line 2" in err
    assert path.read_bytes() == before


def test_permission_denied_leaves_the_file(tmp_path: Path) -> None:
    """A file we may not read: exit 2 naming it, bytes unchanged (root runs without DAC caps)."""
    home = tmp_path / "home"
    path = put(home / ".config" / "opencode" / "opencode.json", '{"model": "mine/x"}')
    os.chmod(path, 0)
    catalog = put(tmp_path / "catalog.toml", CATALOG)
    code = (
        "import sys; from freemodels.cli import main; sys.exit(main(['use', 'opencode', "
        f"'groq/llama-3.3-70b-versatile', '--catalog', {str(catalog)!r}]))"
    )
    prefix: list[str] = []
    if os.geteuid() == 0:
        # root reads anything; without these capabilities it meets permissions like anyone.
        setpriv = shutil.which("setpriv")
        need(setpriv is not None, "setpriv (util-linux) is needed to test permissions as root")
        caps = "-dac_override,-dac_read_search"
        prefix = [str(setpriv), f"--bounding-set={caps}", f"--inh-caps={caps}"]
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code],
        env={**env_for(home), "PYTHONPATH": os.pathsep.join(sys.path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot read {path}: Permission denied" in done.stderr
    assert "nothing was changed" in done.stderr
    os.chmod(path, 0o644)
    assert path.read_text(encoding="utf-8") == '{"model": "mine/x"}'
    assert sorted(p.name for p in path.parent.iterdir()) == ["opencode.json"]


def test_unwritable_folder_leaves_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the new file cannot be written (disk full, read-only), the old one stays whole."""
    path = put(opencode_path(tmp_path), '{"model": "mine/x"}')

    def refuse(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ConfigWriteError, match="No space left on device"):
        registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env_for(tmp_path), cwd=tmp_path)
    assert path.read_text(encoding="utf-8") == '{"model": "mine/x"}'
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_backup_once_then_idempotent(tmp_path: Path) -> None:
    """One backup before the first change; a rerun changes no byte and makes no new backup."""
    original = '{\n  // mine\n  "model": "mine/x",\n}\n'
    path = put(opencode_path(tmp_path), original)
    env = env_for(tmp_path)
    first = registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    backup = writer.backup_path(path)
    assert first.changed and backup.read_text(encoding="utf-8") == original
    after_first = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    again = registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    assert not again.changed and again.diff() == ""
    assert path.read_bytes() == after_first and path.stat().st_mtime_ns == mtime
    registry.apply("opencode", GROQ, SLASHED, ENV_KEY, env=env, cwd=tmp_path)
    assert backup.read_text(encoding="utf-8") == original  # never overwritten
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, backup.name])


def test_undo_restores_the_users_model(tmp_path: Path) -> None:
    """--undo removes our provider and gives `model` back its pre-freemodels value."""
    original = '{\n  // mine\n  "model": "mine/x",\n  "provider": {"mine": {}}\n}\n'
    path = put(opencode_path(tmp_path), original)
    env = env_for(tmp_path)
    registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    registry.apply("opencode", GROQ, SLASHED, ENV_KEY, env=env, cwd=tmp_path)
    result = registry.undo("opencode", env=env)
    assert result.changed
    assert path.read_text(encoding="utf-8") == original
    assert not registry.undo("opencode", env=env).changed


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    """--dry-run returns a unified diff and leaves the disk alone (no file, no backup)."""
    env = env_for(tmp_path)
    result = registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path, dry_run=True)
    assert result.diff().startswith(f"--- /dev/null\n+++ {opencode_path(tmp_path)}\n")
    assert '+  "model": "freemodels-groq/llama-3.3-70b-versatile"' in result.diff()
    assert not (tmp_path / ".config").exists()
    path = put(opencode_path(tmp_path), '{"model": "mine/x"}')
    result = registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path, dry_run=True)
    assert '-{"model": "mine/x"}' in result.diff()
    assert path.read_text(encoding="utf-8") == '{"model": "mine/x"}'
    assert not writer.backup_path(path).exists()
    put(opencode_path(tmp_path), "{,}")
    with pytest.raises(ConfigWriteError):
        registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path, dry_run=True)


def test_inline_key_makes_the_file_private(tmp_path: Path) -> None:
    """--inline-key writes the plaintext key only then, and the file becomes 0600."""
    path = put(opencode_path(tmp_path), "{}")
    os.chmod(path, 0o644)
    env = env_for(tmp_path)
    result = registry.apply(
        "opencode", GROQ, LLAMA, STORED_KEY, env=env, cwd=tmp_path, inline_key=True
    )
    assert FAKE_KEY in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FAKE_KEY not in result.diff() and "gsk_…abcd" in result.diff()
    assert stat.S_IMODE(writer.backup_path(path).stat().st_mode) == 0o644
    # Already written but the mode was opened again: the rerun tightens it.
    os.chmod(path, 0o644)
    registry.apply("opencode", GROQ, LLAMA, STORED_KEY, env=env, cwd=tmp_path, inline_key=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_mode_is_kept(tmp_path: Path) -> None:
    """A 0640 config stays 0640."""
    path = put(opencode_path(tmp_path), "{}")
    os.chmod(path, 0o640)
    registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env_for(tmp_path), cwd=tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_symlinked_config_is_edited_through_the_link(tmp_path: Path) -> None:
    """Dotfile managers: the link stays a link and its target gets the change."""
    target = put(tmp_path / "dotfiles" / "opencode.json", '{"model": "mine/x"}')
    link = opencode_path(tmp_path)
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env_for(tmp_path), cwd=tmp_path)
    assert link.is_symlink() and link.resolve() == target
    assert "freemodels-groq" in target.read_text(encoding="utf-8")
    assert writer.backup_path(link).read_text(encoding="utf-8") == '{"model": "mine/x"}'
    assert sorted(p.name for p in target.parent.iterdir()) == ["opencode.json"]


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    """A link to a file not yet created: the file appears where the link points."""
    link = opencode_path(tmp_path)
    link.parent.mkdir(parents=True)
    (tmp_path / "dotfiles").mkdir()
    link.symlink_to(tmp_path / "dotfiles" / "opencode.json")
    registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env_for(tmp_path), cwd=tmp_path)
    assert link.is_symlink() and (tmp_path / "dotfiles" / "opencode.json").is_file()


def test_cli_dry_run_prints_only_the_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdout carries the diff alone; notes go to stderr."""
    catalog = put(tmp_path / "catalog.toml", CATALOG)
    monkeypatch.chdir(tmp_path)
    code = main(
        ["use", "opencode", "groq/openai/gpt-oss-120b", "--dry-run", "--catalog", str(catalog)]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("--- /dev/null\n") and "freemodels-groq/openai/gpt-oss-120b" in out
    assert "export GROQ_API_KEY" in err or "keys set groq" in err
    assert not (Path(os.environ["XDG_CONFIG_HOME"]) / "opencode").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["use", "vim", "groq/x"], "unknown tool 'vim'; choose one of: opencode, kilo"),
        (["use", "opencode", "nope/x"], "unknown provider 'nope'; choose one of: groq"),
        (["use", "opencode", "groq/x"], "groq has no model 'x'; choose one of: llama-3.3"),
        (["use", "opencode", "groq"], "expected PROVIDER/MODEL"),
        (["use", "opencode"], "needs TOOL and PROVIDER/MODEL"),
        (["use", "opencode", "groq/x", "--undo"], "--undo takes only TOOL"),
    ],
)
def test_cli_bad_input_exits_2(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown tool, provider or model: one line listing the valid choices, exit 2."""
    catalog = put(tmp_path / "catalog.toml", CATALOG)
    assert main([*argv, "--catalog", str(catalog)]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len([line for line in err.splitlines() if line.startswith("freemodels: ")]) >= 1


def test_cli_write_then_undo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole round trip through the command line, key from the environment."""
    catalog = put(tmp_path / "catalog.toml", CATALOG)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
    argv = ["use", "kilo", "groq/llama-3.3-70b-versatile", "--catalog", str(catalog)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "kilo" / "kilo.json"
    assert f"wrote {path}" in out and "kilo model: freemodels-groq/llama-3.3-70b-versatile" in out
    assert main(argv) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert main(["use", "kilo", "--undo"]) == 0
    assert "freemodels-groq" not in path.read_text(encoding="utf-8")


def test_cli_launch_hands_over_and_returns_the_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--launch starts the tool with the model and the key in its env; its code is ours."""
    catalog = put(tmp_path / "catalog.toml", CATALOG)
    bin_dir = tmp_path / "bin"
    fake = put(
        bin_dir / "opencode",
        f'#!/bin/sh\necho "$@" > {tmp_path}/args\necho "$GROQ_API_KEY" > {tmp_path}/key\nexit 7\n',
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GROQ_API_KEY", FAKE_KEY)
    monkeypatch.chdir(tmp_path)
    argv = [
        "use",
        "opencode",
        "groq/llama-3.3-70b-versatile",
        "--launch",
        "--catalog",
        str(catalog),
    ]
    assert main(argv) == 7
    assert (tmp_path / "args").read_text().split() == [
        "-m",
        "freemodels-groq/llama-3.3-70b-versatile",
    ]
    assert (tmp_path / "key").read_text().strip() == FAKE_KEY
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(argv) == 2
    assert "npm install -g opencode-ai" in capsys.readouterr().err


def test_yaml_undo_keeps_comments_after_removed_entries(tmp_path: Path) -> None:
    """ruamel ties a comment to the entry above it; removing our entry must not take it along."""
    path = put(
        tmp_path / ".continue" / "config.yaml",
        "models:\n  - name: a\n    provider: x\n  # after a\n",
    )
    env = env_for(tmp_path)
    registry.apply("continue", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    # The user adds things after ours, with comments, then undoes.
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("  - name: a\n", "  # user comment after ours\n  - name: a\n")
        + "# about context\ncontext: []\n",
        encoding="utf-8",
    )
    registry.undo("continue", env=env)
    undone = path.read_text(encoding="utf-8")
    assert "(freemodels)" not in undone
    for comment in ("# after a", "# user comment after ours", "# about context"):
        assert comment in undone
    aider = put(tmp_path / ".aider.conf.yml", "dark-mode: true\n")
    registry.apply("aider", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    aider.write_text(aider.read_text(encoding="utf-8") + "# mine\nread: x\n", encoding="utf-8")
    registry.undo("aider", env=env)
    assert aider.read_text(encoding="utf-8") == "dark-mode: true\n# mine\nread: x\n"
