"""Pilot tests of the dashboard: every key, driven with canned Snapshots."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from canned import NOW, catalog, make_app, rows, snapshot
from textual import events
from textual.command import CommandList
from textual.widgets import DataTable, Input

from freemodels.cli.dashboard import MonitorThread
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.keys.os_keyring import SecretsFileStore
from freemodels.core.monitor.monitor import Monitor
from freemodels.core.records import ModelRef, Outcome
from freemodels.ui import format as fmt
from freemodels.ui.app import DashboardApp
from freemodels.ui.columns import CELL_PADDING
from freemodels.ui.messages import MonitorFailed
from freemodels.ui.preferences import Preferences, PreferencesError
from freemodels.ui.screens.help import HelpScreen
from freemodels.ui.screens.keys import KeysScreen
from freemodels.ui.screens.use import UseScreen
from freemodels.ui.services import Services
from freemodels.ui.source import ManualSource
from freemodels.ui.widgets.banner import KeyBanner
from freemodels.ui.widgets.detail import DetailPane
from freemodels.ui.widgets.ranking import RankingTable
from freemodels.ui.widgets.status import StatusBar
from waiting import async_wait_until

WIDE = (160, 48)


def cell(app: DashboardApp, key: str, column: str) -> str:
    return str(app.dashboard.table.get_cell(key, column))


def order(app: DashboardApp) -> tuple[str, ...]:
    return app.dashboard.table.order


async def test_rows_show_ranked_with_times_in_ms(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert order(app)[0] == "cerebras/zai-glm-4.7"
        assert len(order(app)) == len(rows())
        assert cell(app, "cerebras/zai-glm-4.7", "ttft") == "142 ms"
        assert cell(app, "cerebras/qwen-3-coder", "status") == "DOWN server error"
        assert cell(app, "openrouter/gone/model:free", "status") == "gone"
        assert cell(app, "openrouter/deepseek/deepseek-r1:free", "status") == "rate limited 42s"
        assert cell(app, "groq/llama-3.3-70b-versatile", "context") == "128k"


async def test_j_k_and_arrows_move_and_cursor_follows_its_model(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        await pilot.press("j", "j")
        assert table.selected_key == "groq/openai/gpt-oss-120b"
        await pilot.press("k")
        assert table.selected_key == "groq/llama-3.3-70b-versatile"
        await pilot.press("down", "up")
        assert table.selected_key == "groq/llama-3.3-70b-versatile"
        # The ranking flips: the cursor stays on the same model, now elsewhere.
        source.push(snapshot(rows=tuple(reversed(rows()))))
        await pilot.pause()
        assert order(app)[0] == "openrouter/gone/model:free"
        assert table.selected_key == "groq/llama-3.3-70b-versatile"
        assert table.cursor_row == order(app).index("groq/llama-3.3-70b-versatile")


async def test_an_update_touches_only_changed_cells(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        before = table.cell_updates
        source.push(snapshot())  # same content
        await pilot.pause()
        assert table.cell_updates == before
        changed = list(rows())
        changed[1] = replace(changed[1], ttft_ms=190.0)
        source.push(snapshot(rows=tuple(changed)))
        await pilot.pause()
        assert table.cell_updates == before + 1
        assert cell(app, "groq/llama-3.3-70b-versatile", "ttft") == "190 ms"


async def test_updates_are_throttled_to_the_refresh_interval(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    # An interval far longer than a pause on a loaded machine: the burst cannot straddle it.
    app.refresh_s = 2.0
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        applied = app.updates
        for ttft in (150.0, 160.0, 170.0, 180.0):
            changed = list(rows())
            changed[0] = replace(changed[0], ttft_ms=ttft)
            source.push(snapshot(rows=tuple(changed)))
        await pilot.pause()
        assert app.updates - applied <= 1
        # The newest Snapshot of the burst is shown after the interval, in one more update.
        await async_wait_until(
            lambda: cell(app, "cerebras/zai-glm-4.7", "ttft") == "180 ms",
            what="the burst's last TTFT on screen",
        )
        assert app.updates - applied <= 2


async def test_s_cycles_sort_and_shift_s_reverses(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        assert app.dashboard.prefs.sort == "ttft"
        await pilot.press("S")
        assert app.dashboard.prefs.reverse
        # Reversed TTFT: slowest measured first, unmeasured still last.
        assert order(app)[0] == "groq/openai/gpt-oss-120b"
        assert order(app)[-1] == "openrouter/gone/model:free"
        for _ in range(8):
            await pilot.press("s")
        assert app.dashboard.prefs.sort == "model"
        assert order(app)[0] == "openrouter/deepseek/deepseek-r1:free"  # "DeepSeek R1"


async def test_clicking_a_header_sorts_by_it(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        # x of the SWE column header: the sum of the widths (with padding) before it.
        x = 0
        for column in table.columns:
            if column.key == "swe":
                break
            x += column.width + 2 * CELL_PADDING
        await pilot.click("#ranking", offset=(x + 2, 0))
        assert app.dashboard.prefs.sort == "swe"
        assert order(app)[0] == "cerebras/zai-glm-4.7"  # 73.8 %
        await pilot.click("#ranking", offset=(x + 2, 0))
        assert app.dashboard.prefs.reverse


async def test_slash_filters_by_text_and_escape_clears(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("g", "p", "t")
        assert order(app) == ("groq/openai/gpt-oss-120b",)
        await pilot.press("enter")
        assert isinstance(app.focused, RankingTable)
        assert order(app) == ("groq/openai/gpt-oss-120b",)
        await pilot.press("escape")
        assert len(order(app)) == len(rows())


async def test_keys_typed_right_after_slash_land_in_the_filter(tmp_path: Path) -> None:
    # A paste or a fast typist: the keys arrive in one burst, before the app is idle again.
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        driver = app._driver
        assert driver is not None
        for key, char in [("slash", "/"), ("g", "g"), ("p", "p"), ("t", "t")]:
            event = events.Key(key, char)
            event.set_sender(app)
            driver.send_message(event)
        await pilot.pause()
        assert app.dashboard.query_one("#filter", Input).value == "gpt"
        assert order(app) == ("groq/openai/gpt-oss-120b",)
        await pilot.press("slash")  # inside the field, `/` is part of an id
        assert app.dashboard.query_one("#filter", Input).value == "gpt/"


async def test_o_cycles_the_provider_filter(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("o")
        assert app.dashboard.prefs.provider == "groq"
        assert {k.split("/")[0] for k in order(app)} == {"groq"}
        await pilot.press("o", "o", "o")
        assert app.dashboard.prefs.provider is None
        assert len(order(app)) == len(rows())


async def test_c_shows_only_configured_and_u_only_usable(tmp_path: Path) -> None:
    app = make_app(tmp_path)  # only GROQ_API_KEY is set
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("c")
        assert {k.split("/")[0] for k in order(app)} == {"groq"}
        await pilot.press("c", "u")
        assert order(app) == (
            "cerebras/zai-glm-4.7",
            "groq/llama-3.3-70b-versatile",
            "groq/openai/gpt-oss-120b",
        )


async def test_f_favourites_persist_and_shift_f_pins_them(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+end")
        await pilot.press("f")
        assert ModelRef.parse("openrouter/gone/model:free") in app.dashboard.prefs.favourites
        assert cell(app, "openrouter/gone/model:free", "model").startswith("★ ")
        assert source.favourites == ("openrouter/gone/model:free",)
        await pilot.press("F")
        assert order(app)[0] == "openrouter/gone/model:free"
        await app.workers.wait_for_complete()
    saved = tomllib.loads((tmp_path / "preferences.toml").read_text())
    assert saved["favourites"] == ["openrouter/gone/model:free"]
    assert saved["pin_favourites"] is True


async def test_x_r_and_shift_t_send_requests_to_the_monitor(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("x", "r", "T")
        assert source.requests == [
            ("speed", "cerebras/zai-glm-4.7"),
            ("probe", None),
            ("tools", "cerebras/zai-glm-4.7"),
        ]


async def test_t_cycles_the_target_tool(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("t")
        assert app.dashboard.prefs.tool == "kilo"
        await app.workers.wait_for_complete()
    assert 'tool = "kilo"' in (tmp_path / "preferences.toml").read_text()


async def test_question_mark_shows_help_and_escape_closes_it(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = [key for key, _ in app.screen._keys]
        for key in ("enter", "t", "s", "S", "/", "o", "c", "u", "a", "f", "F", "x", "r", "?", "q"):
            assert key in keys
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_monitor_keeps_updating_behind_a_modal(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        changed = list(rows())
        changed[0] = replace(changed[0], ttft_ms=99.0)
        source.push(snapshot(rows=tuple(changed)))
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert cell(app, "cerebras/zai-glm-4.7", "ttft") == "99 ms"


async def test_enter_shows_the_change_then_w_writes_it(tmp_path: Path, isolated_home: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("j", "enter")
        assert isinstance(app.screen, UseScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        config = isolated_home / "xdg_config_home" / "opencode" / "opencode.json"
        assert not config.exists()  # only a preview so far
        await pilot.press("w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, UseScreen)
    assert "llama-3.3-70b-versatile" in config.read_text()


async def test_escape_closes_the_use_screen_without_writing(
    tmp_path: Path, isolated_home: Path
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        assert not isinstance(app.screen, UseScreen)
    assert not (isolated_home / "xdg_config_home" / "opencode").exists()


async def test_p_opens_keys_where_a_key_is_added_masked(tmp_path: Path) -> None:
    app = make_app(tmp_path, env={})
    store = SecretsFileStore(tmp_path / "secrets.toml")
    app.services = replace(app.services, keys=KeyRing([store], env=dict(os.environ)))
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query_one(KeyBanner).display
        await pilot.press("p")
        assert isinstance(app.screen, KeysScreen)
        await pilot.press("a")
        field = app.screen.query_one("#keys-input", Input)
        assert field.password
        await pilot.press(*"gsk_abcdefgh1234")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#keys-table", DataTable)
        assert str(table.get_cell("groq", "key")) == "gsk_…1234"
        assert "gsk_abcdefgh1234" not in str(table.get_row("groq"))
        await pilot.press("escape")
        assert not isinstance(app.screen, KeysScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.query_one(KeyBanner).display
    assert store.get("groq") == "gsk_abcdefgh1234"


async def test_keys_screen_removes_and_tests_keys(tmp_path: Path) -> None:
    from freemodels.core.keys.verify import KeyTestResult, KeyVerdict

    store = SecretsFileStore(tmp_path / "secrets.toml")
    store.set("groq", "gsk_abcdefgh1234")
    app = make_app(tmp_path, env={})
    tested: list[str] = []

    class Services(type(app.services)):  # type: ignore[misc]
        def test_key(self, provider_id: str) -> KeyTestResult:
            tested.append(provider_id)
            return KeyTestResult(provider_id, KeyVerdict.REJECTED, "HTTP 401", 401)

    keys = KeyRing([store], env=dict(os.environ))
    app.services = Services(app.catalog, keys, tmp_path / "h", None)
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert tested == ["groq"]
        table = app.screen.query_one("#keys-table", DataTable)
        assert str(table.get_cell("groq", "test")) == "rejected"
        await pilot.press("d")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert str(table.get_cell("groq", "source")) == "not set"
    assert store.get("groq") is None


async def test_ctrl_p_palette_runs_every_action(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Speed test the selected model",
            "Cycle the sort column",
            "Help",
            "Provider keys: add, replace, remove, test",
            "Toggle light/dark",
        ):
            assert title in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"speed test")

        def speed_test_highlighted() -> bool:
            found = app.screen.query(CommandList)
            if not found:
                return False
            hits = found.first()
            if hits.highlighted is None:
                return False
            return "Speed test" in str(hits.get_option_at_index(hits.highlighted).prompt)

        # The palette searches in a worker: wait for the hit before choosing it.
        await async_wait_until(speed_test_highlighted, what="the palette's speed test hit")
        await pilot.press("enter")
        await async_wait_until(
            lambda: ("speed", "cerebras/zai-glm-4.7") in source.requests,
            what="the speed test request",
        )


async def test_q_quits(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_first_run_banner_names_a_key_and_its_signup_url(tmp_path: Path) -> None:
    app = make_app(tmp_path, env={})
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        banner = app.query_one(KeyBanner)
        assert banner.display
        text = str(banner.render())
        assert "Cerebras" in text and "https://cloud.cerebras.ai" in text
        # Unconfigured providers are dimmed.
        assert "dim" in str(app.dashboard.table.get_cell("cerebras/zai-glm-4.7", "ttft").style)


async def test_detail_pane_describes_the_selected_model(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("j")
        await pilot.pause()
        pane = app.query_one(DetailPane)
        body = str(pane.query_one("#detail-body").render())
        assert "p50 181 ms" in body
        assert "(6 ok samples)" in body
        assert "budget left 24/30 a minute, 880/1000 a day" in body
        assert "gsk_…abcd (env:GROQ_API_KEY)" in body
        assert "http://127.0.0.1:9/groq/v1" in body
        assert "free tier (renews)" in body
        assert len(pane.query_one("#detail-spark").data) == 6  # type: ignore[attr-defined]
        await pilot.press("j", "j", "j")
        body = str(pane.query_one("#detail-body").render())
        assert "HTTP 503: overloaded" in body


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 ok samples"), (1, "1 ok sample"), (2, "2 ok samples")]
)
def test_counts_agree_with_their_noun(n: int, text: str) -> None:
    assert fmt.count(n, "ok sample") == text


async def test_narrow_terminal_drops_low_value_columns(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        keys = [c.key for c in app.dashboard.table.columns]
        assert "ttft" in keys and "status" in keys and "model" in keys
        assert "swe" not in keys and "context" not in keys
        table = app.dashboard.table
        width = sum(c.width + 2 * CELL_PADDING for c in table.columns)
        assert width <= 78
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        keys = [c.key for c in app.dashboard.table.columns]
        assert "swe" in keys and "context" in keys


async def test_errors_become_notifications(tmp_path: Path) -> None:
    app = make_app(tmp_path)

    class Failing(type(app.services)):  # type: ignore[misc]
        def save_preferences(self, prefs: Preferences) -> None:
            raise PreferencesError("cannot save preferences", "check the permissions")

    app.services = Failing(app.catalog, app.services.keys, tmp_path / "h", tmp_path / "p")
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("cannot save preferences" in m for m in messages)
        assert app.is_running


async def test_theme_and_no_color(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(tmp_path, prefs=Preferences(theme="textual-light"))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert app.theme == "textual-light"
        assert app.no_color  # the test environment sets NO_COLOR
        app.action_toggle_dark()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.theme == "textual-dark"
    assert 'theme = "textual-dark"' in (tmp_path / "preferences.toml").read_text()


async def test_countdown_comes_from_the_clock(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    now = [NOW]
    app.clock = lambda: now[0]
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        app.dashboard.now = app.clock
        now[0] = NOW + 40
        app.dashboard.render_snapshot()
        key = "openrouter/deepseek/deepseek-r1:free"
        assert cell(app, key, "status") == "rate limited 2s"


async def test_first_measured_row_skips_the_throttle(tmp_path: Path) -> None:
    blank = snapshot(rows=tuple(replace(r, ttft_ms=None, outcome=None) for r in rows()))
    source = ManualSource(blank)
    app = make_app(tmp_path, source=source)
    app.refresh_s = 10.0
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        source.push(snapshot())
        await pilot.pause()
        assert cell(app, "cerebras/zai-glm-4.7", "ttft") == "142 ms"
        assert cell(app, "cerebras/zai-glm-4.7", "status") == "UP"
        assert rows()[0].outcome is Outcome.OK


async def test_a_shows_only_models_whose_tool_calls_work(tmp_path: Path) -> None:
    tested = tuple(
        replace(row, tool_calls=row.model == "llama-3.3-70b-versatile")
        if row.provider == "groq"
        else row
        for row in rows()
    )
    app = make_app(tmp_path, source=ManualSource(snapshot(rows=tested)))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("a")
        assert order(app) == ("groq/llama-3.3-70b-versatile",)
        await pilot.press("a")
        assert len(order(app)) == len(rows())
        await app.workers.wait_for_complete()
    saved = tomllib.loads((tmp_path / "preferences.toml").read_text())
    assert saved["only_tools"] is False


async def test_l_writes_then_offers_the_tool_when_the_terminal_cannot_be_handed_over(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool_bin = tmp_path / "bin"
    tool_bin.mkdir()
    fake = tool_bin / "opencode"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool_bin}:{os.environ['PATH']}")
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        await pilot.press("j", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("l")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, UseScreen)
        messages = [n.message for n in app._notifications]
    config = isolated_home / "xdg_config_home" / "opencode" / "opencode.json"
    assert "llama-3.3-70b-versatile" in config.read_text()
    # The headless test driver cannot suspend: the user is told the exact command instead.
    assert any(
        str(fake) in m and "-m freemodels-groq/llama-3.3-70b-versatile" in m for m in messages
    )


def status_line(app: DashboardApp) -> str:
    return str(app.dashboard.query_one(StatusBar).content)


async def test_the_countdown_ticks_between_snapshots(tmp_path: Path) -> None:
    """The tick redraws a pause's countdown from the clock, and once more after it ends."""
    app = make_app(tmp_path)
    now = [NOW]
    app.clock = lambda: now[0]
    app.tick_s = 0.05
    key = "openrouter/deepseek/deepseek-r1:free"
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert cell(app, key, "status") == "rate limited 42s"
        applied = app.updates
        now[0] = NOW + 40
        await async_wait_until(
            lambda: cell(app, key, "status") == "rate limited 2s", what="the countdown to tick"
        )
        assert "openrouter 2s" in status_line(app)
        now[0] = NOW + 42.01  # just past the pause: the last tick clears it
        await async_wait_until(
            lambda: cell(app, key, "status") == "rate limited", what="the countdown to clear"
        )
        assert "paused" not in status_line(app)
        assert app.updates == applied, "no new Snapshot: the tick alone redrew"


async def test_the_status_line_says_when_the_dashboard_is_a_guest(tmp_path: Path) -> None:
    source = ManualSource(snapshot(attached=True))
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        assert "attached to a running monitor" in status_line(app)
        source.push(snapshot(attached=False))  # the owner died: this monitor took over
        await async_wait_until(
            lambda: "attached" not in status_line(app), what="it shows the takeover"
        )


async def test_a_monitor_crash_is_shown_and_the_dashboard_stays_up(tmp_path: Path) -> None:
    """The monitor thread's error reaches the screen as the CLI wires it, never a traceback."""

    def exploding(tls: bool) -> httpx.AsyncBaseTransport:
        raise RuntimeError("the transport exploded")

    cat = catalog()
    monitor = Monitor(cat, KeyRing(env={}), tmp_path / "h.sqlite3", transport_factory=exploding)
    services = Services(cat, KeyRing(env={}), tmp_path / "h.sqlite3", None)
    app = DashboardApp(monitor, cat, services, clock=lambda: NOW, tick_s=None)
    thread = MonitorThread(monitor)
    thread.on_error = lambda text: app.post_message(MonitorFailed(text))
    async with app.run_test(size=WIDE):
        thread.start()
        await async_wait_until(lambda: bool(app._notifications), what="the failure is shown")
        shown = list(app._notifications)
        assert shown[0].title == "Monitor stopped" and shown[0].severity == "error"
        assert shown[0].message == "RuntimeError: the transport exploded"
        assert app.is_running
    thread.join(10)
    assert isinstance(thread.error, RuntimeError)
