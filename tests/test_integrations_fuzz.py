"""Damaged configs never reach a traceback: every writer stops with one error and the file intact.

Inputs are the golden files under tests/data/integrations (before and after `use`) and the
realistic configs beside them, cut at every character and hit by random byte damage. Each run
either writes a file that parses, or raises ConfigWriteError naming the file, leaving its bytes
as they were and creating nothing beside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freemodels.errors import ConfigWriteError
from freemodels.integrations import registry
from freemodels.integrations.formats import writer
from integrations_fixtures import ENV_KEY, GOLDEN, GROQ, LLAMA

# Where each tool reads its config (relative to HOME), and the files that feed it.
WHERE = {
    "opencode": ".config/opencode/opencode.jsonc",
    "kilo": ".config/kilo/kilo.jsonc",
    "openclaw": ".openclaw/openclaw.json",
    "crush": ".config/crush/crush.json",
    "goose": ".config/goose/config.yaml",
    "aider": ".aider.conf.yml",
    "continue": ".continue/config.yaml",
    "qwen": ".qwen/settings.json",
}
GOOSE_OWN = ".config/goose/custom_providers/freemodels-groq.json"
REALISTIC = GOLDEN / "realistic"
EXTRA = {
    "opencode": ["opencode.json"],
    "kilo": ["opencode.json"],
    "crush": ["crush.json"],
    "goose": ["goose.yaml"],
    "aider": ["aider.conf.yml"],
    "continue": ["continue.yaml"],
}


def sources(tool: str, relative: str) -> list[tuple[str, bool]]:
    """The golden and realistic texts of `relative`'s format for `tool`, each with whether to
    cut it at every character: YAML is slow to parse, so only the golden inputs are, the
    outputs and the longer realistic files at every line end and every fifth character."""
    suffix = Path(relative).suffix
    found = sorted(p for p in (GOLDEN / tool).rglob("*") if p.is_file() and p.suffix == suffix)
    if relative == GOOSE_OWN:
        found = sorted((GOLDEN / tool).rglob("freemodels-groq.json"))
    elif tool in EXTRA:
        found += [REALISTIC / name for name in EXTRA[tool]]
    yaml = suffix in (".yml", ".yaml")
    return [(p.read_text(encoding="utf-8"), not yaml or p.parent == GOLDEN / tool) for p in found]


def cut_points(text: str, *, sparse: bool) -> list[int]:
    """Every character boundary; `sparse`: every line end and every fifth character only."""
    if not sparse:
        return list(range(len(text) + 1))
    return [i for i in range(len(text) + 1) if i % 5 == 0 or text[i - 1 : i] == "\n"]


CASES = [*WHERE.items(), ("goose", GOOSE_OWN)]


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def attempt(home: Path, tool: str, relative: str, content: bytes, *, undo: bool = False) -> bool:
    """Run `use` (or `--undo`) over `content` on disk; True when it wrote, False on a clean error.

    Any other exception fails the test. On an error the file keeps its bytes and nothing
    appears beside it.
    """
    if home.exists():
        shutil.rmtree(home)
    path = home / relative
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    try:
        if undo:
            registry.undo(tool, env=_env(home))
        else:
            registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=_env(home), cwd=home)
    except ConfigWriteError as exc:
        assert str(path) in str(exc), str(exc)
        assert "\n" not in str(exc)
        assert path.read_bytes() == content
        assert [p.name for p in path.parent.iterdir()] == [path.name]
        return False
    return True


def attempt_in_memory(
    files: dict[Path, str], home: Path, tool: str, relative: str, text: str, *, undo: bool
) -> bool:
    """`attempt` as a dry run over a file held in `files` (no disk, no fsync): the same parse,
    edits and checks, thousands of times a second."""
    files.clear()
    files[home / relative] = text
    try:
        if undo:
            registry.undo(tool, env=_env(home), dry_run=True)
        else:
            registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=_env(home), cwd=home, dry_run=True)
    except ConfigWriteError as exc:
        assert str(home / relative) in str(exc), str(exc)
        assert "\n" not in str(exc)
        return False
    return True


@pytest.mark.parametrize(("tool", "relative"), CASES, ids=[f"{t}:{Path(r).name}" for t, r in CASES])
def test_every_prefix_stops_cleanly(
    tool: str, relative: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config cut anywhere (a crash mid-save, a half-synced file) is written or refused.

    Every cut runs in memory, use and undo; every 25th also on disk, where a refusal must leave
    the file's bytes and its folder as they were.
    """
    files: dict[Path, str] = {}
    monkeypatch.setattr(writer, "read_text", files.get)
    # The file must exist on disk for the tools that pick the first existing candidate.
    (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / relative).touch()
    refused = 0
    texts = sources(tool, relative)
    assert texts, "no source files"
    for text, dense in texts:
        for count, index in enumerate(cut_points(text, sparse=not dense)):
            prefix = text[:index]
            refused += not attempt_in_memory(files, tmp_path, tool, relative, prefix, undo=False)
            attempt_in_memory(files, tmp_path, tool, relative, prefix, undo=True)
            if count % 25 == 0:
                with monkeypatch.context() as disk:
                    disk.setattr(writer, "read_text", READ_TEXT)
                    attempt(tmp_path / "disk", tool, relative, prefix.encode("utf-8"))
        assert attempt_in_memory(files, tmp_path, tool, relative, text, undo=False)
    assert refused > 0


READ_TEXT = writer.read_text


# A few characters that matter to JSON, JSONC, JSON5 and YAML, plus bytes that are not UTF-8.
_SYNTAX = b"{}[]:,\"'\\/*#\n\r\t -&!?|>%@`~0x.eE+\x00\xff\xc3"
damage = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "replace", "duplicate"]),
        st.floats(0, 1),
        st.integers(1, 12),
        st.binary(min_size=1, max_size=6) | st.sampled_from([bytes([b]) for b in _SYNTAX]),
    ),
    min_size=1,
    max_size=4,
)


def damaged(data: bytes, ops: list[tuple[str, float, int, bytes]]) -> bytes:
    """`data` after each damage op at its relative position."""
    for kind, where, length, noise in ops:
        at = int(where * len(data))
        if kind == "delete":
            data = data[:at] + data[at + length :]
        elif kind == "insert":
            data = data[:at] + noise + data[at:]
        elif kind == "replace":
            data = data[:at] + noise + data[at + len(noise) :]
        else:
            data = data[:at] + data[at : at + length] * 2 + data[at + length :]
    return data


@settings(max_examples=200)  # deterministic under CI: the conftest profile
@given(
    case=st.sampled_from(CASES),
    pick=st.integers(0, 100),
    ops=damage,
    undo=st.booleans(),
)
def test_random_damage_stops_cleanly(
    case: tuple[str, str], pick: int, ops: list[tuple[str, float, int, bytes]], undo: bool
) -> None:
    """Random byte damage to a real config: written or refused in one line, never a traceback."""
    tool, relative = case
    texts = sources(tool, relative)
    content = damaged(texts[pick % len(texts)][0].encode("utf-8"), ops)
    home = Path(os.environ["HOME"]) / "fuzz"
    attempt(home, tool, relative, content, undo=undo)


_BOMB = "a: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)
HOSTILE = [
    ("opencode", '{"x": ' + "[" * 300 + "]" * 300 + "}", "nesting deeper than 256"),
    ("opencode", '{"x": ' + "9" * 5000 + "}", "number too long"),
    ("opencode", '{"x": 0x' + "f" * 5000 + "}", "number too long"),
    ("opencode", '{ "theme": "x", "model":', "unexpected end of file"),
    ("openclaw", "{ models: { providers: { a: '", "unterminated string"),
    ("aider", "x: " + "[" * 400 + "]" * 400 + "\n", "nesting deeper than 100"),
    ("aider", "".join("  " * i + f"k{i}:\n" for i in range(150)), "nesting deeper than 100"),
    ("aider", "&x {b: *x}\n", "an alias inside itself"),
    ("continue", _BOMB, "more than 100000 values"),
]


@pytest.mark.parametrize(("tool", "content", "message"), HOSTILE)
def test_hostile_config_stops_cleanly(
    tool: str, content: str, message: str, tmp_path: Path
) -> None:
    """Inputs a fuzzer rarely builds: deep nesting, huge numbers, alias cycles and bombs."""
    path = tmp_path / WHERE[tool]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    for undo in (False, True):
        with pytest.raises(ConfigWriteError, match=message):
            if undo:
                registry.undo(tool, env=_env(tmp_path))
            else:
                registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=_env(tmp_path), cwd=tmp_path)
        assert path.read_text(encoding="utf-8") == content


def test_a_yaml_key_that_is_not_a_string_is_compared_not_crashed_on(tmp_path: Path) -> None:
    """Random damage found it: `? ` then `: value` is a null key, and comparing documents sorted
    mixed key types (TypeError). Keys compare as a JSON writer would spell them."""
    path = tmp_path / WHERE["goose"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("? \n: freemodels-groq\nGOOSE_MODEL: llama-3.3-70b-versatile\n")
    registry.apply("goose", GROQ, LLAMA, ENV_KEY, env=_env(tmp_path), cwd=tmp_path)
    assert "freemodels-groq" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("tool", "relative", "content"),
    [
        ("opencode", ".config/opencode/opencode.jsonc", b'{ "theme": "x", "model":'),
        ("crush", ".config/crush/crush.json", b'{ "theme": "x", "models":'),
        ("aider", ".aider.conf.yml", b"model: [gpt-4o,\n"),
        ("openclaw", ".openclaw/openclaw.json", b"{ models: { providers: { a: '"),
    ],
)
def test_cut_config_through_the_command(
    tool: str, relative: str, content: bytes, tmp_path: Path
) -> None:
    """The command itself: one line naming the file and the problem, exit 2, file untouched."""
    home = Path(os.environ["HOME"])
    if relative.startswith(".config/"):
        home, relative = Path(os.environ["XDG_CONFIG_HOME"]), relative.removeprefix(".config/")
    path = home / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    catalog = tmp_path / "catalog.toml"  # its own catalog: the bundled one changes over time
    catalog.write_text(
        'schema_version = 1\n[providers.groq]\nname = "Groq"\n'
        'base_url = "https://api.groq.com/openai/v1"\napi_key_env = ["GROQ_API_KEY"]\n'
        '[[providers.groq.models]]\nid = "llama-3.3-70b-versatile"\ncontext = 131072\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "freemodels",
            "use",
            tool,
            "groq/llama-3.3-70b-versatile",
            "--catalog",
            str(catalog),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "GROQ_API_KEY": "gsk_test"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if str(path) in line]
    assert len(errors) == 1 and "nothing was changed" in errors[0], done.stderr
    assert done.stdout == ""
    assert path.read_bytes() == content
    assert not path.with_name(path.name + ".freemodels.bak").exists()
