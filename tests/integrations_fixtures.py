"""Helpers for the `freemodels use` tests: a selection, the schemas, the real tool binaries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.records import Model, Provider
from freemodels.integrations.formats.jsonc import parse
from programs import unavailable

DATA = Path(__file__).resolve().parent / "data"
SCHEMAS = DATA / "schemas"
"""The tools' own schemas, vendored (tests/data/schemas/README.md says where each came from)."""
GOLDEN = DATA / "integrations"
CI_CACHES = (Path("/var/cache/freemodels-ci"), Path.home() / ".cache" / "freemodels-ci")

GROQ = Provider(
    id="groq",
    name="Groq",
    base_url="https://api.groq.com/openai/v1",
    api_key_env=("GROQ_API_KEY",),
    signup_url="https://console.groq.com/keys",
    models=(
        Model("llama-3.3-70b-versatile", "Llama 3.3 70B", 131072, max_output=32768),
        Model("openai/gpt-oss-120b", "GPT OSS 120B", 131072, reasoning=True),
    ),
)
LLAMA = GROQ.models[0]
SLASHED = GROQ.models[1]
FAKE_KEY = "gsk_TESTKEY0123456789abcd"
ENV_KEY = ResolvedKey(FAKE_KEY, "env:GROQ_API_KEY")
STORED_KEY = ResolvedKey(FAKE_KEY, "file")


def schema(name: str) -> dict[str, Any]:
    """A tool's JSON schema from tests/data/schemas."""
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return loaded


def jsonc_value(path: Path) -> Any:
    """A JSONC/JSON5 file's value, comments stripped by our parser."""
    return parse(path.read_text(encoding="utf-8")).value


def tool_binary(name: str) -> str:
    """The path of a real tool: FREEMODELS_<NAME>_BIN, PATH, then the CI cache; else skip."""
    # conftest isolates FREEMODELS_* variables, so read the override from the original env file.
    override = os.environ.get(f"FREEMODELS_{name.upper()}_BIN") or _ORIGINAL_ENV.get(
        f"FREEMODELS_{name.upper()}_BIN"
    )
    candidates = [override] if override else []
    candidates.append(shutil.which(name))
    candidates += [str(cache / "bin" / name) for cache in CI_CACHES]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    unavailable(f"the {name} binary is not installed", "scripts/ci/tools.sh")


_ORIGINAL_ENV = dict(os.environ)


def run_tool(
    argv: list[str], home: Path, *, extra: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run a real tool offline with HOME/XDG inside `home`; never hangs past `timeout`."""
    return subprocess.run(
        argv,
        env=tool_env(home, extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def tool_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a real tool runs offline in: HOME/XDG inside `home`, updates off."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "NO_COLOR": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "KILO_DISABLE_AUTOUPDATE": "1",
        "KILO_DISABLE_MODELS_FETCH": "1",
        "KILO_TELEMETRY_DISABLED": "1",
        **(extra or {}),
    }


# Where each tool's sample existing config goes, relative to HOME (tests/data/integrations/<tool>/).
EXISTING = {
    "opencode": ".config/opencode/opencode.jsonc",
    "kilo": ".config/kilo/kilo.jsonc",
    "openclaw": ".openclaw/openclaw.json",
    "crush": ".config/crush/crush.json",
    "goose": ".config/goose/config.yaml",
    "aider": ".aider.conf.yml",
    "continue": ".continue/config.yaml",
    "qwen": ".qwen/settings.json",
    "claude": ".claude/settings.json",
}


UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
"""With UPDATE_GOLDEN=1 the golden tests write what they got as the expected files."""


def put_existing(tool: str, home: Path) -> Path:
    """Copy the tool's sample config (comments, other providers) to where the tool reads it."""
    path = home / EXISTING[tool]
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(GOLDEN / tool / path.name, path)
    return path


def assert_golden(home: Path, expected_dir: Path) -> None:
    """Every file written under `home` (backups aside) is the golden one, byte for byte."""
    files = {k: v for k, v in written(home).items() if not k.endswith(".freemodels.bak")}
    if UPDATE_GOLDEN:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for name, text in files.items():
            (expected_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / name).write_text(text, encoding="utf-8")
    assert files == written(expected_dir)


def home_env(home: Path) -> dict[str, str]:
    """The environment a tool would see with HOME at `home`."""
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "PATH": os.defpath}


def written(home: Path) -> dict[str, str]:
    """Every file under `home`, relative path → text."""
    return {
        str(path.relative_to(home)): path.read_text(encoding="utf-8")
        for path in sorted(home.rglob("*"))
        if path.is_file()
    }
