"""Each tool's output: golden files (fresh and existing configs), the tools' schemas, notes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from freemodels.core.records import ModelRef
from freemodels.errors import UsageError
from freemodels.integrations import registry
from integrations_fixtures import (
    ENV_KEY,
    EXISTING,
    FAKE_KEY,
    GOLDEN,
    GROQ,
    LLAMA,
    SCHEMAS,
    SLASHED,
    STORED_KEY,
    assert_golden,
    home_env,
    jsonc_value,
    put_existing,
    schema,
    written,
)


@pytest.mark.parametrize("case", ["fresh", "existing"])
@pytest.mark.parametrize("tool", registry.TOOLS)
def test_golden(tool: str, case: str, tmp_path: Path) -> None:
    """What `use TOOL groq/llama-3.3-70b-versatile` writes, byte for byte."""
    home = tmp_path / "home"
    home.mkdir()
    if case == "existing":
        put_existing(tool, home)
    registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=home_env(home), cwd=tmp_path)
    assert_golden(home, GOLDEN / tool / f"expected-{case}")


@pytest.mark.parametrize("tool", registry.TOOLS)
def test_existing_undo_restores_the_original_meaning(tool: str, tmp_path: Path) -> None:
    """use, then --undo, on a real-looking config: the user's values all come back."""
    path = tmp_path / EXISTING[tool]
    path.parent.mkdir(parents=True, exist_ok=True)
    original = (GOLDEN / tool / path.name).read_text(encoding="utf-8")
    path.write_text(original, encoding="utf-8")
    env = home_env(tmp_path)
    registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    assert path.read_text(encoding="utf-8") != original
    registry.undo(tool, env=env)
    assert _value(path) == _value_of_text(original, path.suffix)
    assert not list(tmp_path.rglob("custom_providers/*.json"))
    for line in original.splitlines():  # every comment is still there
        if "//" in line or "#" in line:
            comment = line[line.index("//") if "//" in line else line.index("#") :]
            assert comment in path.read_text(encoding="utf-8")


def _value(path: Path) -> Any:
    return _value_of_text(path.read_text(encoding="utf-8"), path.suffix)


def _value_of_text(text: str, suffix: str) -> Any:
    if suffix in (".yml", ".yaml"):
        return YAML(typ="safe").load(text)
    from freemodels.integrations.formats.jsonc import parse

    return parse(text).value


# -- schemas ---------------------------------------------------------------------------------


def _validate(instance: Any, schema_name: str) -> None:
    validator = jsonschema.Draft202012Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


@pytest.mark.parametrize("case", ["fresh", "existing"])
@pytest.mark.parametrize(
    ("tool", "schema_name"),
    [
        ("opencode", "opencode-config.schema.json"),
        ("kilo", "opencode-config.schema.json"),
        ("openclaw", "openclaw.schema.json"),
        ("crush", "crush.schema.json"),
    ],
)
def test_json_output_matches_the_tool_schema(
    tool: str, schema_name: str, case: str, tmp_path: Path
) -> None:
    """What we write validates against the tool's published schema (comments stripped)."""
    if case == "existing":
        put_existing(tool, tmp_path)
    for model in (LLAMA, SLASHED):
        result = registry.apply(tool, GROQ, model, ENV_KEY, env=home_env(tmp_path), cwd=tmp_path)
    (path,) = result.paths or (tmp_path / EXISTING[tool],)
    value = jsonc_value(path)
    if tool == "kilo":
        value.pop("$schema")  # Kilo's own keys are a superset; the OpenCode schema is the base
    _validate(value, schema_name)


@pytest.mark.parametrize("case", ["fresh", "existing"])
def test_continue_output_matches_its_schema(case: str, tmp_path: Path) -> None:
    """Continue's config.yaml validates against @continuedev/config-yaml's schema."""
    path = tmp_path / EXISTING["continue"]
    if case == "existing":
        path.parent.mkdir(parents=True)
        shutil.copyfile(GOLDEN / "continue" / "config.yaml", path)
    registry.apply("continue", GROQ, LLAMA, ENV_KEY, env=home_env(tmp_path), cwd=tmp_path)
    _validate(
        YAML(typ="safe").load(path.read_text(encoding="utf-8")), "continue-config-yaml.schema.json"
    )


def test_aider_keys_exist_in_the_official_sample(tmp_path: Path) -> None:
    """Every key we write into .aider.conf.yml is one Aider documents."""
    documented = (SCHEMAS / "aider.sample.aider.conf.yml").read_text(encoding="utf-8")
    selection_key = registry.selection_for("aider", GROQ, LLAMA, ENV_KEY, inline_key=True)
    assert selection_key.inline_key == FAKE_KEY
    registry.apply(
        "aider", GROQ, LLAMA, ENV_KEY, inline_key=True, env=home_env(tmp_path), cwd=tmp_path
    )
    for key in YAML(typ="safe").load((tmp_path / ".aider.conf.yml").read_text(encoding="utf-8")):
        assert f"\n#{key}:" in documented


# -- references, keys, notes, launch -----------------------------------------------------------


def test_references() -> None:
    """`best --for TOOL` prints what the tool expects; model ids with `/` keep our prefix first."""
    assert registry.reference("opencode", ModelRef("groq", "openai/gpt-oss-120b")) == (
        "freemodels-groq/openai/gpt-oss-120b"
    )
    assert registry.reference("kilo", ModelRef("groq", "x")) == "freemodels-groq/x"
    assert registry.reference("openclaw", ModelRef("groq", "x")) == "freemodels-groq/x"
    assert registry.reference("aider", ModelRef("groq", "x")) == "openai/x"
    assert registry.reference("qwen", ModelRef("groq", "x")) == "x"
    with pytest.raises(
        UsageError, match="opencode, kilo, openclaw, crush, goose, aider, continue, qwen"
    ):
        registry.reference("vim", ModelRef("groq", "x"))


def test_env_references_per_tool(tmp_path: Path) -> None:
    """Each tool gets the key as its own kind of environment reference, never the key."""
    env = home_env(tmp_path)
    for tool in registry.TOOLS:
        registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
    texts = written(tmp_path)
    assert not any(FAKE_KEY in text for text in texts.values())
    assert "{env:GROQ_API_KEY}" in texts[".config/opencode/opencode.json"]
    assert "{env:GROQ_API_KEY}" in texts[".config/kilo/kilo.json"]
    assert "${GROQ_API_KEY}" in texts[".openclaw/openclaw.json"]
    assert '"$GROQ_API_KEY"' in texts[".config/crush/crush.json"]
    assert "${{ secrets.GROQ_API_KEY }}" in texts[".continue/config.yaml"]
    assert '"envKey": "GROQ_API_KEY"' in texts[".qwen/settings.json"]
    assert (
        '"api_key_env": "GROQ_API_KEY"'
        in texts[".config/goose/custom_providers/freemodels-groq.json"]
    )


def test_key_only_in_a_store_says_what_to_export(tmp_path: Path) -> None:
    """A key kept in keyring/secrets file is invisible to the tool: the notes say so."""
    env = home_env(tmp_path)
    notes = registry.apply("opencode", GROQ, LLAMA, STORED_KEY, env=env, cwd=tmp_path).notes
    assert any("export GROQ_API_KEY" in note for note in notes)
    notes = registry.apply("openclaw", GROQ, LLAMA, STORED_KEY, env=env, cwd=tmp_path).notes
    assert any("~/.openclaw/.env" in note and "--env-file" in note for note in notes)
    notes = registry.apply("continue", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path).notes
    assert any("~/.continue/.env" in note for note in notes)
    notes = registry.apply("aider", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path).notes
    assert any("OPENAI_API_KEY" in note for note in notes)
    assert registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path).notes == ()
    notes = registry.apply("opencode", GROQ, LLAMA, None, env=env, cwd=tmp_path).notes
    assert any("freemodels keys set groq" in note for note in notes)


def test_env_file_for_openclaw_is_private(tmp_path: Path) -> None:
    """--env-file puts the key in ~/.openclaw/.env with mode 0600, keeping other lines."""
    env = home_env(tmp_path)
    dotenv = tmp_path / ".openclaw" / ".env"
    dotenv.parent.mkdir()
    dotenv.write_text("OTHER=1\nGROQ_API_KEY=old\n", encoding="utf-8")
    registry.apply("openclaw", GROQ, LLAMA, STORED_KEY, env=env, cwd=tmp_path, env_file=True)
    assert dotenv.read_text(encoding="utf-8") == f"OTHER=1\nGROQ_API_KEY={FAKE_KEY}\n"
    assert dotenv.stat().st_mode & 0o777 == 0o600
    assert FAKE_KEY not in (tmp_path / ".openclaw" / "openclaw.json").read_text(encoding="utf-8")


def test_project_config_in_cwd_warns(tmp_path: Path) -> None:
    """A project opencode.json that sets `model` overrides the pick there: warn."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "opencode.json").write_text('{"model": "anthropic/claude"}', encoding="utf-8")
    notes = registry.apply(
        "opencode", GROQ, LLAMA, ENV_KEY, env=home_env(tmp_path), cwd=project
    ).notes
    assert any("opencode.json overrides" in note for note in notes)
    (project / "opencode.json").write_text('{"theme": "x"}', encoding="utf-8")
    notes = registry.apply(
        "opencode", GROQ, LLAMA, ENV_KEY, env=home_env(tmp_path), cwd=project
    ).notes
    assert not any("overrides" in note for note in notes)


def test_config_env_overrides_are_honoured(tmp_path: Path) -> None:
    """OPENCODE_CONFIG / KILO_CONFIG / OPENCLAW_CONFIG_PATH name the file the tool reads."""
    env = home_env(tmp_path)
    env.update(
        OPENCODE_CONFIG=str(tmp_path / "oc.json"),
        KILO_CONFIG=str(tmp_path / "k.jsonc"),
        OPENCLAW_CONFIG_PATH=str(tmp_path / "claw.json5"),
    )
    for tool, name in (("opencode", "oc.json"), ("kilo", "k.jsonc"), ("openclaw", "claw.json5")):
        assert registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path).paths == (
            tmp_path / name,
        )


def test_opencode_prefers_jsonc_then_json(tmp_path: Path) -> None:
    """The file OpenCode really reads is edited; none is created beside it."""
    folder = tmp_path / ".config" / "opencode"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    (folder / "opencode.json").write_text("{}", encoding="utf-8")
    result = registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=home_env(tmp_path), cwd=tmp_path)
    assert result.paths == (folder / "opencode.json",)
    (folder / "opencode.jsonc").write_text("{}", encoding="utf-8")
    result = registry.apply("opencode", GROQ, LLAMA, ENV_KEY, env=home_env(tmp_path), cwd=tmp_path)
    assert result.paths == (folder / "opencode.jsonc",)


def test_openclaw_string_model_and_allow_lists(tmp_path: Path) -> None:
    """A string `model` stays a string; non-empty allow-lists get our ref, empty ones stay empty."""
    path = tmp_path / ".openclaw" / "openclaw.json"
    path.parent.mkdir()
    path.write_text(
        "{agents: {defaults: {model: 'a/b', modelPolicy: {allow: []}}}}", encoding="utf-8"
    )
    registry.apply("openclaw", GROQ, LLAMA, ENV_KEY, env=home_env(tmp_path), cwd=tmp_path)
    value = jsonc_value(path)
    assert value["agents"]["defaults"]["model"] == "freemodels-groq/llama-3.3-70b-versatile"
    assert value["agents"]["defaults"]["modelPolicy"]["allow"] == []
    assert "models" not in value["agents"]["defaults"]


def test_second_model_of_a_provider_keeps_the_first(tmp_path: Path) -> None:
    """Switching models keeps the earlier one listed (the tool's model picker still offers it)."""
    env = home_env(tmp_path)
    for tool in ("opencode", "openclaw", "crush"):
        registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=env, cwd=tmp_path)
        result = registry.apply(tool, GROQ, SLASHED, ENV_KEY, env=env, cwd=tmp_path)
        text = result.paths[0].read_text(encoding="utf-8")
        assert LLAMA.id in text and SLASHED.id in text


def test_launch_commands(tmp_path: Path) -> None:
    """--launch: the tool on the model, the key in its environment; missing: how to install."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("opencode", "aider", "goose"):
        (bin_dir / name).write_text("#!/bin/sh\n", encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    env = {**home_env(tmp_path), "PATH": str(bin_dir)}
    argv, extra = registry.launch_command("opencode", GROQ, LLAMA, STORED_KEY, env=env)
    assert argv == [str(bin_dir / "opencode"), "-m", "freemodels-groq/llama-3.3-70b-versatile"]
    assert extra == {"GROQ_API_KEY": FAKE_KEY}
    argv, extra = registry.launch_command("aider", GROQ, LLAMA, STORED_KEY, env=env)
    assert argv[1:] == ["--model", "openai/llama-3.3-70b-versatile"]
    assert extra == {"OPENAI_API_KEY": FAKE_KEY}
    _, extra = registry.launch_command("goose", GROQ, LLAMA, STORED_KEY, env=env)
    assert extra["GOOSE_PROVIDER"] == "freemodels-groq"
    with pytest.raises(UsageError, match="npm install -g @kilocode/cli"):
        registry.launch_command("kilo", GROQ, LLAMA, STORED_KEY, env=env)
    with pytest.raises(UsageError, match="editor"):
        registry.launch_command("continue", GROQ, LLAMA, STORED_KEY, env=env)


def test_inline_key_refused_where_the_tool_has_no_place_for_it() -> None:
    """Goose keeps keys in its keyring/env; an inline key without a key is an error too."""
    with pytest.raises(UsageError, match="export GROQ_API_KEY"):
        registry.selection_for("goose", GROQ, LLAMA, ENV_KEY, inline_key=True)
    with pytest.raises(UsageError, match="keys set groq"):
        registry.selection_for("opencode", GROQ, LLAMA, None, inline_key=True)
