"""The real tools read `use TOOL router`: OpenCode, Kilo, OpenClaw list it; Claude Code talks to it.

Claude Code runs offline against a small Anthropic Messages stub on 127.0.0.1 (the router itself is
tested with the real clients in its own tests): what matters here is that the settings file we
write is what makes it send its requests there. scripts/ci/tools.sh installs every binary; without
one these tests skip with the reason (and fail under CI=true).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from freemodels.integrations import registry
from freemodels.integrations.router import RouterAddress
from integrations_fixtures import EXISTING, GOLDEN, home_env, run_tool, tool_binary, tool_env

pytestmark = pytest.mark.e2e

LOCAL = RouterAddress("http://127.0.0.1:8766", "default")
STUB_TEXT = "hello from the router stub"


def _write(tool: str, home: Path, where: RouterAddress = LOCAL, *, existing: bool = False) -> None:
    if existing:
        path = home / EXISTING[tool]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((GOLDEN / tool / path.name).read_bytes())
    registry.apply_router(tool, where, env=home_env(home), cwd=home)


# Kilo takes about 45 s a run here, so it gets the harder case (the user's file) only.
@pytest.mark.parametrize(
    ("tool", "existing"),
    [("opencode", False), ("opencode", True), ("kilo", True)],
    ids=["opencode-fresh", "opencode-existing", "kilo-existing"],
)
def test_opencode_and_kilo_list_the_router(tool: str, existing: bool, tmp_path: Path) -> None:
    """`<tool> models freemodels` lists both router names; the default is the `auto:tools` one."""
    binary = tool_binary(tool)
    _write(tool, tmp_path, existing=existing)
    listed = run_tool([binary, "models", "freemodels"], tmp_path)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert {"freemodels/auto", "freemodels/auto:tools"} <= set(listed.stdout.split())
    done = run_tool([binary, "debug", "config"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads(done.stdout[done.stdout.index("{") :])
    assert config["model"] == "freemodels/auto:tools"
    assert config["provider"]["freemodels"]["options"]["baseURL"] == "http://127.0.0.1:8766/v1"


def test_kilo_config_check_accepts_the_router(tmp_path: Path) -> None:
    """Kilo's strict checker (unknown keys are errors) finds nothing wrong."""
    binary = tool_binary("kilo")
    _write("kilo", tmp_path, existing=True)
    done = run_tool([binary, "config", "check"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No config warnings" in done.stdout


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing"])
def test_openclaw_validates_and_defaults_to_the_router(existing: bool, tmp_path: Path) -> None:
    """`openclaw config validate` accepts the file; `openclaw models list` shows both names."""
    binary = tool_binary("openclaw")
    _write("openclaw", tmp_path, existing=existing)
    extra = {"VLLM_KEY": "x"}  # the sample's own provider names it
    done = run_tool([binary, "config", "validate", "--json"], tmp_path, extra=extra)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout[done.stdout.index("{") :])["valid"] is True
    listed = run_tool([binary, "models", "list"], tmp_path, extra=extra)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert "freemodels/auto" in rows
    assert "default" in rows["freemodels/auto:tools"]


# -- OpenCode and Kilo answer through what we wrote ------------------------------------------


class ChatStub:
    """An OpenAI chat-completions stub on a free loopback port, streaming one short answer."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[dict[str, Any]] = []

    async def chat(self, request: web.Request) -> web.StreamResponse:
        """Record the request; stream `STUB_TEXT` as chat.completion.chunk events."""
        body = await request.json()
        self.seen.append({"headers": dict(request.headers), "body": body})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for delta, finish in (({"role": "assistant", "content": STUB_TEXT}, None), ({}, "stop")):
            chunk = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@pytest.fixture
async def chat_stub() -> AsyncIterator[ChatStub]:
    """The chat stub, serving on 127.0.0.1 for the test's duration."""
    found = ChatStub()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", found.chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield found
    finally:
        await runner.cleanup()


async def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run a tool without blocking the stub's event loop; its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


@pytest.mark.parametrize("tool", ["opencode", "kilo"])
async def test_opencode_and_kilo_answer_through_the_router_entry(
    tool: str, chat_stub: ChatStub, tmp_path: Path
) -> None:
    """`use TOOL router --url STUB`, then `TOOL run hi`: the default model is `auto:tools`, the
    placeholder key is sent, and the output limit we wrote is the `max_tokens` asked for."""
    binary = tool_binary(tool)
    _write(tool, tmp_path, RouterAddress(chat_stub.url, "given"))
    code, out = await _run([binary, "run", "hi"], tmp_path, tool_env(tmp_path))
    assert code == 0, out[-2000:]
    assert STUB_TEXT in out
    assert any(request["body"].get("tools") for request in chat_stub.seen)  # the agent's turn
    for request in chat_stub.seen:  # the title request too
        assert request["body"]["model"] == "auto:tools"
        assert request["headers"]["Authorization"] == "Bearer freemodels"
        assert request["body"]["max_tokens"] <= 8192


# -- Claude Code -------------------------------------------------------------------------------


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


class Stub:
    """An Anthropic Messages stub on a free loopback port: what it was sent, and where."""

    def __init__(self) -> None:
        self.url = ""
        self.seen: list[dict[str, Any]] = []
        self.elsewhere: list[str] = []

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """Anthropic Messages, streamed: the event sequence Claude Code's SDK expects."""
        body = await request.json()
        self.seen.append({"headers": dict(request.headers), "body": body})
        model = body.get("model", "stub")
        usage = {"input_tokens": 3, "output_tokens": 1}
        message = {"id": "msg_stub", "type": "message", "role": "assistant", "model": model}
        if not body.get("stream"):
            content = [{"type": "text", "text": STUB_TEXT}]
            stop = {"stop_reason": "end_turn", "stop_sequence": None, "usage": usage}
            return web.json_response({**message, "content": content, **stop})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        block = {"type": "text", "text": ""}
        text = {"type": "text_delta", "text": STUB_TEXT}
        stop = {"stop_reason": "end_turn", "stop_sequence": None}
        for chunk in (
            _event("message_start", {"message": {**start, "usage": usage}}),
            _event("content_block_start", {"index": 0, "content_block": block}),
            _event("content_block_delta", {"index": 0, "delta": text}),
            _event("content_block_stop", {"index": 0}),
            _event("message_delta", {"delta": stop, "usage": usage}),
            _event("message_stop", {}),
        ):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def other(self, request: web.Request) -> web.Response:
        """Anything else Claude Code asks for (it checks the base URL first): recorded, 404."""
        self.elsewhere.append(f"{request.method} {request.path}")
        error = {"type": "error", "error": {"type": "not_found_error", "message": "stub"}}
        return web.json_response(error, status=404)


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    """The stub, serving on 127.0.0.1 for the test's duration."""
    found = Stub()
    app = web.Application()
    app.router.add_post("/v1/messages", found.messages)
    app.router.add_route("*", "/{tail:.*}", found.other)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield found
    finally:
        await runner.cleanup()


class ProxyRecorder:
    """A stand-in HTTP(S) proxy on loopback: every connection Claude Code tries beyond loopback
    comes here (HTTPS_PROXY), is recorded by its first line, and is refused."""

    def __init__(self) -> None:
        self.tried: list[str] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Record `CONNECT host:443 HTTP/1.1` (or a plain request line) and hang up."""
        line = await reader.readline()
        self.tried.append(line.decode(errors="replace").strip())
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[ProxyRecorder]:
    """The recorder, listening on a free loopback port for the test's duration."""
    found = ProxyRecorder()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        yield found
    finally:
        server.close()
        await server.wait_closed()


def _claude_env(home: Path, proxy: ProxyRecorder) -> dict[str, str]:
    """No ANTHROPIC_* variables: the settings file alone must point Claude Code at the stub."""
    return {
        "HTTPS_PROXY": proxy.url,
        "HTTP_PROXY": proxy.url,
        "NO_PROXY": "127.0.0.1,localhost",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "NO_COLOR": "1",
        # Offline: no telemetry, error reports, update checks or other non-essential traffic.
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


async def test_claude_code_talks_to_the_router_we_wrote(
    stub: Stub, proxy: ProxyRecorder, tmp_path: Path
) -> None:
    """`use claude router --url STUB`, then `claude -p hi`: the answer comes from the stub, and
    nothing beyond loopback is tried (without the variables that turn off telemetry and other
    non-essential traffic it tries api.anthropic.com:443, and still answers)."""
    binary = tool_binary("claude")
    _write("claude", tmp_path, RouterAddress(stub.url, "given"), existing=True)
    process = await asyncio.create_subprocess_exec(
        binary,
        "-p",
        "hi",
        cwd=tmp_path,
        env=_claude_env(tmp_path, proxy),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, (out + err).decode(errors="replace")[-2000:]
    assert STUB_TEXT in out.decode()
    assert stub.seen, stub.elsewhere
    request = stub.seen[0]
    assert request["headers"]["Authorization"] == "Bearer freemodels"
    assert request["headers"]["Host"] == stub.url.removeprefix("http://")
    assert "Origin" not in request["headers"]  # the router refuses cross-origin requests
    assert str(request["body"]["model"]).startswith("claude")  # the router maps it to auto:tools
    assert request["body"]["max_tokens"] <= 8192  # what free models give; Claude asks 128000
    assert proxy.tried == []
