"""How the dashboard looks at 80x24, 120x40 and 160x48, on canned Snapshots (fixed clock, theme).

Update after an intended change with `pytest tests/ui --snapshot-update`, then review the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from canned import make_app
from textual.pilot import Pilot
from textual.widgets import Input

from freemodels.ui.preferences import Preferences

NARROW = (80, 24)
MIDDLE = (120, 40)
WIDE = (160, 48)
SIZES = pytest.mark.parametrize("size", [NARROW, MIDDLE, WIDE], ids=["80x24", "120x40", "160x48"])

SnapCompare = Callable[..., bool]


async def _settled(pilot: Pilot[Any]) -> None:
    # The key chain is read in a worker: wait for it so the banner state is fixed.
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@SIZES
def test_dashboard(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=_settled)


@SIZES
def test_first_run_banner(snap_compare: SnapCompare, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(tmp_path, env={}), terminal_size=size, run_before=_settled)


def test_help_screen(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=NARROW, run_before=run_before)


def test_filtered_and_sorted(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _settled(pilot)
        await pilot.press("s", "s", "slash")
        field = pilot.app.screen.query_one("#filter", Input)
        field.cursor_blink = False
        await pilot.press(*"groq")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_keys_screen(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await _settled(pilot)
        await pilot.press("p")
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_sorted_by_a_column_narrow_screens_hide(snap_compare: SnapCompare, tmp_path: Path) -> None:
    # SWE is the first column to go at 80 columns; sorted by it, it stays (with its arrow).
    app = make_app(tmp_path, prefs=Preferences(sort="swe"))
    assert snap_compare(app, terminal_size=NARROW, run_before=_settled)
