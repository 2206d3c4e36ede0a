"""Launch and small commands: what a user waits for at a prompt, beside a bare `python -c pass`.

    python bench/commands.py [--runs 5] [--idle-seconds 0]

1. `freemodels --help`, `providers`, `keys list`, and `best` answered from history (a `check`
   ran just before): wall time of each whole process, median of --runs, interleaved with a bare
   interpreter start (`python -c pass`) as the baseline of the same run.
   Targets: --help, providers, keys list <= 0.2 s; best <= 0.15 s.
2. The dashboard: launch to the first row with a measured TTFT ("NNN ms") in a pseudo-terminal,
   against one provider whose 5 models answer in 300 ms and which requires a key, stored
   beforehand with `freemodels keys set` (here headless: the secrets file). Target: median
   <= 0.45 s. Measured twice: with an empty history (the row waits for a probe's answer: the
   first launch after installing), and with the history the `check` above left (rows show
   from it, nothing is due, so this times the UI's start alone).
3. With --idle-seconds N: the dashboard left open on the real catalog, its CPU (user + sys from
   /proc) over N seconds after a 10 s settle. Target: <= 1 % of a core over 10 minutes. Without
   internet access every probe fails fast (DNS): say so beside the figure.

Every figure is printed with the 1-minute load average; these machines are shared.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tui_render import _drain, _wait_for

KEY = "bench-key-0123456789"


def load() -> str:
    """The 1-minute load average."""
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one whole process (stdout discarded)."""
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def launch(exe: str, catalog: Path, env: dict[str, str], data: Path | None = None) -> float:
    """Seconds from launching the dashboard to the first `NNN ms` on its screen; with `data`,
    on a history of its own there (made anew: empty)."""
    import fcntl
    import shutil

    if data is not None:
        shutil.rmtree(data, ignore_errors=True)
        env = {**env, "XDG_DATA_HOME": str(data)}
    import pty
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen([exe, "--catalog", str(catalog)], stdin=child, stdout=child,
                            stderr=child, env=env, close_fds=True)  # fmt: skip
    os.close(child)
    seen = _wait_for(main, re.compile(rb"\d ms"), 15.0)
    proc.terminate()
    _drain(main, proc)
    os.close(main)
    return seen - started if seen else float("nan")


def idle_cpu(exe: str, env: dict[str, str], seconds: float) -> float:
    """Percent of one core the dashboard on the real catalog uses over `seconds`."""
    import fcntl
    import pty
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    proc = subprocess.Popen([exe], stdin=child, stdout=child, stderr=child, env=env,
                            close_fds=True)  # fmt: skip
    os.close(child)
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:  # settle, reading the screen so it never blocks
        _wait_for(main, re.compile(rb"$^"), 0.5)
    before, started = cpu(), time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        _wait_for(main, re.compile(rb"$^"), 0.5)
    used = cpu() - before
    elapsed = time.perf_counter() - started
    proc.terminate()
    _drain(main, proc)
    os.close(main)
    return 100 * used / elapsed


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=0.0)
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "freemodels")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("XDG_", "FREEMODELS_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "c"), XDG_DATA_HOME=str(home / "d"),
                   XDG_STATE_HOME=str(home / "s"), XDG_CACHE_HOME=str(home / "k"),
                   TERM="xterm-256color")  # fmt: skip
        env.pop("NO_COLOR", None)
        catalog = Path(tmp) / "providers.toml"
        fleet = subprocess.Popen(
            [sys.executable, "-m", "freemodels.fleet", "--providers", "1",
             "--models-per-provider", "5", "--ttft-ms", "300", "--key", KEY,
             "--catalog-out", str(catalog)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert fleet.stdout is not None
            fleet.stdout.readline()
            cat = ["--catalog", str(catalog)]
            subprocess.run([exe, *cat, "keys", "set", "bench-0"], input=KEY, text=True, env=env,
                           check=True, capture_output=True)  # fmt: skip
            subprocess.run([exe, *cat, "check"], env=env, check=True, capture_output=True)
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "freemodels --help": [exe, "--help"],
                "providers": [exe, *cat, "providers"],
                "keys list": [exe, *cat, "keys", "list"],
                "best (history)": [exe, *cat, "best"],
            }
            for argv in commands.values():  # warm up: bytecode, page cache
                timed(argv, env)
            walls: dict[str, list[float]] = {name: [] for name in commands}
            loads = []
            for _ in range(args.runs):
                loads.append(load())
                for name, argv in commands.items():
                    walls[name].append(timed(argv, env))
            fresh: list[float] = []
            warm: list[float] = []
            for _ in range(args.runs):  # interleaved, so both see the same load
                fresh.append(launch(exe, catalog, env, Path(tmp) / "fresh-data"))
                warm.append(launch(exe, catalog, env))
            launch_load = load()
        finally:
            fleet.terminate()
            fleet.wait(10)
        base = statistics.median(walls["python -c pass"])
        print(f"median of {args.runs} interleaved runs; load: {', '.join(loads)}")
        print(f"{'command':<20}{'wall s':>8}{'x python -c pass':>18}{'target s':>10}")
        targets = {"freemodels --help": 0.2, "providers": 0.2, "keys list": 0.2,
                   "best (history)": 0.15}  # fmt: skip
        for name, values in walls.items():
            wall = statistics.median(values)
            target = f"{targets[name]:.2f}" if name in targets else ""
            print(f"{name:<20}{wall:>8.3f}{wall / base:>18.1f}{target:>10}")
        for what, launches in (("empty history", fresh), ("rows from history", warm)):
            shown = ", ".join(f"{t:.2f}" for t in launches)
            print(f"dashboard launch to first measured row (300 ms endpoint, stored key, "
                  f"{what}): median {statistics.median(launches):.3f} s ({shown}); "
                  f"target 0.45 s; load {launch_load}")  # fmt: skip
        if args.idle_seconds > 0:
            idle_env = dict(env)
            cpu = idle_cpu(exe, idle_env, args.idle_seconds)
            print(f"dashboard idle on the real catalog: {cpu:.2f} % of a core over "
                  f"{args.idle_seconds:g} s (target 1 % over 600 s); load {load()}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
