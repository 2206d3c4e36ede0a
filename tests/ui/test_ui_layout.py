"""The dashboard at the widths people use: what each size keeps on screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from canned import make_app

from freemodels.ui.app import DashboardApp
from freemodels.ui.preferences import SORTS
from freemodels.ui.widgets.status import StatusBar


def status_line(app: DashboardApp) -> str:
    return str(app.dashboard.query_one(StatusBar).render())


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 48)], ids=["80", "120", "160"])
async def test_s_never_sorts_by_a_hidden_column(tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for _ in SORTS:
            await pilot.press("s")
            sort = app.dashboard.prefs.sort
            shown = app.dashboard.table.columns
            assert any(c.sort == sort for c in shown), (sort, [c.key for c in shown])
            assert f"sort {sort} " in status_line(app)
            table_width = sum(c.width + 2 for c in shown)
            assert table_width <= size[0]


async def test_at_120_columns_the_table_has_the_width(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        keys = [c.key for c in app.dashboard.table.columns]
        for key in ("ttft", "p50", "p95", "samples", "availability", "status", "provider"):
            assert key in keys
        # Whole provider names and times.
        by_key = {c.key: c for c in app.dashboard.table.columns}
        assert by_key["provider"].width >= len("OpenRouter")
        assert by_key["status"].width >= len("DOWN server error")


async def test_the_80_column_status_line_keeps_sort_tool_and_demo(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.demo = True
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("c", "u", "F")  # filters make the line longer still
        line = status_line(app)
        assert len(line) <= 78
        assert "sort rank ↑" in line
        assert "tool opencode" in line
        assert line.endswith("DEMO")
        assert line.startswith("3/6 up")
