"""The live ranking: a Line API table that redraws only the lines whose content or place changed.

Textual's DataTable redrew every visible row whenever a cell changed or the rows re-ordered,
which at 250 rows and 1 Hz cost more than the dashboard's whole budget. This table keeps one
cached Strip per row, keyed by the row's cell tuple (the same object while the row is
unchanged) and whether the cursor is on it, and after an update refreshes only the screen lines
whose row, content or cursor state differ from what they showed.

Rows are keyed "provider/model", so the cursor follows a model (not a position) when ranks
change once the user has moved it; until then it stays on the top row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from freemodels.ui.columns import CELL_PADDING, COLUMNS, Column
from freemodels.ui.view import Cells
from freemodels.ui.widgets.strips import Palette, header_strip, row_strip

_COLUMN_INDEX = {column.key: index for index, column in enumerate(COLUMNS)}
HEADER_HEIGHT = 1


class RankingTable(ScrollView, can_focus=True):
    """The ranked models, one line each, under a header that sorts when clicked."""

    ALLOW_SELECT = False

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("home,ctrl+home", "first", "First", show=False),
        Binding("end,ctrl+end", "last", "Last", show=False),
        Binding("enter", "select_cursor", "Use"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"ranking--header", "ranking--cursor"}

    # The colours DataTable used, so the dashboard looks as it did (and follows the theme).
    DEFAULT_CSS = """
    RankingTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .ranking--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .ranking--header {
                background-tint: $foreground 5%;
            }
        }
        & > .ranking--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .ranking--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .ranking--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    @dataclass
    class _TableMessage(Message):
        table: RankingTable

        @property
        def control(self) -> RankingTable:
            """The table (for `@on(..., "#id")` selectors)."""
            return self.table

    @dataclass
    class _RowMessage(_TableMessage):
        cursor_row: int
        row_key: str

    class RowHighlighted(_RowMessage):
        """The user moved the cursor onto another model."""

    class RowSelected(_RowMessage):
        """Enter, or a click on the row under the cursor: act on that model."""

    @dataclass
    class HeaderSelected(_TableMessage):
        """A column header was clicked."""

        column_key: str
        column_index: int

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._columns: tuple[Column, ...] = ()
        self._picks: tuple[int, ...] = ()  # each shown column's index in COLUMNS
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._texts: Mapping[str, Cells] = {}
        self._strips: dict[str, tuple[Cells, bool, Strip]] = {}
        self._header: Strip | None = None
        self._palette: Palette | None = None
        self._palette_key: tuple[object, ...] = ()
        self._width = 0
        self.cursor_row = 0
        """The cursor's line among the rows (0: the top row)."""
        self.touched = False
        """Whether the user moved the cursor: until then it stays on the top row."""
        self.cell_updates = 0
        """Cells whose text or style changed since start (benchmarks and tests read it)."""
        self.lines_refreshed = 0
        """Screen lines marked for redrawing by updates (benchmarks read it)."""

    # -- what is shown -------------------------------------------------------------------------

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns shown, left to right, at their shown widths."""
        return self._columns

    @property
    def order(self) -> tuple[str, ...]:
        """The row keys as shown, top to bottom."""
        return tuple(self._order)

    @property
    def row_count(self) -> int:
        """How many rows the table holds (shown or scrolled away)."""
        return len(self._order)

    @property
    def selected_key(self) -> str | None:
        """The "provider/model" under the cursor, if any."""
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def get_cell(self, key: str, column: str) -> Text:
        """One cell as shown: its text and style."""
        text, style = self._texts[key][_COLUMN_INDEX[column]]
        return Text(text, style=style)

    def show(
        self, keys: Sequence[str], texts: Mapping[str, Cells], columns: tuple[Column, ...]
    ) -> None:
        """Show rows `keys` (top to bottom) with their `texts`; redraw only what changed."""
        old_order, old_texts, old_cursor = self._order, self._texts, self.cursor_row
        selected = self.selected_key
        rebuild = columns != self._columns
        if rebuild:
            self._columns = columns
            self._picks = tuple(_COLUMN_INDEX[c.key] for c in columns)
            self._strips.clear()
            self._header = None
        self._count_changes(keys, texts, old_texts)
        self._order = list(keys)
        self._index = {key: index for index, key in enumerate(self._order)}
        self._texts = texts
        if not self.touched or selected is None:
            cursor = 0 if not self.touched else min(old_cursor, len(keys) - 1)
        else:
            cursor = self._index.get(selected, min(old_cursor, len(keys) - 1))
        self.cursor_row = max(0, cursor)
        width = sum(c.width + 2 * CELL_PADDING for c in columns)
        self.virtual_size = Size(width, len(keys) + HEADER_HEIGHT)
        if rebuild:
            self.refresh()
        else:
            self._refresh_changed(old_order, old_texts, old_cursor)
        if self.cursor_row != old_cursor:
            # Only a cursor that moved pulls the view along; a user scrolling away stays put.
            self._scroll_to_cursor()
        if len(self._strips) > 2 * len(keys) + 64:
            self._strips = {k: v for k, v in self._strips.items() if k in self._index}

    def _count_changes(
        self, keys: Sequence[str], texts: Mapping[str, Cells], old_texts: Mapping[str, Cells]
    ) -> None:
        picks = self._picks
        for key in keys:
            old = old_texts.get(key)
            new = texts[key]
            if old is not None and old is not new and old != new:
                self.cell_updates += sum(1 for i in picks if old[i] != new[i])

    def _refresh_changed(
        self, old_order: list[str], old_texts: Mapping[str, Cells], old_cursor: int
    ) -> None:
        """Mark the visible lines whose row, content or cursor state changed."""
        top = int(self.scroll_y)
        height = max(0, self.scrollable_content_region.height - HEADER_HEIGHT)
        new_order, new_texts, cursor = self._order, self._texts, self.cursor_row
        dirty: list[int] = []
        for index in range(top, top + height):
            old_key = old_order[index] if index < len(old_order) else None
            new_key = new_order[index] if index < len(new_order) else None
            if old_key is None and new_key is None:
                break
            if (
                old_key != new_key
                or (index == old_cursor) != (index == cursor)
                or (new_key is not None and old_texts.get(new_key) is not new_texts[new_key])
            ):
                dirty.append(index - top + HEADER_HEIGHT)
        self.lines_refreshed += len(dirty)
        width = max(self.virtual_size.width, self.size.width)
        regions, start = [], None
        for position, y in enumerate(dirty):
            if start is None:
                start = y
            if position + 1 == len(dirty) or dirty[position + 1] != y + 1:
                regions.append(Region(0, start, width, y - start + 1))
                start = None
        if regions:
            self.refresh(*regions)

    # -- rendering -----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._palette_key = ()  # the theme or a pseudo class changed: compose styles again
        self.refresh()

    def _on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self._header = None

    def _current_palette(self) -> Palette:
        key = (self.has_focus, self.app.theme, self.app.no_color, self.size.width)
        if self._palette is None or key != self._palette_key:
            self._palette = Palette(
                base=self.rich_style,
                header=self.get_component_rich_style("ranking--header"),
                cursor=self.get_component_rich_style("ranking--cursor"),
                padding=CELL_PADDING,
            )
            self._palette_key = key
            self._strips.clear()
            self._header = None
        return self._palette

    def render_line(self, y: int) -> Strip:
        """Line `y` of the widget: the header, then the rows from the scroll position."""
        palette = self._current_palette()
        width = self.size.width
        scroll_x = int(self.scroll_x)
        if y < HEADER_HEIGHT:
            if self._header is None:
                self._header = header_strip(self._columns, width, palette)
            strip = self._header
        else:
            index = y - HEADER_HEIGHT + int(self.scroll_y)
            if index >= len(self._order):
                return Strip.blank(width, palette.base)
            strip = self._row(index, width, palette)
        if scroll_x or strip.cell_length != width:
            strip = strip.crop(scroll_x, scroll_x + width)
        return strip

    def _row(self, index: int, width: int, palette: Palette) -> Strip:
        key = self._order[index]
        texts = self._texts[key]
        cursor = index == self.cursor_row
        cached = self._strips.get(key)
        if cached is not None and cached[0] is texts and cached[1] == cursor:
            return cached[2]
        cells = [texts[i] for i in self._picks]
        strip = row_strip(cells, self._columns, width, palette, cursor)
        self._strips[key] = (texts, cursor, strip)
        return strip

    # -- the cursor ----------------------------------------------------------------------------

    def _move_to(self, index: int) -> None:
        """The user moves the cursor to row `index`; from then on it follows its model."""
        self.touched = True
        if not self._order:
            return
        index = max(0, min(index, len(self._order) - 1))
        old = self.cursor_row
        if index == old:
            return
        self.cursor_row = index
        self._refresh_rows(old, index)
        self._scroll_to_cursor()
        self.post_message(self.RowHighlighted(self, index, self._order[index]))

    def _refresh_rows(self, *indexes: int) -> None:
        top = int(self.scroll_y)
        width = max(self.virtual_size.width, self.size.width)
        self.refresh(*(Region(0, i - top + HEADER_HEIGHT, width, 1) for i in indexes))

    def _scroll_to_cursor(self) -> None:
        height = self.scrollable_content_region.height - HEADER_HEIGHT
        if height <= 0:
            return
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, force=True)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False, force=True)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - HEADER_HEIGHT - 1)

    def action_cursor_down(self) -> None:
        """Next row."""
        self._move_to(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        """Previous row."""
        self._move_to(self.cursor_row - 1)

    def action_page_down(self) -> None:
        """One screenful down."""
        self._move_to(self.cursor_row + self._page())

    def action_page_up(self) -> None:
        """One screenful up."""
        self._move_to(self.cursor_row - self._page())

    def action_first(self) -> None:
        """The top row."""
        self._move_to(0)

    def action_last(self) -> None:
        """The bottom row."""
        self._move_to(len(self._order) - 1)

    def action_select_cursor(self) -> None:
        """Act on the model under the cursor."""
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, self.cursor_row, key))

    def on_click(self, event: events.Click) -> None:
        """A header click sorts by that column; a row click moves the cursor or selects."""
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y < HEADER_HEIGHT:
            x = offset.x + int(self.scroll_x)
            for index, column in enumerate(self._columns):
                x -= column.width + 2 * CELL_PADDING
                if x < 0:
                    self.post_message(self.HeaderSelected(self, column.key, index))
                    break
            return
        index = offset.y - HEADER_HEIGHT + int(self.scroll_y)
        if index >= len(self._order):
            return
        event.stop()
        if index == self.cursor_row:
            self.touched = True
            self.action_select_cursor()
        else:
            self._move_to(index)
