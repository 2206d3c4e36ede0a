"""Helpers for the `serve`, `watch`, web and Prometheus tests: a `freemodels` child process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from freemodels.core.store.history import Heartbeat, History
from waiting import wait_until


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for programs that cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Freemodels:
    """`python -m freemodels ARGS` in the test's isolated HOME; stderr collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "freemodels", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else dict(os.environ),
            text=True,
            bufsize=1,
        )
        self.stderr_lines: list[str] = []
        self.stdout_lines: list[str] = []
        self._changed = threading.Condition()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr_lines)),
            threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout_lines)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    def _pump(self, stream: object, into: list[str]) -> None:
        assert hasattr(stream, "readline")
        for line in iter(stream.readline, ""):
            with self._changed:
                into.append(line)
                self._changed.notify_all()

    @property
    def stderr(self) -> str:
        """Everything written to stderr so far."""
        return "".join(self.stderr_lines)

    def wait_for_stderr(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first match of `pattern` in stderr; fails when the process ends or time runs out."""
        return self._wait_for(pattern, self.stderr_lines, timeout)

    def wait_for_stdout_lines(self, count: int, timeout: float = 20.0) -> list[str]:
        """At least `count` stdout lines (fails after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.stdout_lines) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    pytest.fail(
                        f"{len(self.stdout_lines)} of {count} stdout lines; stderr:\n{self.stderr}"
                    )
                self._changed.wait(min(left, 0.2))
            return list(self.stdout_lines)

    def _wait_for(self, pattern: str, lines: list[str], timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = regex.search("".join(lines))
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    time.sleep(0.1)
                    pytest.fail(f"no {pattern!r} in stderr of {self.args}:\n{self.stderr}")
                self._changed.wait(min(left, 0.2))

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` and wait for the exit code (SIGKILL and fail when it does not exit)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"freemodels {self.args} ignored {sig.name}; stderr:\n{self.stderr}")
        self._close()
        return code

    def _close(self) -> None:
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Freemodels:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close()


def start_serve(*args: str) -> tuple[Freemodels, str]:
    """`freemodels serve ARGS --metrics 127.0.0.1:0`; returns it and its /metrics URL."""
    serve = Freemodels("serve", *args, "--metrics", "127.0.0.1:0")
    url = serve.wait_for_stderr(r"metrics: (http://127\.0\.0\.1:\d+/metrics)").group(1)
    return serve, url


def fetch(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> str:
    """GET `url` as text."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
    return body.decode()


def scrape(url: str) -> dict[str, Metric]:
    """Scrape and parse Prometheus text with prometheus-client's own parser."""
    return {family.name: family for family in text_string_to_metric_families(fetch(url))}


def scrape_until(
    url: str,
    family: str,
    timeout: float = 20.0,
    until: Callable[[dict[str, Metric]], bool] | None = None,
) -> dict[str, Metric]:
    """Scrape until `family` has samples (and `until(families)` holds, when given)."""

    def ready() -> dict[str, Metric] | None:
        families = scrape(url)
        if family not in families or not families[family].samples:
            return None
        return families if until is None or until(families) else None

    return wait_until(ready, timeout=timeout, interval=0.3, what=f"{family} samples at {url}")


def wait_for_heartbeat(history: Path, timeout: float = 20.0) -> Heartbeat:
    """The heartbeat of the monitor another process runs on `history`, once it has written one."""

    def beat() -> Heartbeat | None:
        if not history.exists():
            return None
        store = History(history)
        try:
            return store.live_monitor()
        finally:
            store.close()

    return wait_until(beat, timeout=timeout, interval=0.1, what=f"a heartbeat in {history}")


def write_catalog(
    path: Path, provider: str, base_url: str, models: Sequence[str], rpm: int
) -> Path:
    """A one-provider keyless catalog with `rpm`."""
    lines = [
        "schema_version = 1",
        f"[providers.{provider}]",
        f'name = "{provider}"',
        f'base_url = "{base_url}"',
        f'api_key_env = ["{provider.upper()}_API_KEY"]',
        'signup_url = "https://example.invalid/keys"',
        "key_required = false",
        f"rpm = {rpm}",
    ]
    for model in models:
        lines += [f"[[providers.{provider}.models]]", f'id = "{model}"', f'name = "{model}"']
        lines.append("context = 8192")
    path.write_text("\n".join(lines) + "\n")
    return path


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
