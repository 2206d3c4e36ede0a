"""The use screen (`enter`) over configs it cannot change: it says why, and never hangs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from canned import make_app
from textual.pilot import Pilot
from textual.widgets import Static

from freemodels.core.records import ModelRef
from freemodels.errors import ConfigWriteError
from freemodels.ui.app import DashboardApp
from freemodels.ui.screens.use import UseScreen

WIDE = (160, 48)


async def open_use(app: DashboardApp, pilot: Pilot[Any]) -> str:
    """Press enter on the second row; the screen's text once the preview settled."""
    await pilot.press("j", "enter")
    assert isinstance(app.screen, UseScreen)
    await app.workers.wait_for_complete()
    await pilot.pause()
    return str(app.screen.query_one("#use-diff-body", Static).render())


def errors(app: DashboardApp) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


async def test_a_config_cut_off_mid_value_is_shown_not_computed_forever(
    tmp_path: Path, isolated_home: Path
) -> None:
    config = isolated_home / "xdg_config_home" / "opencode" / "opencode.jsonc"
    config.parent.mkdir(parents=True)
    damaged = '{ "theme": "x", "model":'
    config.write_text(damaged)
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        body = await open_use(app, pilot)
        assert "computing the change" not in body
        assert errors(app), "the failure was not notified"
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, UseScreen)  # nothing was written: the screen stays
        warnings = [n.message for n in app._notifications if n.severity == "warning"]
        assert any(m.startswith("nothing to write: ") for m in warnings)
    assert config.read_text() == damaged


async def test_a_freemodels_error_is_shown_in_the_screen_and_notified(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    class Refusing(type(app.services)):  # type: ignore[misc]
        def use(self, tool: str, ref: ModelRef, *, dry_run: bool) -> Any:
            raise ConfigWriteError("opencode.jsonc: unexpected end of file", "fix the file")

    app.services = Refusing(app.catalog, app.services.keys, tmp_path / "h", None)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        body = await open_use(app, pilot)
        assert body == "opencode.jsonc: unexpected end of file (fix the file)"
        assert errors(app) == [body]


async def test_an_unexpected_error_is_logged_and_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path)

    class Broken(type(app.services)):  # type: ignore[misc]
        def use(self, tool: str, ref: ModelRef, *, dry_run: bool) -> Any:
            raise IndexError("string index out of range")

    app.services = Broken(app.catalog, app.services.keys, tmp_path / "h", None)
    with caplog.at_level(logging.ERROR, logger="freemodels.ui"):
        async with app.run_test(size=WIDE) as pilot:
            await pilot.pause()
            body = await open_use(app, pilot)
            assert body.startswith("unexpected error: IndexError: string index out of range")
            assert app.is_running
    assert any(r.exc_info and r.exc_info[0] is IndexError for r in caplog.records)
