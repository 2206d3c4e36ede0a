"""A TTFT p50/p95 line plot over time, drawn by plotext (textual-plotext), outages marked.

Imported only by the history screen, itself loaded when `h` is first pressed: plotext's import
stays out of the dashboard's launch path.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from freemodels.core.monitor.rhythm import Bucket

# RGB, not plotext's colour names: those follow the terminal's palette (its "yellow" can be violet).
OUTAGE = (215, 48, 39)
PAUSED = (230, 190, 0)
P50 = (0, 190, 220)
P95 = (255, 140, 0)


def segments(buckets: Sequence[Bucket]) -> list[list[Bucket]]:
    """Runs of adjacent buckets with a p50: a gap (no data) breaks the line, never drops to 0."""
    runs: list[list[Bucket]] = []
    previous: Bucket | None = None
    for b in buckets:
        if b.ttft_p50_ms is None:
            previous = None
            continue
        if previous is None or b.start - previous.start > b.span_s * 1.5:
            runs.append([])
        runs[-1].append(b)
        previous = b
    return runs


class TtftPlot(PlotextPlot):
    """p50 and p95 against time before now; red lines: outages, yellow: 429 pauses."""

    def __init__(
        self, title: str, unit_s: float, unit: str, span: float, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._span = span  # in units: 24 (hours), 7 (days)
        self._title = title
        self._unit_s = unit_s
        self._unit = unit
        self.points = 0
        """Points drawn (tests read it)."""
        self.builds = 0
        """How many times plotext built the plot (tests read it)."""
        self._generation = 0
        self._loaded = False
        self._cached: tuple[tuple[object, ...], RenderResult] | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.plt.title(f"{self._title}: loading…")

    def render(self) -> RenderResult:
        """The plot, built again only when its data, size or theme changed: plotext takes
        ~30 ms a build, and Textual renders a widget on every layout and style pass."""
        key = (self._generation, self.size.width, self.size.height, self.app.theme)
        if self._cached is None or self._cached[0] != key:
            if not self._loaded:
                # No plotext build for the placeholder: the data arrives within a moment.
                return Text(f"{self._title}: loading…", style="dim")
            self._cached = (key, super().render())
            self.builds += 1
        return self._cached[1]

    def show(self, buckets: Sequence[Bucket], now: float) -> None:
        """Plot these buckets (hours with no data left blank)."""
        plt = self.plt
        self._generation += 1
        self._loaded = True
        plt.clear_data()
        plt.clear_figure()
        runs = segments(buckets)
        self.points = sum(len(run) for run in runs)
        if not runs:
            plt.title(f"{self._title}: no samples yet")
            self.refresh()
            return
        plt.title(f"{self._title} (ms)")
        plt.xlabel(f"{self._unit} ago")
        for index, run in enumerate(runs):
            xs = [self._x(b, now) for b in run]
            p95 = [b.ttft_p95_ms or b.ttft_p50_ms or 0.0 for b in run]
            p50 = [b.ttft_p50_ms or 0.0 for b in run]
            first = index == 0
            plt.plot(xs, p95, marker="braille", color=P95, label="p95" if first else None)
            plt.plot(xs, p50, marker="braille", color=P50, label="p50" if first else None)
        for b in buckets:
            if b.outage:
                plt.vertical_line(self._x(b, now), color=OUTAGE)
            elif b.rate_limited:
                plt.vertical_line(self._x(b, now), color=PAUSED)
        # The whole span, however little of it has data: a gap reads as a gap, not zoomed away.
        plt.xlim(-self._span, 0)
        self.refresh()

    def _x(self, bucket: Bucket, now: float) -> float:
        return (bucket.start + bucket.span_s / 2 - now) / self._unit_s
