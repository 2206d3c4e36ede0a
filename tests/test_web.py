"""The web dashboard server without a browser: access rules, page policy, session processes."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import textwrap
import urllib.error
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from textual_serve.download_manager import DownloadManager

from freemodels.servers.guard import TOKEN_COOKIE, Guard
from freemodels.servers.web.dashboard import DashboardServer
from freemodels.servers.web.session import DashboardSession, session_environment
from serve_fixtures import Freemodels, alive, fetch
from waiting import async_wait_until

TOKEN = "t0ken-for-tests-0123456789"


async def client_for(guard: Guard, argv: list[str] | None = None) -> TestClient:
    server = DashboardServer(argv or ["true"], set(), guard, public_url=None)
    client = TestClient(TestServer(await server._make_app()))
    await client.start_server()
    return client


@pytest.fixture
async def loopback() -> AsyncIterator[TestClient]:
    client = await client_for(Guard(None, loopback_only=True, bound_host="127.0.0.1"))
    yield client
    await client.close()


@pytest.fixture
async def tokened() -> AsyncIterator[TestClient]:
    client = await client_for(Guard(TOKEN, loopback_only=False, bound_host="0.0.0.0"))
    yield client
    await client.close()


async def test_the_page_loads_nothing_from_the_internet(loopback: TestClient) -> None:
    response = await loopback.get("/")
    assert response.status == 200
    page = await response.text()
    assert "googleapis" not in page and "https://" not in page
    assert "<title>freemodels</title>" in page  # the tab says what it is
    assert "@font-face" in page and "/static/fonts/RobotoMono-VariableFont_wght.ttf" in page
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "font-src 'self' data:" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    port = loopback.port
    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page
    font = await loopback.get("/static/fonts/RobotoMono-VariableFont_wght.ttf")
    assert font.status == 200 and len(await font.read()) > 10_000


async def test_loopback_refuses_foreign_host_names(loopback: TestClient) -> None:
    # DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends its own Host.
    response = await loopback.get("/", headers={"Host": f"evil.example:{loopback.port}"})
    assert response.status == 421
    ok = await loopback.get("/", headers={"Host": f"localhost:{loopback.port}"})
    assert ok.status == 200


async def test_websocket_from_another_origin_is_refused(loopback: TestClient) -> None:
    response = await loopback.get("/ws", headers={"Origin": "https://evil.example"})
    assert response.status == 403


async def test_token_is_required_beyond_loopback(tokened: TestClient) -> None:
    for path in ("/", "/?token=wrong", "/static/js/textual.js", "/ws", f"/?token={TOKEN}x"):
        response = await tokened.get(path)
        assert response.status == 401, path
        assert TOKEN not in await response.text()
    response = await tokened.get(f"/?token={TOKEN}")
    assert response.status == 200
    cookie = response.cookies[TOKEN_COOKIE]
    assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
    # The page's own requests then carry the cookie.
    static = await tokened.get("/static/js/textual.js")
    assert static.status == 200


def test_session_environment_keeps_only_what_the_dashboard_needs() -> None:
    source = {
        "HOME": "/h", "PATH": "/bin", "LANG": "C.UTF-8", "XDG_DATA_HOME": "/d",
        "FREEMODELS_DEMO_SEED": "3", "GROQ_API_KEY": "gsk_x", "TEXTUAL_DRIVER": "web",
        "COLUMNS": "80", "AWS_SECRET_ACCESS_KEY": "no", "GITHUB_TOKEN": "no",
        "OPENAI_API_KEY": "not in the catalog", "SSH_AUTH_SOCK": "/tmp/agent",
    }  # fmt: skip
    kept = session_environment(source, {"GROQ_API_KEY", "CLOUDFLARE_ACCOUNT_ID"})
    assert set(kept) == {
        "HOME", "PATH", "LANG", "XDG_DATA_HOME", "FREEMODELS_DEMO_SEED", "GROQ_API_KEY",
        "TEXTUAL_DRIVER", "COLUMNS",
    }  # fmt: skip


FAKE_APP = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    out = sys.argv[1]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stubborn app: only SIGKILL ends it
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(out + ".tmp", "w") as f:
        json.dump({"pid": os.getpid(), "child": child.pid, "env": sorted(os.environ)}, f)
    os.replace(out + ".tmp", out)
    sys.stdout.write("__GANGLION__\\n"); sys.stdout.flush()
    time.sleep(120)
    """
)


async def test_a_session_ends_its_whole_process_group_even_a_stubborn_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNRELATED_SECRET", "s3cr3t")
    monkeypatch.setenv("DEMO_GROQ_API_KEY", "gsk_in_catalog")
    report = tmp_path / "app.json"
    written: list[bytes] = []

    async def write_bytes(data: bytes) -> None:
        written.append(data)

    async def write_str(text: str) -> None:
        return None

    async def close() -> None:
        return None

    session = DashboardSession(
        [sys.executable, "-c", FAKE_APP, str(report)],
        {"DEMO_GROQ_API_KEY"},
        write_bytes=write_bytes,
        write_str=write_str,
        close=close,
        download_manager=DownloadManager(),
    )
    await session.start(80, 24)
    await async_wait_until(report.exists, what="the session's child to report")
    info = json.loads(report.read_text())
    assert session.pid == info["pid"] and os.getpgid(info["child"]) == info["pid"]
    assert "UNRELATED_SECRET" not in info["env"]
    assert {"HOME", "XDG_DATA_HOME", "DEMO_GROQ_API_KEY", "TEXTUAL_DRIVER"} <= set(info["env"])

    await session.stop()
    # SIGKILL is delivered and the processes torn down asynchronously: on a loaded machine the
    # child may still be on its way out when stop() returns, so wait for it (a process the session
    # failed to kill stays alive and fails this).
    for pid in (info["pid"], info["child"]):
        await async_wait_until(lambda pid=pid: not alive(pid), what=f"process {pid} to end")


def test_serve_on_all_interfaces_refuses_requests_without_the_token() -> None:
    with Freemodels("serve", "--demo", "--no-metrics", "--web", "0.0.0.0:0") as serve:
        match = serve.wait_for_stderr(r"web dashboard: http://\S+:(\d+)/\?token=([\w-]+)")
        port, token = match.group(1), match.group(2)
        base = f"http://127.0.0.1:{port}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            fetch(f"{base}/")
        assert refused.value.code == 401
        refused.value.close()
        with pytest.raises(urllib.error.HTTPError) as wrong:
            fetch(f"{base}/?token={token[:-1]}")
        assert wrong.value.code == 401
        wrong.value.close()
        page = fetch(f"{base}/?token={token}")
        assert "textual-terminal" in page and token not in page
        assert serve.stop(signal.SIGTERM) == 0
    # Printed once, at start.
    assert len(re.findall(re.escape(token), serve.stderr)) == 1
