"""The detail pane: everything known about the model under the cursor."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from freemodels.core.keys.lookup import KeyStatus
from freemodels.core.monitor.rhythm import hours_label
from freemodels.core.monitor.stats import WINDOWS, ModelInfo, model_stats
from freemodels.core.records import Outcome, Snapshot
from freemodels.ui import format as fmt
from freemodels.ui.reasons import rank_reason
from freemodels.ui.view import RowView

MIN_TREND = 2  # samples a sparkline needs
SPARK_SAMPLES = 60  # the newest ones shown


class DetailPane(Vertical):
    """TTFT sparkline, percentiles, availability per window, budget, base URL, key source."""

    _title_lines = -1

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        yield Sparkline([], id="detail-spark")
        yield Static(id="detail-body")

    def show(
        self,
        row: RowView | None,
        snapshot: Snapshot,
        keys: Mapping[str, KeyStatus],
        env: Mapping[str, str],
    ) -> None:
        """Describe `row` (None: nothing selected)."""
        title = self.query_one("#detail-title", Static)
        body = self.query_one("#detail-body", Static)
        spark = self.query_one("#detail-spark", Sparkline)
        if row is None:
            self._put(title, body, Text("no model selected", style="dim"), Text(""))
            spark.data = []
            return
        stats = row.stats
        samples = snapshot.samples.get(stats.ref, ())
        ttfts = [s.ttft_ms for s in samples if s.outcome is Outcome.OK and s.ttft_ms is not None]
        # One value would fill the whole strip (a flat max): show a trend from two samples on,
        # one column per sample until they fill the pane (stretched, 2 samples look like 2 bars).
        data = ttfts[-SPARK_SAMPLES:] if len(ttfts) >= MIN_TREND else []
        spark.data = data
        spark.styles.width = len(data) if 0 < len(data) < self.content_size.width else "1fr"
        heading = Text.assemble((stats.name, "bold"), "\n", (row.key, "dim"))
        five = model_stats(
            ModelInfo(stats.provider, stats.model, stats.name), samples, snapshot.at, WINDOWS["5m"]
        )
        window = _window_label(snapshot.window_s)
        lines = [
            f"#{row.rank}: {rank_reason(stats)}",
            f"TTFT   now {fmt.ms(stats.ttft_ms)}  ({fmt.count(len(ttfts), 'ok sample')})",
            f"p50 {fmt.ms(stats.ttft_p50_ms)}  p95 {fmt.ms(stats.ttft_p95_ms)}",
            f"jitter {fmt.ms(stats.jitter_ms)}  stability "
            + ("-" if stats.stability is None else str(stats.stability)),
            f"availability 5m {fmt.percent(five.availability)}  "
            f"{window} {fmt.percent(stats.availability)}",
            f"samples {stats.samples}, ok {stats.ok}  health {stats.health.value}",
        ]
        if stats.tokens_per_s is not None:
            lines.append(f"decode {stats.tokens_per_s:.0f} tok/s")
        if stats.tool_calls is not None:
            lines.append(f"tool calls {'work' if stats.tool_calls else 'fail'}")
        provider = row.provider
        if provider is not None:
            lines.append(f"budget left {fmt.budget_left(snapshot.budgets.get(provider.budget_id))}")
            lines.append(f"base URL {provider.resolve_base_url(env) or provider.base_url}")
            status = keys.get(provider.id)
            if status is not None and status.configured:
                lines.append(f"key {status.masked} ({status.source})")
            elif not provider.key_required:
                lines.append("key not needed")
            else:
                lines.append(f"no key: get one at {provider.signup_url}")
            lines.append(fmt.free_kind(provider.free, provider.verified))
        if row.rhythm is not None and row.rhythm.fastest:
            lines.append(f"usually fastest at {hours_label(row.rhythm.fastest)} (local)")
        if row.model is not None:
            context, score = fmt.context(row.model.context), fmt.swe(row.model.swe_bench)
            lines.append(f"context {context}  SWE-bench {score}")
        text = Text("\n".join(lines))
        if stats.error:
            text.append("\nlast error ", style="bold")
            text.append(stats.error, style="red")
        self._put(title, body, heading, text)

    def _put(self, title: Static, body: Static, heading: Text, text: Text) -> None:
        # A new layout of the whole screen costs more than the rest of an update together: only
        # ask for one when the title takes a different number of lines than before (the body
        # fills the rest of the pane whatever its text: #detail-body in dashboard.tcss).
        width = max(1, self.size.width)
        height = _height(heading, width)
        layout = height != self._title_lines
        self._title_lines = height
        title.update(heading, layout=layout)
        body.update(text, layout=False)


def _height(text: Text, width: int) -> int:
    """Lines `text` takes when wrapped at `width` columns."""
    return sum(max(1, -(-len(line) // width)) for line in text.plain.split("\n"))


def _window_label(seconds: float) -> str:
    for label, value in WINDOWS.items():
        if value == seconds:
            return label
    return f"{seconds / 60:.0f}m"
