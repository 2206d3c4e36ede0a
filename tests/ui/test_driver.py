"""The dashboard's terminal driver, its input loop fed through a pipe instead of a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual import events
from textual.app import App
from textual.message import Message

from freemodels.ui.driver import QuietLinuxDriver
from waiting import wait_until


class Recording(QuietLinuxDriver):
    """Keeps what it would hand the app."""

    def __init__(self, app: App[None]) -> None:
        super().__init__(app)
        self.seen: list[Message] = []

    def process_message(self, message: Message) -> None:
        self.seen.append(message)


@pytest.fixture
async def fed() -> AsyncIterator[tuple[Recording, int, threading.Thread]]:
    # A driver is made on the app's event loop (Textual reads the running loop); its input
    # thread needs none.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}
    terminal_read, terminal_write = os.pipe()
    driver = Recording(App())
    driver.fileno = terminal_read
    thread = threading.Thread(target=driver.run_input_thread, daemon=True)
    thread.start()
    try:
        yield driver, terminal_write, thread
    finally:
        driver.exit_event.set()
        thread.join(timeout=10)
        driver.close()
        for fd in (terminal_read, terminal_write):
            with contextlib.suppress(OSError):  # a test closed it already
                os.close(fd)
        for sig, handler in handlers.items():  # the driver installs its own: Ctrl+Z support
            signal.signal(sig, handler)


def _keys(driver: Recording) -> list[str]:
    return [m.key for m in driver.seen if isinstance(m, events.Key)]


async def test_keys_arrive_whole_even_split_inside_a_character(
    fed: tuple[Recording, int, threading.Thread],
) -> None:
    driver, terminal, _ = fed
    os.write(terminal, b"a")
    wait_until(lambda: _keys(driver) == ["a"], what="the key a")
    os.write(terminal, "é".encode()[:1])  # half of it: nothing yet, and not taken for EOF
    os.write(terminal, "é".encode()[1:])
    wait_until(lambda: _keys(driver) == ["a", "é"], what="the key é")


async def test_a_lone_escape_is_told_from_a_sequence_by_the_parsers_timeout(
    fed: tuple[Recording, int, threading.Thread],
) -> None:
    driver, terminal, _ = fed
    os.write(terminal, b"\x1b")  # no timeout on the wait would leave it pending forever
    wait_until(lambda: _keys(driver) == ["escape"], what="a lone Escape")
    os.write(terminal, b"\x1b[A")
    wait_until(lambda: _keys(driver) == ["escape", "up"], what="the up arrow, one key")


async def test_a_closed_terminal_is_not_read_again_and_a_stop_still_ends_the_thread(
    fed: tuple[Recording, int, threading.Thread],
) -> None:
    """At EOF the terminal reads as ready forever: a loop that kept selecting it would spin
    (~100 ticks of CPU a second); this one leaves it and waits for the stop signal."""
    driver, terminal, thread = fed
    os.write(terminal, b"a")
    wait_until(lambda: _keys(driver) == ["a"], what="the key a")
    os.close(terminal)
    before = _cpu_ticks(thread)
    await asyncio.sleep(1.0)  # the interval its CPU is counted over, not a wait for a condition
    assert _cpu_ticks(thread) - before <= 10
    driver.exit_event.set()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the stop signal woke the thread out of its wait"


def _cpu_ticks(thread: threading.Thread) -> int:
    """User + system CPU of one thread, in clock ticks (/proc)."""
    stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
