"""The dashboard's footer: rebuilt when the keys it shows change, not when a screen covers it."""

from __future__ import annotations

from pathlib import Path

from canned import make_app
from textual.widgets._footer import FooterKey

from freemodels.ui.app import DashboardApp
from freemodels.ui.screens.help import HelpScreen
from freemodels.ui.widgets.footer import DashboardFooter
from waiting import async_wait_until

WIDE = (160, 48)


def footer_keys(app: DashboardApp) -> list[FooterKey]:
    return list(app.dashboard.query_one(DashboardFooter).query(FooterKey))


def shows_filter(app: DashboardApp) -> bool:
    return any(k.action == "filter" for k in footer_keys(app))


async def test_a_screen_pushed_over_the_dashboard_leaves_its_footer_as_it_was(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await async_wait_until(lambda: bool(footer_keys(app)), what="the footer's keys")
        await pilot.pause()
        before = footer_keys(app)
        await pilot.press("question_mark")
        await async_wait_until(lambda: isinstance(app.screen, HelpScreen), what="the help")
        await pilot.pause()
        await pilot.press("escape")
        await async_wait_until(lambda: app.screen is app.dashboard, what="the dashboard")
        await pilot.pause()
        after = footer_keys(app)
        assert after and all(a is b for a, b in zip(after, before, strict=True)), "not rebuilt"


async def test_the_footer_follows_a_key_that_goes_and_comes_back(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await async_wait_until(lambda: shows_filter(app), what="the footer's `/ Filter`")
        await pilot.press("slash")  # the filter field takes the focus: `/` types a character
        await async_wait_until(lambda: not shows_filter(app), what="`/ Filter` gone")
        await pilot.press("enter")
        await async_wait_until(lambda: shows_filter(app), what="`/ Filter` back")
