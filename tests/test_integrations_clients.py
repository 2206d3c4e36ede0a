"""The real tools read what `freemodels use` wrote: OpenCode, Kilo and OpenClaw, offline.

scripts/ci/tools.sh installs them from the npm registry; without them these tests skip with the
reason (and fail under CI=true). Each runs with HOME/XDG in the test's tmp dir and a timeout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from freemodels.core.records import Model, ModelRef
from freemodels.integrations import registry
from integrations_fixtures import (
    ENV_KEY,
    FAKE_KEY,
    GOLDEN,
    GROQ,
    LLAMA,
    SLASHED,
    run_tool,
    tool_binary,
)

pytestmark = pytest.mark.e2e

EXISTING = {
    "opencode": (".config/opencode/opencode.jsonc", "opencode.jsonc"),
    "kilo": (".config/kilo/kilo.jsonc", "kilo.jsonc"),
    "openclaw": (".openclaw/openclaw.json", "openclaw.json"),
}


def _setup(tool: str, home: Path, case: str, model: Model, **options: bool) -> str:
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    if case == "existing":
        relative, name = EXISTING[tool]
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GOLDEN / tool / name, home / relative)
    registry.apply(tool, GROQ, model, ENV_KEY, env=env, cwd=home, **options)
    return registry.reference(tool, ModelRef(GROQ.id, model.id))


def _debug_config(binary: str, home: Path) -> dict[str, object]:
    done = run_tool([binary, "debug", "config"], home)
    assert done.returncode == 0, done.stderr[-2000:]
    start = done.stdout.index("{")
    loaded: dict[str, object] = json.loads(done.stdout[start:])
    return loaded


@pytest.mark.parametrize("model", [LLAMA, SLASHED], ids=["plain", "slash-in-id"])
@pytest.mark.parametrize("case", ["fresh", "existing"])
@pytest.mark.parametrize("tool", ["opencode", "kilo"])
def test_opencode_and_kilo_list_and_default_our_model(
    tool: str, case: str, model: Model, tmp_path: Path
) -> None:
    """`<tool> models freemodels-groq` lists the model; `<tool> debug config` has it as `model`."""
    binary = tool_binary(tool)
    ref = _setup(tool, tmp_path, case, model)
    listed = run_tool([binary, "models", "freemodels-groq"], tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert ref in listed.stdout.split()
    config = _debug_config(binary, tmp_path)
    assert config["model"] == ref
    providers = config["provider"]
    assert isinstance(providers, dict)
    entry = providers["freemodels-groq"]
    assert entry["models"][model.id]["limit"] == {
        "context": model.context,
        "output": model.output_limit,
    }
    if case == "existing":
        assert "ollama" in providers  # the user's provider is still read


def test_kilo_config_check_accepts_our_file(tmp_path: Path) -> None:
    """Kilo's strict checker finds nothing wrong (it rejects unknown keys)."""
    binary = tool_binary("kilo")
    _setup("kilo", tmp_path, "existing", LLAMA)
    done = run_tool([binary, "config", "check"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No config warnings" in done.stdout


def test_opencode_reads_the_inline_key_file(tmp_path: Path) -> None:
    """With --inline-key (0600) OpenCode still reads the file; the key shows masked."""
    binary = tool_binary("opencode")
    ref = _setup("opencode", tmp_path, "fresh", LLAMA, inline_key=True)
    config = _debug_config(binary, tmp_path)
    assert config["model"] == ref
    assert FAKE_KEY not in json.dumps(config)


def test_opencode_after_undo_has_the_users_model_back(tmp_path: Path) -> None:
    """use then --undo: OpenCode's default is the user's own again, our provider gone."""
    binary = tool_binary("opencode")
    _setup("opencode", tmp_path, "existing", LLAMA)
    registry.undo(
        "opencode", env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    )
    config = _debug_config(binary, tmp_path)
    assert config["model"] == "ollama/qwen3:8b"
    assert "freemodels-groq" not in json.dumps(config)


@pytest.mark.parametrize("case", ["fresh", "existing"])
def test_openclaw_validates_and_lists_our_model(case: str, tmp_path: Path) -> None:
    """`openclaw config validate` accepts the file; `openclaw models list` shows the default."""
    binary = tool_binary("openclaw")
    ref = _setup("openclaw", tmp_path, case, LLAMA)
    extra = {"GROQ_API_KEY": FAKE_KEY, "VLLM_KEY": "x"}
    done = run_tool([binary, "config", "validate", "--json"], tmp_path, extra=extra)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout[done.stdout.index("{") :])["valid"] is True
    listed = run_tool([binary, "models", "list"], tmp_path, extra=extra)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    line = next(row for row in listed.stdout.splitlines() if row.startswith(ref))
    assert "default" in line and "131k" in line


def test_openclaw_env_file_makes_the_key_visible(tmp_path: Path) -> None:
    """A key only in our store: --env-file writes ~/.openclaw/.env and OpenClaw resolves it."""
    binary = tool_binary("openclaw")
    from integrations_fixtures import STORED_KEY

    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    registry.apply("openclaw", GROQ, LLAMA, STORED_KEY, env=env, cwd=tmp_path, env_file=True)
    done = run_tool([binary, "config", "validate", "--json"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout[done.stdout.index("{") :])
    assert report["valid"] is True
    assert not any("GROQ_API_KEY" in w.get("message", "") for w in report.get("warnings", []))
