"""The one rule for what a test needs from the machine: skip locally, fail under CI.

A fresh clone's `pytest` must pass without tmux, chromium, prometheus or the coding tools: a test
that needs one skips with a visible reason (`-ra` prints it). CI installs them all (`.ci/run`,
`scripts/ci/*.sh`), so there, with CI=true, a missing program is a failure, never a quiet skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """Whether this run is CI's (CI=true), where nothing may be skipped for lack of a program."""
    return os.environ.get("CI") == "true"


def unavailable(reason: str, installer: str = ".ci/run") -> NoReturn:
    """Skip with `reason`, or fail under CI, saying which script should have provided it."""
    if under_ci():
        pytest.fail(f"{reason}; {installer} must provide it")
    pytest.skip(reason)


def need(condition: bool, reason: str, installer: str = ".ci/run") -> None:
    """Go on when `condition` holds; else skip (locally) or fail (under CI) with `reason`."""
    if not condition:
        unavailable(reason, installer)


def require_program(name: str, *paths: str, installer: str = ".ci/run") -> str:
    """The path of a system program: the first executable of `paths`, else PATH's `name`."""
    for path in paths:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed", installer)
    return found


def fresh_python(code: str) -> str:
    """The last line a fresh interpreter prints running `code`: what it imports is its own, not
    what this test process has loaded already. A failure shows the interpreter's stderr."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if lines else ""
