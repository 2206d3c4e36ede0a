"""The Line API ranking table: what it redraws, how its cursor moves, and the cell cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from canned import catalog, make_app, rows, snapshot
from textual.geometry import Offset

from freemodels.core.records import ModelStats
from freemodels.ui.preferences import Preferences
from freemodels.ui.screens.use import UseScreen
from freemodels.ui.source import ManualSource
from freemodels.ui.view import COLUMNS, CellCache, build_rows

WIDE = (160, 48)
SHORT = (160, 16)  # room for a dozen rows: the long ranking scrolls


def many_rows(count: int = 60) -> tuple[ModelStats, ...]:
    """`count` measured models (of a provider the catalog does not know), fastest first."""
    base = rows()[0]
    return tuple(
        replace(base, provider="bulk", model=f"m{i:02d}", name=f"Bulk {i:02d}", ttft_ms=100.0 + i)
        for i in range(count)
    )


async def test_an_unchanged_update_redraws_nothing_and_a_change_redraws_its_line(
    tmp_path: Path,
) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        before = table.lines_refreshed
        source.push(snapshot())
        await pilot.pause()
        assert table.lines_refreshed == before
        changed = list(rows())
        changed[1] = replace(changed[1], ttft_ms=190.0, samples=7)
        source.push(snapshot(rows=tuple(changed)))
        await pilot.pause()
        assert table.lines_refreshed == before + 1


async def test_two_models_swapping_places_redraw_two_lines(tmp_path: Path) -> None:
    source = ManualSource(snapshot())
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        before = table.lines_refreshed
        swapped = list(rows())
        swapped[1], swapped[2] = swapped[2], swapped[1]
        source.push(snapshot(rows=tuple(swapped)))
        await pilot.pause()
        assert table.lines_refreshed == before + 2
        assert table.order[1] == "groq/openai/gpt-oss-120b"
        assert str(table.get_cell("groq/openai/gpt-oss-120b", "rank")) == "2"


async def test_end_home_and_page_keys_move_the_cursor_and_scroll(tmp_path: Path) -> None:
    source = ManualSource(snapshot(rows=many_rows()))
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=SHORT) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        await pilot.press("end")
        assert table.selected_key == "bulk/m59"
        assert table.scroll_y > 0
        await pilot.press("home")
        assert table.selected_key == "bulk/m00"
        assert table.scroll_y == 0
        await pilot.press("pagedown")
        page = table.cursor_row
        assert page > 1
        await pilot.press("pagedown", "pageup")
        assert table.cursor_row == page


async def test_clicking_a_row_moves_the_cursor_and_a_second_click_uses_it(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        await pilot.click("#ranking", offset=Offset(10, 3))  # line 0 is the header
        assert table.selected_key == "groq/openai/gpt-oss-120b"
        assert "GPT OSS 120B" in str(app.dashboard.query_one("#detail-title").render())
        await pilot.click("#ranking", offset=Offset(10, 3))
        await pilot.pause()
        assert isinstance(app.screen, UseScreen)


async def test_a_view_scrolled_away_stays_while_updates_arrive(tmp_path: Path) -> None:
    source = ManualSource(snapshot(rows=many_rows()))
    app = make_app(tmp_path, source=source)
    async with app.run_test(size=SHORT) as pilot:
        await pilot.pause()
        table = app.dashboard.table
        table.scroll_to(y=20, animate=False)
        await pilot.pause()
        faster = (replace(many_rows()[5], ttft_ms=50.0), *many_rows()[:5], *many_rows()[6:])
        source.push(snapshot(rows=faster))
        await pilot.pause()
        assert table.scroll_y == 20
        assert table.selected_key == "bulk/m05"  # the untouched cursor stays on the top row


def test_the_cell_cache_formats_only_rows_whose_shown_values_changed() -> None:
    cache, prefs = CellCache(), Preferences()
    first = snapshot()
    texts = cache.texts(build_rows(first, catalog(), prefs, None), first, first.at)
    key = "groq/llama-3.3-70b-versatile"
    ttft = next(i for i, c in enumerate(COLUMNS) if c.key == "ttft")
    # New sample counts and timestamps, same values shown: the very same tuple comes back.
    busier = [replace(r, samples=r.samples + 1, last_ok_at=first.at) for r in rows()]
    again = snapshot(rows=tuple(busier))
    same = cache.texts(build_rows(again, catalog(), prefs, None), again, again.at)
    assert same[key] is texts[key]
    # A shown value changed: that row is formatted again, the others are reused.
    busier[1] = replace(busier[1], ttft_ms=190.0)
    moved = snapshot(rows=tuple(busier))
    new = cache.texts(build_rows(moved, catalog(), prefs, None), moved, moved.at)
    assert new[key][ttft] == ("190 ms", "")
    assert new["cerebras/zai-glm-4.7"] is texts["cerebras/zai-glm-4.7"]
    # Only the rank moved: the rank cell changes, every other cell is the one shown before.
    swapped = list(busier)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    reranked = snapshot(rows=tuple(swapped))
    last = cache.texts(build_rows(reranked, catalog(), prefs, None), reranked, reranked.at)
    assert last[key][0] == ("1", "")
    assert last[key][1:] == new[key][1:]
