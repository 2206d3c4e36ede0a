"""`h`: one model's history: TTFT over 24 h and 7 days, 30 days of uptime, its provider's week.

The screen shows at once with placeholders while a thread worker reads the model's history
(started as the screen composes, so the read overlaps the first frame); everything it read is
drawn in one batch. The provider's heatmap, below the fold and the costliest read (four weeks of
every model of the provider), is read after that frame. This module imports plotext (through the
plot widget), so the dashboard imports it only when `h` is first pressed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from freemodels.core.monitor.rhythm import hours_label
from freemodels.core.records import ModelRef
from freemodels.core.store.insights import ModelHistory
from freemodels.ui.widgets.heatmap import HourHeatmap
from freemodels.ui.widgets.ttft_plot import TtftPlot
from freemodels.ui.widgets.uptime import UptimeStrip


@dataclass
class HistoryLoaded(Message):
    """A model's history was read from the database (posted from the loading thread)."""

    history: ModelHistory


@dataclass
class HeatmapLoaded(Message):
    """The provider's weekday × hour map was read (posted from its loading thread)."""

    cells: Mapping[tuple[int, int], float]


def summary(history: ModelHistory) -> Text:
    """The trend and the usual fastest hours, in words."""
    text = Text()
    found = history.rhythm.trend
    if found is None:
        text.append("trend: not enough data yet (needs hours measured both this week and last)")
    else:
        style = "red" if found.arrow == "▲" else "green" if found.arrow == "▼" else ""
        text.append(found.label, style=f"bold {style}".strip())
        text.append(
            f"  p50 {found.this_week_ms:,.0f} ms this week vs {found.last_week_ms:,.0f} ms "
            f"last week at the same {found.hours} hours"
        )
    text.append("\n")
    if history.rhythm.fastest:
        text.append(f"usually fastest at {hours_label(history.rhythm.fastest)} (local time)")
    else:
        text.append("usually fastest at: not enough hours measured yet", style="dim")
    return text


class HistoryScreen(ModalScreen[None]):
    """The history of one model; Escape closes it."""

    DEFAULT_CSS = """
    HistoryScreen {
        align: center middle;
        /* Opaque: under a translucent modal the dashboard is tinted again on every frame
           (~15-30 ms each at 160×48), and this screen covers nearly all of it anyway. */
        background: $background;
    }
    #history-box {
        width: 96%;
        height: 94%;
        padding: 0 2;
        border: round $primary;
        background: $surface;
        /* A scrollbar that appears would narrow the plots and make plotext build them again. */
        scrollbar-gutter: stable;
    }
    #history-box TtftPlot {
        height: 13;
        margin-top: 1;
    }
    #history-box .heading {
        margin-top: 1;
    }
    #history-title, #history-summary, #history-uptime, #history-heatmap, #history-help {
        height: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("h", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(
        self,
        ref: ModelRef,
        name: str,
        load: Callable[[], ModelHistory],
        load_heatmap: Callable[[], Mapping[tuple[int, int], float]],
    ) -> None:
        super().__init__()
        self.ref = ref
        self._model_name = name
        self._load = load
        self._load_heatmap = load_heatmap
        self.history: ModelHistory | None = None
        """The data shown, once loaded (tests and the benchmark read it)."""
        self.heatmap: Mapping[tuple[int, int], float] | None = None
        """The provider's heatmap, once loaded (read after the rest is drawn)."""

    def compose(self) -> ComposeResult:
        # The read starts before the widgets mount: it runs while they lay out and paint.
        self.load()
        with VerticalScroll(id="history-box"):
            yield Static(
                Text.assemble((self._model_name, "bold"), "  ", (str(self.ref), "dim")),
                id="history-title",
            )
            yield Static("loading the history…", id="history-summary")
            yield TtftPlot("TTFT, last 24 h", 3600.0, "hours", 24, id="history-day")
            yield TtftPlot("TTFT, last 7 days", 86400.0, "days", 7, id="history-week")
            yield Static(Text("Availability per hour, 30 days", style="bold"), classes="heading")
            yield UptimeStrip(Text("loading…", style="dim"), id="history-uptime")
            yield Static(
                Text(f"{self.ref.provider}: TTFT p50 by weekday and hour (local)", style="bold"),
                classes="heading",
            )
            yield HourHeatmap(Text("loading…", style="dim"), id="history-heatmap")
            yield Static(
                Text("red lines: outages, yellow: 429 pauses · Escape closes", style="dim"),
                id="history-help",
            )

    @work(thread=True, exit_on_error=False, group="history", exclusive=True)
    def load(self) -> None:
        """Read the history off the UI thread."""
        self.post_message(HistoryLoaded(self._load()))

    @work(thread=True, exit_on_error=False, group="history-heatmap", exclusive=True)
    def load_heatmap(self) -> None:
        """Read the provider's heatmap off the UI thread."""
        self.post_message(HeatmapLoaded(self._load_heatmap()))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        history = message.history
        # One batch: a single layout and frame for the four widgets that change.
        with self.app.batch_update():
            self.query_one("#history-summary", Static).update(summary(history))
            self.query_one("#history-day", TtftPlot).show(history.day, history.now)
            self.query_one("#history-week", TtftPlot).show(history.week, history.now)
            self.query_one(UptimeStrip).show(history.strip, history.now)
            self.history = history
            # The screen itself marked for layout now, not when its widgets next idle: else
            # the callback below could run before the frame that draws all this.
            self.refresh(repaint=False, layout=True)
        # Not while that frame is being drawn: both would share one interpreter lock.
        self.call_after_refresh(self.load_heatmap)

    def on_heatmap_loaded(self, message: HeatmapLoaded) -> None:
        self.heatmap = message.cells
        self.query_one(HourHeatmap).show(message.cells)

    async def action_dismiss(self, result: None = None) -> None:
        """Close the history screen."""
        self.dismiss(result)
