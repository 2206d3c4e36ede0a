"""The live ranking: a DataTable that diffs each update, so only changed cells are redrawn.

Rows are keyed "provider/model", so the cursor follows a model (not a position) when ranks
change. A new Snapshot touches only the cells whose text or style changed; rows are re-ordered
only when the order itself changed; columns are rebuilt only when the terminal width asks for a
different set.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from freemodels.core.records import Snapshot
from freemodels.ui.view import CELL_PADDING, Cell, Column, RowView, cells


class RankingTable(DataTable[Text]):
    """The ranked models, one row each."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("enter", "select_cursor", "Use"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            id=id, cursor_type="row", zebra_stripes=False, cell_padding=CELL_PADDING
        )
        self._columns_shown: tuple[Column, ...] = ()
        self._cells: dict[str, dict[str, Cell]] = {}
        self._anchors: dict[str, Text] = {}  # each row's model cell object: its sort handle
        self._order: list[str] = []
        self.touched = False
        """Whether the user moved the cursor: until then it stays on the top row."""
        self.cell_updates = 0
        """Cells rewritten since start (benchmarks and tests read it)."""

    @property
    def selected_key(self) -> str | None:
        """The "provider/model" under the cursor, if any."""
        if not self._order or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        except RowDoesNotExist:
            return None
        return key

    @property
    def order(self) -> tuple[str, ...]:
        """The row keys as shown, top to bottom."""
        return tuple(self._order)

    def show(
        self, rows: list[RowView], snapshot: Snapshot, now: float, columns: tuple[Column, ...]
    ) -> None:
        """Bring the table to `rows`, touching only what changed; the cursor stays on its model."""
        selected = self.selected_key
        if columns != self._columns_shown:
            self._reset_columns(columns)
        wanted = {row.key: cells(row, snapshot, now) for row in rows}
        for key in [k for k in self._order if k not in wanted]:
            self.remove_row(key)
            del self._cells[key], self._anchors[key]
        current = set(self._cells)
        for key, new in wanted.items():
            if key in current:
                self._update_row(key, new)
            else:
                texts = [_text(new[c.key], c) for c in columns]
                self.add_row(*texts, key=key)
                self._cells[key] = new
                self._anchors[key] = texts[self._model_index()]
        order = [row.key for row in rows]
        if order != self._current_order(wanted):
            self._reorder(order)
        self._order = order
        if not self.touched:
            if self.cursor_row != 0 and self.row_count:
                self.move_cursor(row=0, animate=False)
        elif selected is not None and selected in wanted:
            index = order.index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)

    # The user moving the cursor: from then on it follows its model through re-rankings.

    def action_cursor_down(self) -> None:
        self.touched = True
        super().action_cursor_down()

    def action_cursor_up(self) -> None:
        self.touched = True
        super().action_cursor_up()

    def action_page_down(self) -> None:
        self.touched = True
        super().action_page_down()

    def action_page_up(self) -> None:
        self.touched = True
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.touched = True
        super().action_scroll_home()

    def action_scroll_end(self) -> None:
        self.touched = True
        super().action_scroll_end()

    def action_scroll_top(self) -> None:
        self.touched = True
        super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        self.touched = True
        super().action_scroll_bottom()

    def on_click(self) -> None:
        self.touched = True

    def _current_order(self, wanted: dict[str, dict[str, Cell]]) -> list[str]:
        # Rows just added sit at the bottom until sorted.
        kept = [k for k in self._order if k in wanted]
        return kept + [k for k in wanted if k not in set(kept)]

    def _update_row(self, key: str, new: dict[str, Cell]) -> None:
        old = self._cells[key]
        for column in self._columns_shown:
            value = new[column.key]
            if old.get(column.key) != value:
                text = _text(value, column)
                self.update_cell(key, column.key, text)
                self.cell_updates += 1
                if column.key == "model":
                    self._anchors[key] = text
        self._cells[key] = new

    def _reorder(self, order: list[str]) -> None:
        # DataTable.sort hands the key function only cell values; each row's model cell object
        # is unique to it, so its identity maps back to the row's wanted position.
        position = {id(self._anchors[key]): index for index, key in enumerate(order)}
        self.sort("model", key=lambda anchor: position[id(anchor)])

    def _model_index(self) -> int:
        return next(i for i, c in enumerate(self._columns_shown) if c.key == "model")

    def _reset_columns(self, columns: tuple[Column, ...]) -> None:
        self.clear(columns=True)
        self._cells.clear()
        self._anchors.clear()
        self._order = []
        self._columns_shown = columns
        for column in columns:
            label = Text(column.label, justify="right" if column.right else "left")
            self.add_column(label, width=column.width, key=column.key)


def _text(cell: Cell, column: Column) -> Text:
    text, style = cell
    return Text(text, style=style, justify="right" if column.right else "left", no_wrap=True,
                overflow="ellipsis")
