"""An hour-of-day × weekday heatmap of TTFT p50 in local time; blank where nothing was measured."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Static

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Fast to slow: the cell's colour says where it falls between the map's fastest and slowest.
SHADES = ("#1a9850", "#66bd63", "#a6d96a", "#fee08b", "#fdae61", "#f46d43", "#d73027")


def shade(value: float, low: float, high: float) -> str:
    """The colour of a cell between the map's fastest (`low`) and slowest (`high`) p50."""
    if high <= low:
        return SHADES[0]
    position = (value - low) / (high - low)
    return SHADES[min(len(SHADES) - 1, int(position * len(SHADES)))]


def heatmap_text(cells: Mapping[tuple[int, int], float]) -> Text:
    """Seven rows (Monday first) of 24 two-character cells; blank cells had no ok sample."""
    text = Text("     ")
    for hour in range(0, 24, 3):
        text.append(f"{hour:02d}    ", style="dim")
    text.append("\n")
    if not cells:
        return text.append("no hour measured yet", style="dim")
    low, high = min(cells.values()), max(cells.values())
    for day, name in enumerate(DAYS):
        text.append(f"{name}  ", style="dim")
        for hour in range(24):
            value = cells.get((day, hour))
            if value is None:
                text.append("  ")
            else:
                text.append("██", style=shade(value, low, high))
        text.append("\n")
    text.append("     fastest ")
    for colour in SHADES:
        text.append("█", style=colour)
    text.append(f" slowest   {low:,.0f} – {high:,.0f} ms")
    return text


class HourHeatmap(Static):
    """The provider's week of hours, coloured by TTFT p50."""

    def show(self, cells: Mapping[tuple[int, int], float]) -> None:
        """Draw the map."""
        self.update(heatmap_text(cells))
