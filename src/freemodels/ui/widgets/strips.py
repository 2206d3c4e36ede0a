"""Table lines as Strips: pure functions from cell texts and styles to segments.

The ranking table renders through Textual's Line API; these functions build one line of it.
They mirror how Textual's DataTable laid a cell out (padding in the row style, the text in the
row style plus its own, the cursor's colour on top), so the dashboard looks the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from freemodels.ui.columns import Column
from freemodels.ui.view import Cell

_ELLIPSIS = "…"


def fit(text: str, width: int, right: bool) -> str:
    """`text` cut with an ellipsis or padded to exactly `width` cells, left or right aligned."""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, max(0, width - 1)) + _ELLIPSIS if width else ""
    pad = " " * (width - length)
    return pad + text if right else text + pad


@dataclass(slots=True)
class Palette:
    """The styles one render pass needs, composed once and reused for every line."""

    base: Style
    header: Style
    cursor: Style
    padding: int
    _cell_styles: dict[tuple[str, bool], Style] = field(default_factory=dict)

    def cell(self, name: str, cursor: bool) -> Style:
        """A cell's text style: the row's, then the cell's own, then the cursor's colour."""
        key = (name, cursor)
        style = self._cell_styles.get(key)
        if style is None:
            own = Style.parse(name) if name else Style()
            if cursor:
                style = self.base + self.cursor + own + Style.from_color(self.cursor.color)
            else:
                style = self.base + own
            self._cell_styles[key] = style
        return style

    def row(self, cursor: bool) -> Style:
        """The style of a row's padding and of the space after its last column."""
        if not cursor:
            return self.base
        return self.cell("", True)


def row_strip(
    cells: Sequence[Cell], columns: Sequence[Column], width: int, palette: Palette, cursor: bool
) -> Strip:
    """One model's line, padded with the row style to at least `width` cells."""
    pad_style = palette.row(cursor)
    pad = " " * palette.padding
    segments: list[Segment] = []
    # Text in the row's own style joins the padding around it in one segment as it is built
    # (cheaper than simplifying afterwards); a cell without a style of its own gets that very
    # Style object from the palette.
    run: list[str] = []
    used = 0
    for (text, name), column in zip(cells, columns, strict=True):
        style = palette.cell(name, cursor)
        fitted = fit(text, column.width, column.right)
        if style is pad_style:
            run += (pad, fitted, pad)
        else:
            run.append(pad)
            if joined := "".join(run):
                segments.append(Segment(joined, pad_style))
            segments.append(Segment(fitted, style))
            run = [pad]
        used += column.width + 2 * palette.padding
    if used < width:
        run.append(" " * (width - used))
    if joined := "".join(run):
        segments.append(Segment(joined, pad_style))
    return Strip(segments, max(used, width))


def header_strip(columns: Sequence[Column], width: int, palette: Palette) -> Strip:
    """The column labels, in the header style, padded to at least `width` cells."""
    pad = " " * palette.padding
    parts = [f"{pad}{fit(c.label, c.width, c.right)}{pad}" for c in columns]
    line = "".join(parts)
    used = cell_len(line)
    if used < width:
        line += " " * (width - used)
    return Strip([Segment(line, palette.header)], max(used, width))
