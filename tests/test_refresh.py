"""`providers refresh`: live GET /models against the fake fleet, and the overlay writer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from freemodels import paths
from freemodels.core.catalog.parse import load_catalog
from freemodels.core.catalog.refresh import (
    DEFAULT_CONTEXT,
    LiveModel,
    refresh_provider,
    write_overlay,
)
from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.records import Model, ProbeKind, Provider
from freemodels.errors import CatalogError
from freemodels.fleet.behaviour import Behaviour
from freemodels.fleet.server import Fleet, FleetThread

KEY = ResolvedKey("sk-test-secret-1234", "env:TEST")


class RecordingGate:
    """A RequestGate stand-in that grants every request and remembers what was asked."""

    def __init__(self, fleet: Fleet | None = None, *, grant: bool = True) -> None:
        self.fleet = fleet
        self.grant = grant
        self.calls: list[tuple[str, ProbeKind, int]] = []
        self.paused: list[str] = []

    async def acquire(
        self, provider: Provider, model: Model | None, kind: ProbeKind, **_: Any
    ) -> bool:
        seen = len(self.fleet.requests) if self.fleet else 0
        self.calls.append((provider.id, kind, seen))
        return self.grant

    def pause(self, budget_id: str, until: float, reason: str = "429") -> None:
        self.paused.append(budget_id)


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet() as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        yield http


def provider(pid: str, base_url: str, *model_ids: str, key_required: bool = True) -> Provider:
    models = tuple(Model(id=m, name=m, context=8192) for m in model_ids)
    return Provider(
        id=pid,
        name=pid,
        base_url=base_url,
        api_key_env=("TEST_API_KEY",),
        signup_url="https://example.com",
        key_required=key_required,
        models=models,
    )


async def test_openrouter_keeps_only_free_models_and_adds_new_ones(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    fleet.set("openrouter", "known:free", Behaviour())
    fleet.set("openrouter", "fresh:free", Behaviour(price="0", context=65536))
    fleet.set("openrouter", "paid", Behaviour(price="0.000002"))
    fleet.set("openrouter", "was-free", Behaviour(price="0.000001"))
    catalog_entry = provider("openrouter", fleet.base_url("openrouter"), "known:free", "was-free")
    gate = RecordingGate(fleet)

    result = await refresh_provider(catalog_entry, client, KEY, gate)

    assert result.ok and result.listed == 2
    assert result.not_listed == ("was-free",)  # no longer free: gone from the free list
    assert result.add == (LiveModel("fresh:free", None, 65536),)
    assert gate.calls == [("openrouter", ProbeKind.MODELS, 0)]  # counted before it was sent
    (request,) = fleet.requests
    assert request.path == "models" and request.authorization == f"Bearer {KEY.value}"


async def test_plain_listing_reports_not_listed_and_only_offers_new_ids(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    # A renewing free tier lists what a key may call, without prices (Groq, NVIDIA, Mistral).
    fleet.set("groq", "kept", Behaviour(price=None))
    fleet.set("groq", "retired", Behaviour(price=None, listed=False))
    fleet.set("groq", "brand-new", Behaviour(price=None))
    entry = provider("groq", fleet.base_url("groq"), "kept", "retired")

    offered = await refresh_provider(entry, client, KEY, RecordingGate())
    assert offered.kind == "plain"
    assert offered.not_listed == ("retired",)
    assert [m.id for m in offered.new] == ["brand-new"]
    assert offered.add == ()

    added = await refresh_provider(entry, client, KEY, RecordingGate(), add_new=True)
    assert [m.id for m in added.add] == ["brand-new"]


async def test_priced_listing_of_any_provider_says_which_models_are_free(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    # Gateways that list prices (Requesty, Kilo): zero-priced new models are added, paid ignored.
    fleet.set("gateway", "known", Behaviour(price="0"))
    fleet.set("gateway", "new-free", Behaviour(price="0", context=131072))
    fleet.set("gateway", "new-paid", Behaviour(price="0.000003"))
    fleet.set("gateway", "now-paid", Behaviour(price="0.000001"))
    entry = provider("gateway", fleet.base_url("gateway"), "known", "now-paid")
    result = await refresh_provider(entry, client, KEY, RecordingGate())
    assert result.kind == "priced" and result.listed == 2
    assert result.not_listed == ("now-paid",)
    assert [m.id for m in result.add] == ["new-free"]


async def test_marked_listing_offers_only_the_marked_free_ids(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    # Routeway and OpenCode Zen name their free models `…:free` / `…-free`, without prices.
    fleet.set_listing("routeway", "bare")  # and answer a bare list, not {"data": [...]}
    for model_id in ("old:free", "new:free", "paid-model", "zen-free"):
        fleet.set("routeway", model_id, Behaviour(price=None))
    entry = provider("routeway", fleet.base_url("routeway"), "old:free", "gone:free")
    result = await refresh_provider(entry, client, KEY, RecordingGate())
    assert result.kind == "marked" and result.listed == 4
    assert result.not_listed == ("gone:free",)
    assert [m.id for m in result.new] == ["new:free", "zen-free"]
    assert result.add == ()
    added = await refresh_provider(entry, client, KEY, RecordingGate(), add_new=True)
    assert [m.id for m in added.add] == ["new:free", "zen-free"]


async def test_provider_without_a_model_list_is_one_line(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    fleet.set("cloudflare", "@cf/x", Behaviour())
    fleet.set_listing("cloudflare", "absent")
    entry = provider("cloudflare", fleet.base_url("cloudflare"), "@cf/x")
    result = await refresh_provider(entry, client, KEY, RecordingGate())
    assert result.error == "GET /models answered HTTP 404"


async def test_rejected_key_is_one_line_without_the_key(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    fleet.set("groq", "m", Behaviour(echo_auth=True))
    fleet.require_key("groq", "the-right-key")
    result = await refresh_provider(
        provider("groq", fleet.base_url("groq")), client, KEY, RecordingGate()
    )
    assert result.error is not None and "HTTP 401" in result.error
    assert KEY.value not in result.error and "\n" not in result.error


async def test_missing_key_sends_no_request(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("groq", "m", Behaviour())
    gate = RecordingGate(fleet)
    result = await refresh_provider(provider("groq", fleet.base_url("groq")), client, None, gate)
    assert result.error is not None and "TEST_API_KEY" in result.error
    assert fleet.requests == [] and gate.calls == []


async def test_keyless_provider_is_asked_without_a_key(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    fleet.set("kilo", "kilo-auto/free", Behaviour())
    entry = provider("kilo", fleet.base_url("kilo"), "kilo-auto/free", key_required=False)
    result = await refresh_provider(entry, client, None, RecordingGate())
    assert result.ok and result.not_listed == ()
    assert fleet.requests[0].authorization is None


async def test_missing_url_variable_sends_no_request(client: httpx.AsyncClient) -> None:
    entry = provider("cloudflare", "https://api.example.com/accounts/{CLOUDFLARE_ACCOUNT_ID}/ai/v1")
    gate = RecordingGate()
    result = await refresh_provider(entry, client, KEY, gate, env={})
    assert result.error is not None and "CLOUDFLARE_ACCOUNT_ID" in result.error
    assert gate.calls == []


async def test_exhausted_budget_sends_no_request(fleet: Fleet, client: httpx.AsyncClient) -> None:
    fleet.set("groq", "m", Behaviour())
    result = await refresh_provider(
        provider("groq", fleet.base_url("groq")), client, KEY, RecordingGate(grant=False)
    )
    assert result.error is not None and "budget" in result.error
    assert fleet.requests == []


async def test_unreachable_provider_is_a_network_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    entry = provider("groq", f"http://127.0.0.1:{port}/v1")
    result = await refresh_provider(entry, client, KEY, RecordingGate())
    assert result.error == "network error (ConnectError)"


async def test_unknown_provider_path_is_an_http_error(
    fleet: Fleet, client: httpx.AsyncClient
) -> None:
    fleet.set("groq", "m", Behaviour())
    result = await refresh_provider(
        provider("nope", fleet.base_url("nope")), client, KEY, RecordingGate()
    )
    assert result.error == "GET /models answered HTTP 404"


async def test_models_prefix_of_google_listing_is_dropped(client: httpx.AsyncClient) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"object": "list", "data": [{"id": "models/gemini-x"}]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        result = await refresh_provider(
            provider("googleai", "https://g.test/v1", "gemini-x"), mock, KEY, RecordingGate()
        )
    assert result.ok and result.not_listed == () and result.new == ()


async def test_rate_limited_refresh_pauses_the_budget(client: httpx.AsyncClient) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "30"})

    gate = RecordingGate()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        result = await refresh_provider(provider("groq", "https://g.test/v1"), mock, KEY, gate)
    assert result.error is not None and "429" in result.error
    assert gate.paused == ["groq"]


# -- the overlay writer ------------------------------------------------------------------------


def test_writer_creates_an_overlay_the_catalog_merges(tmp_path: Path) -> None:
    path = tmp_path / "config" / "providers.toml"
    added = write_overlay(
        path,
        {
            "openrouter": [LiveModel("vendor/new:free", "Vendor: New (free)", 131072)],
            "groq": [LiveModel("unsized")],
        },
    )
    assert added == 2
    merged = load_catalog(overlay=path)
    openrouter, groq = merged.provider("openrouter"), merged.provider("groq")
    assert openrouter is not None and groq is not None
    new = openrouter.model("vendor/new:free")
    assert new is not None and new.context == 131072 and new.name == "Vendor: New (free)"
    unsized = groq.model("unsized")
    assert unsized is not None and unsized.context == DEFAULT_CONTEXT
    assert openrouter.base_url == "https://openrouter.ai/api/v1"  # bundled fields kept


def test_writer_keeps_the_users_content_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    original = """# my overlay: do not lose this comment
schema_version = 1

[providers.groq]
rpm = 5  # I share this key with my team

[[providers.groq.models]]
id = "mine"
name = "Mine"  # my label
context = 4096
"""
    path.write_text(original, encoding="utf-8")
    path.chmod(0o600)
    added = write_overlay(path, {"groq": [LiveModel("mine", "Listed", 999), LiveModel("other")]})
    assert added == 1  # "mine" is the user's: a listing never overrides it
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original)
    assert 'id = "other"' in text
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["providers.toml"]  # no temp file left
    groq = load_catalog(overlay=path).provider("groq")
    assert groq is not None and groq.rpm == 5
    mine = groq.model("mine")
    assert mine is not None and mine.name == "Mine"


def test_writer_leaves_a_broken_overlay_untouched(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    path.write_text("[providers.groq\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        write_overlay(path, {"groq": [LiveModel("x")]})
    assert path.read_text(encoding="utf-8") == "[providers.groq\n"


def test_writer_with_nothing_to_add_does_not_create_a_file(tmp_path: Path) -> None:
    path = tmp_path / "providers.toml"
    assert write_overlay(path, {"groq": []}) == 0
    assert not path.exists()


# -- the command -------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_cli_refresh_writes_the_user_overlay_from_the_fleet(tmp_path: Path) -> None:
    fleet = Fleet()
    fleet.set("openrouter", "known:free", Behaviour())
    fleet.set("openrouter", "fresh:free", Behaviour(context=200000))
    fleet.set("openrouter", "paid", Behaviour(price="0.1"))
    fleet.require_key("openrouter", "or-key-1234")
    with FleetThread(fleet):
        overlay = paths.overlay_catalog_path()
        overlay.parent.mkdir(parents=True)
        overlay.write_text(
            f"""schema_version = 1
# point OpenRouter at the fake fleet
[providers.openrouter]
base_url = "{fleet.base_url("openrouter")}"

[[providers.openrouter.models]]
id = "known:free"
name = "Known"
context = 8192
""",
            encoding="utf-8",
        )
        result = run_cli(
            "providers", "refresh", "openrouter", env={"OPENROUTER_API_KEY": "or-key-1234"}
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("openrouter: 2 listed;")
    assert "added: fresh:free" in result.stdout
    assert "# point OpenRouter at the fake fleet" in overlay.read_text(encoding="utf-8")
    openrouter = load_catalog(overlay=overlay).provider("openrouter")
    assert openrouter is not None
    fresh = openrouter.model("fresh:free")
    assert fresh is not None and fresh.context == 200000
    assert openrouter.model("paid") is None
    assert "Traceback" not in result.stderr


def test_cli_refresh_failure_is_one_line_and_exit_0() -> None:
    result = run_cli("providers", "refresh", "cloudflare")
    assert result.returncode == 0
    failures = [line for line in result.stderr.splitlines() if line.startswith("cloudflare:")]
    assert failures == [
        "cloudflare: failed: set CLOUDFLARE_ACCOUNT_ID: the base URL needs it; no request sent"
    ]
    assert not paths.overlay_catalog_path().exists()


def test_cli_refresh_unknown_provider_exits_2_listing_the_known_ids() -> None:
    result = run_cli("providers", "refresh", "nope")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown provider 'nope'" in result.stderr
    assert "groq" in result.stderr and "openrouter" in result.stderr
    assert "Traceback" not in result.stderr
