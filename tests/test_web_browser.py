"""The web dashboard in a real browser: Debian's chromium, driven by Playwright."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from freemodels.paths import data_dir
from programs import require_program
from serve_fixtures import (
    Freemodels,
    alive,
    descendants,
    scrape_until,
    wait_for_heartbeat,
)
from waiting import wait_until

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]  # fmt: skip
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]")


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium = require_program("chromium", "/usr/bin/chromium", installer="scripts/ci/web.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Screen:
    """What the dashboard sent over the page's websocket, as plain text."""

    def __init__(self, page: Any) -> None:
        self.chunks: list[str] = []
        page.on("websocket", self._attach)

    def _attach(self, websocket: Any) -> None:
        websocket.on("framereceived", self._received)

    def _received(self, frame: str | bytes) -> None:
        self.chunks.append(frame if isinstance(frame, str) else frame.decode("utf-8", "replace"))

    def text(self) -> str:
        """Everything received, escape sequences removed."""
        return ANSI.sub("", "".join(self.chunks))

    def wait_for(self, page: Any, ready: Callable[[str], bool], what: str, timeout: float) -> str:
        """Pump the page until `ready(text)`; fail naming `what`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if ready(text):
                return text
            page.wait_for_timeout(200)
        pytest.fail(f"the web dashboard never showed {what}; it showed:\n{self.text()[-2000:]}")


def ranked(text: str) -> bool:
    """At least three demo models with a time in milliseconds."""
    names = ("Qwen3.6 27B", "GPT OSS 20B", "GPT OSS 120B", "Mistral Small 4", "Kimi K2.6")
    return sum(name in text for name in names) >= 3 and bool(re.search(r"\d+ ms", text))


def web_serve(bind: str) -> tuple[Freemodels, str, str]:
    serve = Freemodels("serve", "--demo", "--metrics", "127.0.0.1:0", "--web", bind)
    metrics = serve.wait_for_stderr(r"metrics: (\S+)").group(1)
    url = serve.wait_for_stderr(r"web dashboard: (\S+)").group(1)
    # Sessions attach to a monitor that has beaten and probed: wait for both.
    scrape_until(metrics, "freemodels_probes")
    wait_for_heartbeat(data_dir() / "history-demo.sqlite3")
    return serve, url, metrics


def senders(history: Path) -> set[int]:
    """The pids of every process that sent a request, from the shared request ledger."""
    with closing(sqlite3.connect(f"file:{history}?mode=ro", uri=True)) as db:
        return {pid for (pid,) in db.execute("SELECT DISTINCT pid FROM ledger")}


def test_dashboard_in_the_browser_ranks_answers_keys_and_ends_with_the_tab(
    browser: Any, tmp_path: Path
) -> None:
    serve, url, _ = web_serve("127.0.0.1:0")
    with serve:
        page = browser.new_page(viewport={"width": 1400, "height": 800})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        screen = Screen(page)
        response = page.goto(url)
        assert response is not None and response.status == 200
        screen.wait_for(page, ranked, "ranked rows", timeout=20)
        assert page.title() == "freemodels"
        sessions = {pid for pid in descendants(serve.process.pid) if _is_dashboard(pid)}
        assert len(sessions) == 1, "one tab, one dashboard process"
        page.wait_for_timeout(1500)  # a quiet window: nothing may come from the tab
        # The tab's dashboard attached to serve's monitor: it did not sweep the fleet again.
        # Every request is in the ledger with its sender's pid (serve's own keep coming).
        sent_by = senders(data_dir() / "history-demo.sqlite3")
        assert serve.process.pid in sent_by and not sent_by & sessions, (sent_by, sessions)

        page.mouse.click(700, 400)  # focus the terminal
        page.keyboard.press("?")
        screen.wait_for(page, lambda t: "keyboard shortcuts" in t, "the help screen", timeout=10)
        page.screenshot(path=str(tmp_path / "help.png"))
        page.keyboard.press("Escape")
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "ranking.png"))
        assert (tmp_path / "help.png").stat().st_size > 10_000

        origin = url.rstrip("/")
        assert all(r.startswith(origin) for r in requests), f"off-origin loads: {requests}"

        page.close()  # the tab goes away: its dashboard process must follow
        wait_until(
            lambda: not any(alive(pid) for pid in sessions), what="the tab's dashboard to end"
        )

        # A tab still open when serve stops: its dashboard ends with serve.
        second = browser.new_page()
        screen = Screen(second)
        second.goto(url)
        screen.wait_for(second, ranked, "ranked rows in a second tab", timeout=20)
        open_sessions = {p for p in descendants(serve.process.pid) if _is_dashboard(p)}
        assert len(open_sessions) == 1 and not open_sessions & sessions
        assert serve.stop() == 0, serve.stderr
        assert not any(alive(pid) for pid in open_sessions), "a dashboard outlived serve"


def test_history_screen_renders_in_the_browser(browser: Any) -> None:
    serve, url, _ = web_serve("127.0.0.1:0")
    with serve:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        screen = Screen(page)
        page.goto(url)
        screen.wait_for(page, ranked, "ranked rows", timeout=20)
        page.mouse.click(700, 400)  # focus the terminal
        page.keyboard.press("h")
        screen.wait_for(
            page,
            lambda t: "TTFT, last 24 h" in t and "Availability per hour, 30 days" in t,
            "the history screen",
            timeout=20,
        )
        page.keyboard.press("Escape")
        page.close()
        assert serve.stop() == 0, serve.stderr


def test_all_interfaces_need_the_token_in_the_browser(browser: Any) -> None:
    serve, url, _ = web_serve("0.0.0.0:0")
    with serve:
        match = re.search(r":(\d+)/\?token=([\w-]+)$", url)
        assert match, url
        port, token = match.groups()
        page = browser.new_page()
        refused = page.goto(f"http://127.0.0.1:{port}/")
        assert refused is not None and refused.status == 401
        assert "access token" in page.content()
        screen = Screen(page)
        allowed = page.goto(f"http://127.0.0.1:{port}/?token={token}")
        assert allowed is not None and allowed.status == 200
        screen.wait_for(page, ranked, "ranked rows", timeout=20)
        assert page.title() == "freemodels"
        sessions = {pid for pid in descendants(serve.process.pid) if _is_dashboard(pid)}
        assert sessions
        # An abrupt disconnect: the browser dies without closing its websocket.
        browsers = [pid for pid in descendants(os.getpid()) if _is_chromium(pid)]
        assert browsers
        for pid in browsers:
            os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: not any(alive(pid) for pid in sessions),
            what="the dead browser's dashboard to end",
        )
        assert serve.stop() == 0, serve.stderr


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _is_dashboard(pid: int) -> bool:
    argv = _argv(pid)
    return b"freemodels" in argv and b"serve" not in argv


def _is_chromium(pid: int) -> bool:
    argv = _argv(pid)
    return bool(argv) and argv[0].endswith(b"chromium")
