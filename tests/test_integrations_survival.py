"""Hypothesis: whatever the user's config holds, everything that is not ours survives `use`.

Generated configs have comments, trailing commas, unicode, JSON5 quoting and other providers.
After `use`, the parsed file minus our entries equals the original, and every comment is still
there word for word; after `--undo` the file means exactly what it meant before.
"""

from __future__ import annotations

import copy
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from freemodels.integrations import registry
from freemodels.integrations.formats.jsonc import parse
from integrations_fixtures import ENV_KEY, GROQ, LLAMA
from jsonc_strategies import Writer, keys, values, yaml_document, yaml_values

OURS = "freemodels-groq"
REF = f"{OURS}/{LLAMA.id}"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
others = st.dictionaries(keys.filter(lambda k: k != OURS), values, max_size=3)
extras = st.dictionaries(
    keys.filter(lambda k: k not in ("model", "provider", "$schema", "models", "agents")),
    values,
    max_size=4,
)


def _env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}


def _roundtrip(tool: str, relative: str, text: str) -> tuple[str, str]:
    """Write `text` where `tool` reads it; return the file after `use` and after `--undo`."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        path = home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        registry.apply(tool, GROQ, LLAMA, ENV_KEY, env=_env(home), cwd=home)
        used = path.read_text(encoding="utf-8")
        registry.undo(tool, env=_env(home))
        return used, path.read_text(encoding="utf-8")


@SETTINGS
@given(extra=extras, providers=others, model=st.none() | st.text(max_size=8), seed=st.integers())
def test_opencode_keeps_everything_else(
    extra: dict[str, Any], providers: dict[str, Any], model: str | None, seed: int
) -> None:
    """OpenCode (JSONC): other providers, other keys and every comment survive."""
    original: dict[str, Any] = {**extra, "provider": providers}
    if model is not None:
        original["model"] = model
    writer = Writer(random.Random(seed))
    text = writer.write(original)
    used, undone = _roundtrip("opencode", ".config/opencode/opencode.json", text)
    after = parse(used).value
    assert after["model"] == REF
    assert after["provider"].pop(OURS)["models"][LLAMA.id]["limit"]["context"] == LLAMA.context
    expected = copy.deepcopy(original)
    expected.pop("model", None)
    after.pop("model")
    assert after == expected
    for marker in writer.comments:
        assert marker in used and marker in undone
    assert parse(undone).value == original


@SETTINGS
@given(extra=extras, providers=others, defaults=others, seed=st.integers())
def test_openclaw_json5_keeps_everything_else(
    extra: dict[str, Any], providers: dict[str, Any], defaults: dict[str, Any], seed: int
) -> None:
    """OpenClaw (JSON5: bare keys, single quotes): the same guarantees."""
    defaults = {k: v for k, v in defaults.items() if k not in ("model", "modelPolicy", "models")}
    original = {
        **extra,
        "models": {"mode": "merge", "providers": providers},
        "agents": {"defaults": {**defaults, "model": {"primary": "mine/x"}}},
    }
    writer = Writer(random.Random(seed), json5=True)
    text = writer.write(original)
    used, undone = _roundtrip("openclaw", ".openclaw/openclaw.json", text)
    after = parse(used).value
    assert after["agents"]["defaults"]["model"]["primary"] == REF
    after["models"]["providers"].pop(OURS)
    after["agents"]["defaults"]["model"]["primary"] = "mine/x"
    assert after == original
    for marker in writer.comments:
        assert marker in used and marker in undone
    assert parse(undone).value == original


@SETTINGS
@given(extra=extras, seed=st.integers())
def test_qwen_keeps_everything_else(extra: dict[str, Any], seed: int) -> None:
    """Qwen Code settings (JSON with comments): our list entry in, everything else kept."""
    original = {
        **{k: v for k, v in extra.items() if k not in ("modelProviders", "security", "env")},
        "modelProviders": {"openai": [{"id": "x", "envKey": "X_KEY"}]},
        "model": {"name": "x"},
    }
    writer = Writer(random.Random(seed))
    used, undone = _roundtrip("qwen", ".qwen/settings.json", writer.write(original))
    after = parse(used).value
    assert after["modelProviders"]["openai"][0] == {"id": "x", "envKey": "X_KEY"}
    assert after["modelProviders"]["openai"][1]["envKey"] == "GROQ_API_KEY"
    for marker in writer.comments:
        assert marker in used and marker in undone
    assert parse(undone).value == original


@SETTINGS
@given(
    extra=st.dictionaries(st.just("x") | st.text(min_size=1, max_size=6), yaml_values, max_size=4),
    seed=st.integers(),
    tool=st.sampled_from(["aider", "goose"]),
)
def test_yaml_tools_keep_everything_else(extra: dict[str, Any], seed: int, tool: str) -> None:
    """Aider and Goose YAML: other keys and every comment survive; undo restores the meaning."""

    extra = {k: v for k, v in extra.items() if _yaml_key_ok(k)}
    original = {**extra, "model" if tool == "aider" else "GOOSE_MODEL": "mine"}
    text, comments = yaml_document(random.Random(seed), original)
    relative = ".aider.conf.yml" if tool == "aider" else ".config/goose/config.yaml"
    used, undone = _roundtrip(tool, relative, text)
    load = YAML(typ="safe").load
    after = load(used)
    for key, value in extra.items():
        assert after[key] == value
    for marker in comments:
        assert marker in used and marker in undone
    assert load(undone) == load(text)


def _yaml_key_ok(key: str) -> bool:
    return (
        not key.startswith("freemodels")
        and key.strip() == key
        and key
        not in {"model", "openai-api-base", "openai-api-key", "GOOSE_PROVIDER", "GOOSE_MODEL"}
        and all(ch.isprintable() for ch in key)
    )
