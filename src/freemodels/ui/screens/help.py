"""`?`: every keyboard shortcut of the dashboard, and what the columns and words mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# What each column and status word means, as the monitor computes it (docs/architecture.md).
LEGEND: tuple[tuple[str, str], ...] = (
    ("#", "rank: usable models first, proven ones (3 or more ok samples in the window) before "
     "the rest, then lower TTFT p50, then stability; the detail pane says why"),
    ("Tier", "coding strength from SWE-bench Verified: S+ (best), S, A+, A, A-, B+, B, C"),
    ("TTFT", "time to the first token of the latest probe"),
    ("p50 p95", "median and 95th percentile TTFT over the window's ok samples"),
    ("n", "ok samples in the window"),
    ("Avail", "ok / (ok + server-side failures); shown from 3 samples; 429s do not count"),
    ("Stab", "stability 0-100: steady TTFT, few spikes, high availability"),
    ("Status", "UP: the latest probe answered. DOWN: 3 server-side failures in a row. "
     "rate limited 42s: the provider said 429, paused until then. no key / auth failed: "
     "add or fix the key with p. gone: the provider no longer has the model (404). "
     "server error, timeout, unreachable, bad response, rejected: how the latest probe failed "
     "(the detail pane shows the error). waiting: not measured yet"),
    ("Ctx SWE", "context window; SWE-bench Verified score"),
    ("↑ ↓", "sort direction: ↑ smallest values first (fastest, rank 1, A to Z), ↓ largest "
     "first (most available, best tier); S reverses; unmeasured rows stay last"),
    ("6/13 up", "models whose Status is UP"),
    ("requests this minute", "requests sent to every provider in the last 60 s (probes, "
     "tests), of the sum of their per-minute limits"),
)  # fmt: skip


class HelpScreen(ModalScreen[None]):
    """The keyboard shortcuts and the legend; Escape, `?` or `q` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, description in self._keys:
            table.add_row(key, description)
        legend = Table.grid(padding=(0, 2))
        legend.add_column(style="bold", max_width=12)
        legend.add_column()
        for word, meaning in LEGEND:
            legend.add_row(word, meaning)
        with VerticalScroll(id="help-box"):
            yield Static(Text("freemodels: keyboard shortcuts", style="bold"), id="help-title")
            yield Static(table)
            yield Static(Text("What the columns mean", style="bold"), id="help-legend-title")
            yield Static(legend, id="help-legend")
            yield Static(Text("Escape closes this screen.", style="dim"))

    async def action_dismiss(self, result: None = None) -> None:
        """Close the help screen."""
        self.dismiss(result)
