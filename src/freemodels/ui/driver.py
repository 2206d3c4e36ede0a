"""The terminal driver: Textual's Linux driver, its input thread asleep while no key comes.

Textual's own input thread wakes ten times a second, to look for input and to time out a lone
Escape: 0.13-0.17 % of a core, all day, on an idle dashboard (docs/architecture.md, "Performance
notes"). This thread waits in `select` with no timeout until a byte arrives or the driver stops,
and with one only while the key parser waits for the rest of a sequence, as long as the parser
asked for (`ESCDELAY`, 100 ms by default).

Everything else (the terminal modes, output, resizes, suspend) is Textual's.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import time
from codecs import getincrementaldecoder
from threading import Event
from typing import Any

from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

UNKNOWN_DEADLINE_POLL_S = 0.1
"""Textual's own poll: used if its parser no longer says when it times out (a new version)."""
_NO_ATTRIBUTE = object()


class _WakingEvent(Event):
    """The driver's stop signal, which also wakes the input thread out of `select`."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        # A full pipe already holds a wake-up for the thread to read.
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_fd, b"\0")


class QuietLinuxDriver(LinuxDriver):
    """Textual's `LinuxDriver` with an input thread that does not poll."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read, self._wake_write = os.pipe()
        self._pipe: tuple[int, ...] = (self._wake_read, self._wake_write)
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.exit_event = _WakingEvent(self._wake_write)

    def close(self) -> None:
        super().close()
        fds, self._pipe = self._pipe, ()
        for fd in fds:  # once: a second close finds none
            os.close(fd)

    def run_input_thread(self) -> None:
        """Read keys, mouse and terminal reports until the driver stops (the thread's body)."""
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        with selectors.DefaultSelector() as selector:
            selector.register(self.fileno, selectors.EVENT_READ, "input")
            selector.register(self._wake_read, selectors.EVENT_READ, "wake")
            try:
                while not self.exit_event.is_set():
                    for key, _ in selector.select(_timeout(parser)):
                        if key.data == "wake":
                            _drain(self._wake_read)
                            continue
                        data = os.read(self.fileno, 4096)
                        if not data:
                            # The terminal closed: it would read as ready forever.
                            selector.unregister(self.fileno)
                            continue
                        # Half a UTF-8 character decodes to "", which the parser takes for EOF.
                        text = decode(data)
                        if text:
                            for message in parser.feed(text):
                                self.process_message(message)
                    for message in parser.tick():
                        self.process_message(message)
            finally:
                _drain(self._wake_read)
                try:
                    # Whatever half a sequence the parser still holds goes nowhere: as Textual's.
                    for _ in parser.feed(""):
                        pass
                except (EOFError, ParseError):
                    pass


def _timeout(parser: XTermParser) -> float | None:
    """How long `select` may wait: until the parser's deadline, or (None) until input."""
    deadline = getattr(parser, "_timeout_time", _NO_ATTRIBUTE)
    if deadline is _NO_ATTRIBUTE or not isinstance(deadline, float | int | None):
        return UNKNOWN_DEADLINE_POLL_S
    if deadline is None:
        return None
    return max(0.0, deadline - time.monotonic())


def _drain(fd: int) -> None:
    # Read until the pipe is empty (a non-blocking read then raises BlockingIOError).
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 512):
            pass
