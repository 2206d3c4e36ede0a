"""End to end: the real `freemodels --demo` in tmux, driven by keys as a person would."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from programs import require_program
from waiting import wait_until

pytestmark = pytest.mark.e2e


class Tmux:
    """One detached tmux session running a command."""

    def __init__(self, tmux: str, name: str) -> None:
        self.tmux = tmux
        self.name = name

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, *args], check=True, capture_output=True, text=True, timeout=10
        )
        return done.stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.name, *keys)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name)

    def alive(self) -> bool:
        return (
            subprocess.run(
                [self.tmux, "has-session", "-t", self.name], capture_output=True, timeout=10
            ).returncode
            == 0
        )

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        seen = [""]

        def shown() -> str | None:
            seen[0] = self.screen()
            return seen[0] if check(seen[0]) else None

        try:
            return wait_until(shown, timeout=timeout, interval=0.2, what=what)
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}; the screen was:\n{seen[0]}") from None


@pytest.fixture
def dashboard(isolated_home: Path, tmp_path: Path) -> Iterator[Tmux]:
    tmux = require_program("tmux", installer="scripts/ci/base.sh")
    name = f"freemodels-e2e-{uuid.uuid4().hex[:8]}"
    env = {
        "HOME": str(isolated_home),
        "XDG_CONFIG_HOME": str(isolated_home / "xdg_config_home"),
        "XDG_DATA_HOME": str(isolated_home / "xdg_data_home"),
        "XDG_STATE_HOME": str(isolated_home / "xdg_state_home"),
        "XDG_CACHE_HOME": str(isolated_home / "xdg_cache_home"),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", ""),
    }
    exit_file = tmp_path / "exit-code"
    command = (
        "env -i "
        + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        + f" {shlex.quote(sys.executable)} -m freemodels --demo; "
        + f"echo $? > {shlex.quote(str(exit_file))}; sleep 60"
    )
    session = Tmux(tmux, name)
    subprocess.run(
        [tmux, "new-session", "-d", "-s", name, "-x", "160", "-y", "48", command],
        check=True, timeout=10,
    )  # fmt: skip
    session.exit_file = exit_file  # type: ignore[attr-defined]
    try:
        yield session
    finally:
        subprocess.run([tmux, "kill-session", "-t", name], capture_output=True, timeout=10)


def _model_rows(screen: str) -> list[str]:
    # The ranking is left of the detail pane's border; the pane has "ms" lines of its own.
    tables = (line.split("│")[0] for line in screen.splitlines() if "│" in line)
    return [row for row in tables if " ms " in row]


def test_demo_dashboard_rows_sort_filter_help_quit(dashboard: Tmux) -> None:
    # One capture may catch a frame half drawn: wait for a screen that shows all of it at once.
    dashboard.wait(
        lambda s: len(_model_rows(s)) >= 5 and "DEMO" in s and " UP " in s,
        "five measured rows under the DEMO header, one of them UP",
    )

    dashboard.keys("s")  # rank → ttft
    dashboard.wait(lambda s: "sort ttft" in s, "the sort to change")

    dashboard.keys("/")
    dashboard.keys("-l", "GPT")
    dashboard.wait(
        lambda s: (
            "'GPT'" in s
            and bool(_model_rows(s))
            and all("GPT" in r and "Kimi" not in r for r in _model_rows(s))
        ),
        "only GPT rows",
    )
    dashboard.keys("Escape")
    dashboard.wait(lambda s: "Kimi" in s, "the filter to clear")

    dashboard.keys("?")
    dashboard.wait(lambda s: "keyboard shortcuts" in s and "re-probe" in s, "the help screen")
    dashboard.keys("Escape")
    dashboard.wait(
        lambda s: "keyboard shortcuts" not in s and len(_model_rows(s)) >= 5,
        "the help screen to close",
    )

    dashboard.keys("q")
    exit_file: Path = dashboard.exit_file  # type: ignore[attr-defined]
    wait_until(exit_file.exists, what="freemodels to exit")
    assert exit_file.read_text().strip() == "0"


EPOLL_WAIT = 232  # x86_64; the test is skipped elsewhere


def _input_thread(pid: int) -> str | None:
    """The thread reading the terminal: the one blocked in epoll_wait on two fds (the terminal
    and its wake-up pipe) with no timeout, as `ui/driver.py` waits. Textual's own thread polls
    `select` every 100 ms, so with it there is no such thread."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        call = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
        if call[:1] == [str(EPOLL_WAIT)] and int(call[3], 16) == 2 and call[4] == "0xffffffff":
            return tid
    return None


def _woken(pid: int, tid: str) -> int:
    """How often a thread went to sleep and was woken (its voluntary context switches)."""
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


def _freemodels_pid(dashboard: Tmux) -> int:
    shell = int(dashboard.run("list-panes", "-t", dashboard.name, "-F", "#{pane_pid}").split()[0])
    children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
    return next(
        int(child)
        for child in children
        if b"freemodels" in Path(f"/proc/{child}/cmdline").read_bytes()
    )


@pytest.mark.skipif(
    not (sys.platform == "linux" and os.uname().machine == "x86_64"), reason="reads x86_64 /proc"
)
def test_the_input_thread_sleeps_until_a_key_comes(dashboard: Tmux) -> None:
    """With no key pressed, the thread reading the terminal stays asleep (Textual's own wakes
    ten times a second: 30 times in the 3 s below). A key, and a lone Escape, which the parser
    must time out to tell from the start of a sequence, still arrive; `q` still quits."""
    dashboard.wait(lambda s: len(_model_rows(s)) >= 5, "five measured rows")
    pid = _freemodels_pid(dashboard)
    tid = wait_until(lambda: _input_thread(pid), what="the input thread to wait for a key")
    before = _woken(pid, tid)
    time.sleep(3.0)  # the interval the wake-ups are counted over, not a wait for a condition
    assert _woken(pid, tid) - before <= 3
    dashboard.keys("?")
    dashboard.wait(lambda s: "keyboard shortcuts" in s, "the help screen")
    dashboard.keys("Escape")
    dashboard.wait(lambda s: "keyboard shortcuts" not in s, "the help screen to close")
    dashboard.keys("q")
    exit_file: Path = dashboard.exit_file  # type: ignore[attr-defined]
    wait_until(exit_file.exists, what="freemodels to exit")
    assert exit_file.read_text().strip() == "0"
