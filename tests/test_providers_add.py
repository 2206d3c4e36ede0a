"""Your own servers: `providers add` and a minimal hand-written overlay, against the real fleet."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from freemodels.core.catalog.parse import parse_catalog
from freemodels.errors import CatalogError
from freemodels.fleet.server import Behaviour, Fleet, FleetThread


def freemodels(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, piped, in the isolated HOME."""
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True, text=True, timeout=90, env={**os.environ, **(env or {})},
    )  # fmt: skip


def overlay() -> Path:
    """The user overlay in the isolated XDG_CONFIG_HOME."""
    return Path(os.environ["XDG_CONFIG_HOME"]) / "freemodels" / "providers.toml"


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    """A keyless 'local server' of two models, on loopback."""
    served = Fleet()
    served.set("local", "qwen2.5-coder:7b", Behaviour(ttft_s=0.02))
    served.set("local", "llama3.1:8b", Behaviour(ttft_s=0.03))
    with FleetThread(served):
        yield served


def test_add_asks_the_server_and_writes_the_overlay(fleet: Fleet) -> None:
    """One GET /models through the ledger, the models shown, the overlay written, comments kept."""
    path = overlay()
    path.parent.mkdir(parents=True)
    path.write_text("# my own notes\nschema_version = 1  # keep\n", encoding="utf-8")
    proc = freemodels("providers", "add", "mybox", fleet.base_url("local"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("mybox: 2 models at ")
    assert "qwen2.5-coder:7b" in proc.stdout and "llama3.1:8b" in proc.stdout
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# my own notes\nschema_version = 1  # keep\n")
    assert "[providers.mybox]" in text and "key_required = false" in text
    assert [r.path for r in fleet.requests] == ["models"]
    data = Path(os.environ["XDG_DATA_HOME"]) / "freemodels" / "history.sqlite3"
    with sqlite3.connect(data) as db:
        kinds = db.execute("SELECT provider, kind FROM ledger").fetchall()
    assert kinds == [("mybox", "models")], "the request passed the budget ledger"
    checked = json.loads(freemodels("check", "--provider", "mybox", "--json").stdout)
    assert {(r["provider"], r["outcome"]) for r in checked} == {("mybox", "ok")}
    again = freemodels("providers", "add", "mybox", fleet.base_url("local"))
    assert again.returncode == 2 and "already in your catalog" in again.stderr


def test_a_url_without_v1_is_tried_with_it(fleet: Fleet) -> None:
    """`http://host:port` for a server at `…/v1`: the second try finds it and that URL is kept."""
    bare = fleet.base_url("local").removesuffix("/v1")
    proc = freemodels("providers", "add", "box", bare)
    assert proc.returncode == 0, proc.stderr
    assert f'base_url = "{bare}/v1"' in overlay().read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["providers", "add", "groq", "http://127.0.0.1:9/v1"], "already in your catalog"),
        (["providers", "add", "Bad Id", "http://127.0.0.1:9/v1"], "not allowed"),
        (["providers", "add", "box", "ftp://example"], "not an http(s) URL"),
        (["providers", "add", "box", "http://127.0.0.1:9/v1"], "nothing was written"),
        (["providers", "add", "box"], "needs ID and URL"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(args: list[str], words: str) -> None:
    """A known id, a bad id or URL, a dead server: one line, exit 2, no overlay."""
    proc = freemodels(*args)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and proc.stderr.count("\n") == 1
    assert not overlay().exists()


def test_detect_offers_what_answers(fleet: Fleet) -> None:
    """--detect tries each candidate; without a terminal it only lists unless --yes."""
    env = {"FREEMODELS_DETECT_URLS": f"ollama={fleet.base_url('local')},vllm=http://127.0.0.1:9/v1"}
    listed = freemodels("providers", "add", "--detect", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("ollama: 2 models")
    assert "vllm: nothing at http://127.0.0.1:9/v1" in listed.stderr
    assert not overlay().exists() and "--yes" in listed.stderr
    added = freemodels("providers", "add", "--detect", "--yes", env=env)
    assert added.returncode == 0, added.stderr
    assert "[providers.ollama]" in overlay().read_text(encoding="utf-8")
    third = freemodels("providers", "add", "--detect", env=env)
    assert "ollama: already in your catalog" in third.stderr


def test_a_minimal_hand_written_overlay_is_ranked(fleet: Fleet, tmp_path: Path) -> None:
    """Name, base_url and ids are enough: no key variable, sign-up URL, model name or context."""
    path = overlay()
    path.parent.mkdir(parents=True)
    path.write_text(
        f'[providers.mine]\nname = "Mine"\nbase_url = "{fleet.base_url("local")}"\n'
        'key_required = false\n\n[[providers.mine.models]]\nid = "llama3.1:8b"\n',
        encoding="utf-8",
    )
    listed = json.loads(freemodels("providers", "--json").stdout)
    mine = next(p for p in listed if p["id"] == "mine")
    assert mine["models"][0]["context"] is None and mine["models"][0]["name"] == "llama3.1:8b"
    checked = json.loads(freemodels("check", "--provider", "mine", "--json").stdout)
    assert checked[0]["outcome"] == "ok"
    dry = subprocess.run(
        [sys.executable, "-m", "freemodels", "use", "opencode", "mine/llama3.1:8b", "--dry-run"],
        capture_output=True, text=True, timeout=90, env=dict(os.environ), cwd=tmp_path,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert '"output": 32768' in dry.stdout and '"context"' not in dry.stdout


def test_the_parser_accepts_only_what_a_keyless_server_may_omit() -> None:
    """api_key_env may be absent only with key_required = false."""
    minimal = '[providers.m]\nname = "M"\nbase_url = "http://x:1/v1"\nkey_required = false\n'
    provider = parse_catalog(minimal + '[[providers.m.models]]\nid = "a"\n', "t", allow_http=True)
    only = provider.providers[0]
    assert only.api_key_env == () and only.signup_url == "" and only.models[0].context is None
    with pytest.raises(CatalogError, match="api_key_env"):
        parse_catalog(
            '[providers.m]\nname = "M"\nbase_url = "http://x:1/v1"\n', "t", allow_http=True
        )
