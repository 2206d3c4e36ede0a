"""The ranking explains itself: samples column, a reason per model, honest counts and sparklines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from canned import make_app, rows, samples, snapshot
from textual.widgets import Static

from freemodels.core.records import Health, ModelRef, ModelStats, Outcome
from freemodels.ui import format as fmt
from freemodels.ui.reasons import rank_reason
from freemodels.ui.screens.help import LEGEND, HelpScreen
from freemodels.ui.source import ManualSource
from freemodels.ui.widgets.detail import DetailPane
from freemodels.ui.widgets.status import StatusBar
from waiting import async_wait_until

WIDE = (160, 48)
BASE = rows()[0]


@pytest.mark.parametrize(
    ("stats", "reason"),
    [
        (BASE, "usable, 6 ok samples: proven models rank by p50, then stability"),
        (replace(BASE, ok=1, samples=1), "1 ok sample; proven models (≥ 3) rank first"),
        (
            replace(
                BASE,
                outcome=Outcome.SERVER_ERROR,
                usable=False,
                ok=1,
                samples=3,
                availability=0.3333,
                availability_low=0.0615,
            ),
            "availability 33% (lower bound 6%): not usable",
        ),
        (
            replace(
                BASE,
                outcome=Outcome.TIMEOUT,
                usable=False,
                ok=1,
                samples=2,
                availability=None,
                availability_low=0.09,
            ),
            "availability 1 ok of 2 (lower bound 9%): not usable",
        ),
        (
            replace(BASE, outcome=Outcome.TIMEOUT, usable=False, availability_low=0.8),
            "no ok answer in the last 5 min: not usable",
        ),
        (
            replace(BASE, outcome=Outcome.NO_KEY, usable=False, ok=0),
            "no ok answer in the window: not usable; ranks by its latest outcome",
        ),
        (
            replace(BASE, outcome=None, usable=False),
            "not measured yet: ranks after the measured models",
        ),
    ],
)
def test_each_rank_has_its_reason(stats: ModelStats, reason: str) -> None:
    assert rank_reason(stats) == reason


def one_sample_snapshot() -> tuple[ModelStats, ...]:
    """The fastest model measured once: it ranks below the proven ones."""
    fresh = replace(rows()[0], ok=1, samples=1, ttft_ms=90.0, ttft_p50_ms=90.0)
    return (*rows()[1:3], fresh, *rows()[3:])


async def test_the_detail_pane_says_why_and_n_shows_the_ok_samples(tmp_path: Path) -> None:
    ranked = one_sample_snapshot()
    glm = ModelRef("cerebras", "zai-glm-4.7")
    fresh_samples = {**samples(), glm: samples()[glm][-1:]}
    app = make_app(tmp_path, source=ManualSource(snapshot(rows=ranked, samples=fresh_samples)))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        assert str(table.get_cell("cerebras/zai-glm-4.7", "samples")) == "1"
        assert str(table.get_cell("groq/llama-3.3-70b-versatile", "samples")) == "6"
        await pilot.press("j", "j")
        assert table.selected_key == "cerebras/zai-glm-4.7"
        pane = app.query_one(DetailPane)
        body = str(pane.query_one("#detail-body").render())
        assert body.splitlines()[0] == "#3: 1 ok sample; proven models (≥ 3) rank first"
        # One sample draws no trend (not a full block across the pane).
        assert list(pane.query_one("#detail-spark").data) == []  # type: ignore[attr-defined]
        await pilot.press("k")
        await pilot.pause()
        spark = pane.query_one("#detail-spark")
        assert len(spark.data) == 6  # type: ignore[attr-defined]
        # One column per sample until they fill the pane (once the layout caught up).
        await async_wait_until(lambda: spark.size.width == 6, what="a 6-column sparkline")


async def test_the_up_count_agrees_with_the_status_column(tmp_path: Path) -> None:
    # Usable (3 of its window's answers were ok) but its latest probe failed: not "up".
    flaky = replace(rows()[0], outcome=Outcome.SERVER_ERROR, health=Health.UP, usable=True)
    app = make_app(tmp_path, source=ManualSource(snapshot(rows=(flaky, *rows()[1:]))))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        status = str(app.dashboard.table.get_cell("cerebras/zai-glm-4.7", "status"))
        assert status == "server error"
        shown_up = sum(
            1 for key in app.dashboard.table.order
            if str(app.dashboard.table.get_cell(key, "status")) == "UP"
        )  # fmt: skip
        line = str(app.dashboard.query_one(StatusBar).render())
        assert line.startswith(f"{shown_up}/{len(rows())} up")
        assert shown_up == 2


async def test_help_names_the_shortcuts_and_explains_the_words(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        title = str(app.screen.query_one("#help-title", Static).render())
        assert title == "freemodels: keyboard shortcuts"
        words = [word for word, _ in LEGEND]
        for word in ("Tier", "Status", "requests this minute", "n", "↑ ↓"):
            assert word in words
        meaning = dict(LEGEND)
        assert "↑ smallest values first" in meaning["↑ ↓"]


def test_the_legend_explains_every_status_word() -> None:
    status = dict(LEGEND)["Status"]
    base = replace(rows()[0], health=Health.UNKNOWN)
    for outcome in Outcome:
        word = fmt.verdict(replace(base, outcome=outcome), None, 0.0, probing=False)
        assert word in status, f"the help screen does not explain {word!r}"
