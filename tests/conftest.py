"""Shared fixtures: every test runs with HOME and every XDG dir in its own tmp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from programs import under_ci

# Hypothesis: CI replays the same examples every run (derandomized: a red CI run is a real bug
# anyone can reproduce, never a lucky draw), while a developer's run explores new examples and
# remembers failures in .hypothesis/. Neither has a deadline: an example's time is the machine's
# speed, not behaviour. `print_blob` prints the line that reproduces a failure.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if under_ci() else "dev")

ISOLATED_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh HOME and XDG dirs; no real key or config of the machine can leak in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var in ISOLATED_VARS:
        path = home / var.lower()
        path.mkdir()
        monkeypatch.setenv(var, str(path))
    for name in list(os.environ):
        if name.startswith("FREEMODELS_") or name.endswith(("_API_KEY", "_API_TOKEN", "_TOKEN")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    # The catalog's end dates and staleness hint are read against this fixed day, so that no
    # test changes its result with the calendar (the lint step checks the real date).
    monkeypatch.setenv("FREEMODELS_TODAY", "2026-11-30")
    yield home


@pytest.fixture
def redis_ledgers_closed() -> Iterator[None]:
    """Closes the shared ledgers the test opened with redis_server.open_shared_ledger."""
    yield
    from redis_server import close_opened_ledgers

    close_opened_ledgers()
