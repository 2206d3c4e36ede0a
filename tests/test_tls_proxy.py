"""Real TLS and proxies on every probe path: the fleet's throwaway CA trusted through
SSL_CERT_FILE, verification left on, HTTP_PROXY / HTTPS_PROXY honoured (and NO_PROXY)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from freemodels.core.probe import clients
from freemodels.core.probe.clients import ClientPool
from freemodels.core.probe.probe import ProbeSpec, probe
from freemodels.core.records import Model, Outcome, Provider
from freemodels.fleet.server import Behaviour, Fleet, FleetThread
from freemodels.fleet.synthetic import catalog_toml

MODEL = Model("m", "M", 8192)
TRANSPORTS = ["lean", "aiohttp", "httpcore"]


@pytest.fixture(autouse=True)
def fresh_tls_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The TLS context is made once per process: each test makes its own after its env."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    clients.ssl_context.cache_clear()
    yield
    clients.ssl_context.cache_clear()


@pytest.fixture
async def tls_fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with Fleet(tls=True, tls_dir=tmp_path) as fleet:
        fleet.set("p", "m", Behaviour(ttft_s=0.02))
        yield fleet


def provider_of(fleet: Fleet) -> Provider:
    return Provider(
        "p", "P", fleet.base_url("p"), ("P_API_KEY",), "https://x.invalid", models=(MODEL,)
    )


class Proxy:
    """A forward proxy on loopback: CONNECT tunnels and absolute-form requests, remembered."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.split(b"\r\n", 1)[0].decode()
        self.requests.append(line)
        method, target, _ = line.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            hostport = target.split("://", 1)[1].split("/", 1)[0]
            host, port = hostport.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            up_writer.write(head)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_probe_over_tls_trusts_ssl_cert_file(
    tls_fleet: Fleet, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_fleet.tls is not None and tls_fleet.url.startswith("https://")
    monkeypatch.setenv("FREEMODELS_TRANSPORT", transport)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_fleet.tls.ca_file))
    provider = provider_of(tls_fleet)
    async with ClientPool() as pool:
        wire = pool.wire(provider.base_url, "p")
        first = await probe(wire, provider, MODEL, None, ProbeSpec(timeout_s=10))
        second = await probe(wire, provider, MODEL, None, ProbeSpec(timeout_s=10))
    assert first.outcome is Outcome.OK, first.error
    assert second.outcome is Outcome.OK, second.error
    if first.reused is not None:
        assert (first.reused, second.reused) == (False, True), "the TLS connection is kept"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_untrusted_certificate_is_a_network_error(
    tls_fleet: Fleet, transport: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Verification stays on: a CA nobody trusted is refused (SSL_CERT_FILE names another)."""
    other = Fleet(tls=True, tls_dir=tmp_path / "other")
    assert other.tls is not None
    monkeypatch.setenv("FREEMODELS_TRANSPORT", transport)
    monkeypatch.setenv("SSL_CERT_FILE", str(other.tls.ca_file))
    provider = provider_of(tls_fleet)
    async with ClientPool() as pool:
        result = await probe(pool.wire(provider.base_url, "p"), provider, MODEL, None,
                             ProbeSpec(timeout_s=10))  # fmt: skip
    assert result.outcome is Outcome.NETWORK_ERROR
    assert result.error == "TLS handshake failed"
    assert tls_fleet.requests == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_https_goes_through_the_proxys_tunnel(
    tls_fleet: Fleet, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_fleet.tls is not None
    monkeypatch.setenv("FREEMODELS_TRANSPORT", transport)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_fleet.tls.ca_file))
    async with Proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        provider = provider_of(tls_fleet)
        async with ClientPool() as pool:
            result = await probe(pool.wire(provider.base_url, "p"), provider, MODEL, None,
                                 ProbeSpec(timeout_s=10))  # fmt: skip
    assert result.outcome is Outcome.OK, result.error
    assert proxy.requests == [f"CONNECT 127.0.0.1:{tls_fleet.port} HTTP/1.1"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_http_goes_through_the_proxy_unless_no_proxy_says_not(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FREEMODELS_TRANSPORT", transport)
    async with Fleet() as fleet, Proxy() as proxy:
        fleet.set("p", "m", Behaviour(ttft_s=0.02))
        provider = provider_of(fleet)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with ClientPool() as pool:
            result = await probe(pool.wire(provider.base_url, "p"), provider, MODEL, None,
                                 ProbeSpec(timeout_s=10))  # fmt: skip
        assert result.outcome is Outcome.OK, result.error
        assert proxy.requests == [f"POST {provider.base_url}/chat/completions HTTP/1.1"]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with ClientPool() as pool:
            result = await probe(pool.wire(provider.base_url, "p"), provider, MODEL, None,
                                 ProbeSpec(timeout_s=10))  # fmt: skip
        assert result.outcome is Outcome.OK, result.error
        assert len(proxy.requests) == 1, "NO_PROXY sends it direct"


def test_check_over_tls(tmp_path: Path) -> None:
    """The real command, as a user runs it, against https endpoints it trusts via
    SSL_CERT_FILE; and the same sweep over plain http."""
    for tls in (True, False):
        fleet = Fleet(tls=tls, tls_dir=tmp_path)
        fleet.set("a", "m1", Behaviour(ttft_s=0.02))
        fleet.set("a", "m2", Behaviour(ttft_s=0.04))
        fleet.set("b", "m3", Behaviour(ttft_s=0.03))
        with FleetThread(fleet):
            catalog = tmp_path / "catalog.toml"
            catalog.write_text(catalog_toml(fleet), encoding="utf-8")
            env = dict(os.environ)
            if fleet.tls is not None:
                env["SSL_CERT_FILE"] = str(fleet.tls.ca_file)
            proc = subprocess.run(
                [sys.executable, "-m", "freemodels", "--catalog", str(catalog), "check", "--json"],
                capture_output=True, text=True, timeout=60, env=env,
            )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        records = json.loads(proc.stdout)
        assert [r["outcome"] for r in records] == ["ok"] * 3, records
        assert all(r["provider"] in ("a", "b") for r in records)
        assert fleet.url.startswith("https://" if tls else "http://")
