"""The dashboard's router targets: `t` reaches "TOOL via router"; `enter`, `w` write the router."""

from __future__ import annotations

import json
from pathlib import Path

from canned import make_app
from textual.widgets import Static

from freemodels.integrations import registry
from freemodels.ui.preferences import Preferences
from freemodels.ui.screens.use import UseScreen
from freemodels.ui.services import split_target, tools

WIDE = (160, 48)


def test_targets_are_each_tool_then_each_via_the_router() -> None:
    """Nine router targets follow the eight tools; Claude Code is only there via the router."""
    targets = tools()
    assert targets[:8] == registry.TOOLS
    assert targets[8] == "opencode via router" and targets[-1] == "claude via router"
    assert "claude" not in targets
    assert split_target("claude via router") == ("claude", True)
    assert split_target("kilo") == ("kilo", False)


async def test_t_reaches_the_router_targets(tmp_path: Path) -> None:
    """Eight presses of `t` from OpenCode land on "opencode via router"; it is remembered."""
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press(*"t" * 8)
        assert app.dashboard.prefs.tool == "opencode via router"
        await app.workers.wait_for_complete()
    assert 'tool = "opencode via router"' in (tmp_path / "preferences.toml").read_text()


async def test_enter_then_w_writes_the_router_into_claude(
    tmp_path: Path, isolated_home: Path
) -> None:
    """With "claude via router": the preview names the router, `w` writes Claude Code's settings."""
    app = make_app(tmp_path, prefs=Preferences(tool="claude via router"))
    settings = isolated_home / ".claude" / "settings.json"
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        assert isinstance(app.screen, UseScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        title = str(app.screen.query_one("#use-title", Static).render())
        assert "the local router" in title and "claude" in title
        assert not settings.exists()  # only a preview so far
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, UseScreen)
    env = json.loads(settings.read_text(encoding="utf-8"))["env"]
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8766"


async def test_router_target_ignores_the_selected_model(
    tmp_path: Path, isolated_home: Path
) -> None:
    """The router picks the model: the row under the cursor is not written, the router is."""
    app = make_app(tmp_path, prefs=Preferences(tool="opencode via router"))
    config = isolated_home / "xdg_config_home" / "opencode" / "opencode.json"
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("j", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
    written = json.loads(config.read_text(encoding="utf-8"))
    assert written["model"] == "freemodels/auto:tools"
    assert list(written["provider"]) == ["freemodels"]
