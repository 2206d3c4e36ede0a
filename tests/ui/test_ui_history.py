"""The history screen (`h`), the trend column and the "usually fastest at" line, on a history
file filled with a generated rhythm (fixed clock, fixed time zone)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from canned import NOW, make_app
from textual.pilot import Pilot
from textual.widgets import Static

from freemodels.core.store.history import History
from freemodels.ui.app import DashboardApp
from freemodels.ui.widgets.detail import DetailPane
from history_fixtures import generate
from programs import fresh_python

WIDE = (160, 48)
DEADLINE_S = 30.0
FAST = "cerebras/zai-glm-4.7"
SLOWER = "groq/llama-3.3-70b-versatile"


@pytest.fixture(autouse=True)
def utc_plus_two(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The zone the rhythm is generated in (UTC+02:00, no DST)."""
    monkeypatch.setenv("TZ", "Etc/GMT-2")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def fill(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite3")
    history.add(
        list(
            generate(
                now=NOW,
                models=(
                    ("cerebras", "zai-glm-4.7", 150.0),
                    ("groq", SLOWER.split("/", 1)[1], 400.0),
                ),
                slower_this_week=1.3,
            )
        )
    )
    history.close()


async def until(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await pilot.pause(0.05)


def history_screen(app: DashboardApp) -> Any:
    from freemodels.ui.screens.history import HistoryScreen

    screen = app.screen
    return screen if isinstance(screen, HistoryScreen) else None


async def test_h_opens_the_history_of_the_selected_model_and_escape_closes_it(
    tmp_path: Path,
) -> None:
    from freemodels.ui.widgets.heatmap import HourHeatmap
    from freemodels.ui.widgets.ttft_plot import TtftPlot
    from freemodels.ui.widgets.uptime import UptimeStrip

    fill(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("h")
        await until(pilot, lambda: history_screen(app) is not None)
        screen = history_screen(app)
        assert screen.ref.provider == "cerebras"
        await until(pilot, lambda: screen.history is not None)
        await pilot.pause()
        loaded = screen.history
        assert 95 <= len(loaded.day) <= 96, "15-minute buckets over 24 h"
        assert sum(b.outage for b in loaded.day) == 4, "the nightly outage hour, marked"
        assert len(loaded.week) == 7 * 24
        assert screen.query_one("#history-day", TtftPlot).points > 0
        assert screen.query_one("#history-week", TtftPlot).points > 0
        summary = str(screen.query_one("#history-summary", Static).render())
        assert "▲ +" in summary and "usually fastest at 06–08h" in summary
        strip = str(screen.query_one(UptimeStrip).render())
        assert "336 hours measured" in strip
        await until(pilot, lambda: screen.heatmap is not None)  # read after the first frame
        await pilot.pause()
        heat = str(screen.query_one(HourHeatmap).render())
        assert heat.count("Mon") == 1 and "ms" in heat
        await pilot.press("escape")
        await until(pilot, lambda: history_screen(app) is None)


async def test_trend_column_and_fastest_hours_line(tmp_path: Path) -> None:
    fill(tmp_path)
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await until(pilot, lambda: bool(app.dashboard.rhythms))
        await pilot.pause()
        table = app.dashboard.table
        assert str(table.get_cell(FAST, "trend")) == "▲"
        assert str(table.get_cell(SLOWER, "trend")) == "▲"
        assert str(table.get_cell("groq/openai/gpt-oss-120b", "trend")) == "", "no history"
        detail = str(app.dashboard.query_one(DetailPane).query_one("#detail-body", Static).render())
        assert "usually fastest at 06–08h" in detail


async def test_an_empty_history_says_so(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("h")
        await until(pilot, lambda: history_screen(app) is not None)
        screen = history_screen(app)
        await until(pilot, lambda: screen.history is not None)
        await pilot.pause()
        summary = str(screen.query_one("#history-summary", Static).render())
        assert "not enough data" in summary
        assert app.dashboard.rhythms == {} or all(
            r.trend is None for r in app.dashboard.rhythms.values()
        )


async def test_the_screen_shows_at_once_then_its_data_then_the_heatmap(tmp_path: Path) -> None:
    """The read runs in a thread: the screen is up, saying it loads, while the read is held;
    the provider's heatmap (below the fold) is read only once the rest is shown."""
    from freemodels.core.monitor.rhythm import Bucket
    from freemodels.core.records import ModelRef
    from freemodels.core.store.insights import ModelHistory
    from freemodels.ui.screens.history import HistoryScreen
    from freemodels.ui.widgets.heatmap import HourHeatmap
    from freemodels.ui.widgets.ttft_plot import TtftPlot

    release, release_heatmap = threading.Event(), threading.Event()
    calls: list[str] = []
    plots: list[TtftPlot] = []
    ref = ModelRef("cerebras", "zai-glm-4.7")
    hour = Bucket(ref.provider, ref.model, NOW - 3600, 3600.0, 10, 10, 0, 0, 200.0, 300.0)
    screen = HistoryScreen(ref, "GLM 4.7", lambda: held(), lambda: heat())

    def held() -> ModelHistory:
        calls.append("history")
        assert release.wait(DEADLINE_S)
        return ModelHistory(ref.provider, ref.model, NOW, (), (hour,), (None,) * 719 + (1.0,))

    def heat() -> dict[tuple[int, int], float]:
        calls.append(f"heatmap, after the week plot was drawn: {plots[0].builds > 0}")
        assert release_heatmap.wait(DEADLINE_S)
        return {(0, 9): 250.0}

    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        app.push_screen(screen)
        await until(pilot, lambda: app.screen is screen and calls == ["history"])
        await pilot.pause()
        assert "loading" in str(screen.query_one("#history-summary", Static).render())
        plots.append(screen.query_one("#history-week", TtftPlot))
        assert screen.history is None and plots[0].points == 0 and plots[0].builds == 0
        release.set()
        await until(pilot, lambda: len(calls) == 2)
        assert calls == ["history", "heatmap, after the week plot was drawn: True"]
        assert "loading" in str(screen.query_one(HourHeatmap).render())
        release_heatmap.set()
        await until(pilot, lambda: screen.heatmap is not None)
        await pilot.pause()
        assert screen.query_one("#history-week", TtftPlot).points == 1
        assert "Mon" in str(screen.query_one(HourHeatmap).render())


async def test_snapshots_wait_under_the_history_screen_and_the_newest_shows_after(
    tmp_path: Path,
) -> None:
    """The history screen hides the dashboard: redrawing it meanwhile would show nothing."""
    from dataclasses import replace

    from canned import snapshot

    from freemodels.ui.source import ManualSource

    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("h")
        await until(pilot, lambda: history_screen(app) is not None)
        applied = app.updates
        for second in (1, 2, 3):
            source.push(replace(snapshot(), at=NOW + second))
        await pilot.pause()
        assert app.updates == applied, "not drawn under the history screen"
        await pilot.press("escape")
        await until(pilot, lambda: app.dashboard.snapshot.at == NOW + 3)
        assert app.updates == applied + 1, "only the newest, once"


def test_the_dashboard_does_not_import_plotext_until_h() -> None:
    code = (
        "import sys, freemodels.ui.app, freemodels.cli.dashboard; "
        "print(sorted(m for m in sys.modules if 'plotext' in m))"
    )
    assert fresh_python(code) == "[]"


def test_history_screen_snapshot(snap_compare: Callable[..., bool], tmp_path: Path) -> None:
    fill(tmp_path)

    async def run_before(pilot: Pilot[Any]) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("h")
        await until(pilot, lambda: getattr(pilot.app.screen, "heatmap", None) is not None)
        await pilot.pause()

    assert snap_compare(make_app(tmp_path), terminal_size=WIDE, run_before=run_before)
