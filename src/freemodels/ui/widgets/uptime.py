"""Availability per hour as a bar strip (the Uptime Kuma look), three days a line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

HOURS_PER_LINE = 72
BAR = "▌"


def bar_style(availability: float) -> str:
    """Green when every counted probe answered, yellow under 99 %, red under 90 %."""
    if availability >= 0.99:
        return "green"
    if availability >= 0.9:
        return "yellow"
    return "red"


def strip_text(strip: Sequence[float | None], now: float, tz: dt.tzinfo | None = None) -> Text:
    """One bar per hour, oldest first; a blank where nothing was measured (not a red bar)."""
    text = Text()
    hours = len(strip)
    last_hour = int(now // 3600) * 3600
    for offset in range(0, hours, HOURS_PER_LINE):
        start = last_hour - (hours - 1 - offset) * 3600
        label = dt.datetime.fromtimestamp(start, tz).strftime("%a %d %Hh")
        text.append(f"{label:>11} ", style="dim")
        # One span per run of bars of one colour, not one per hour: 720 spans made the strip
        # the costliest text of the history screen to draw.
        run, run_style = "", ""
        for value in strip[offset : offset + HOURS_PER_LINE]:
            char, style = (" ", "") if value is None else (BAR, bar_style(value))
            if style != run_style and run:
                text.append(run, style=run_style or None)
                run = ""
            run, run_style = run + char, style
        text.append(run, style=run_style or None)
        text.append("\n")
    measured = [v for v in strip if v is not None]
    if measured:
        text.append(f"{'':>11} ", style="dim")
        text.append(f"{len(measured)} hours measured, mean {sum(measured) / len(measured):.1%}")
    else:
        text.append("no hour measured yet", style="dim")
    return text


class UptimeStrip(Static):
    """The 30-day availability strip."""

    def show(self, strip: Sequence[float | None], now: float) -> None:
        """Draw the strip (oldest hour first)."""
        self.update(strip_text(strip, now))
