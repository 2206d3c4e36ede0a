"""The status line under the title: models up, paused providers, requests vs budget, the tool."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from freemodels.core.records import Snapshot
from freemodels.ui import format as fmt
from freemodels.ui.preferences import Preferences


def status_text(snapshot: Snapshot, prefs: Preferences, now: float, *, demo: bool) -> Text:
    """`9/13 up · paused: groq 42s · 120/1200 requests this minute · tool opencode · …`."""
    up = sum(1 for row in snapshot.rows if row.usable)
    text = Text()
    text.append(f"{up}/{len(snapshot.rows)} up", style="bold green" if up else "bold red")
    paused = sorted(
        (b.budget, b.paused_until - now)
        for b in snapshot.budgets.values()
        if b.paused_until is not None and b.paused_until > now
    )
    if paused:
        text.append(" · paused: ")
        text.append(", ".join(f"{b} {fmt.countdown(s)}" for b, s in paused), style="yellow")
    used = sum(b.used_minute for b in snapshot.budgets.values())
    capped = [b.rpm for b in snapshot.budgets.values() if b.rpm is not None]
    cap = f"/{sum(capped)}" if capped and len(capped) == len(snapshot.budgets) else ""
    text.append(f" · {used}{cap} requests this minute")
    text.append(" · tool ")
    text.append(prefs.tool, style="bold")
    arrow = "↑" if prefs.reverse else "↓"
    text.append(f" · sort {prefs.sort} {arrow}")
    filters = []
    if prefs.text:
        filters.append(f"'{prefs.text}'")
    if prefs.provider:
        filters.append(prefs.provider)
    if prefs.only_configured:
        filters.append("configured")
    if prefs.only_usable:
        filters.append("usable")
    if prefs.only_tools:
        filters.append("tool calls")
    if prefs.pin_favourites:
        filters.append("★ pinned")
    if filters:
        text.append(" · filter ")
        text.append(" ".join(filters), style="bold")
    if snapshot.attached:
        text.append(" · attached to a running monitor", style="dim")
    if demo:
        text.append(" · DEMO", style="bold magenta")
    return text


class StatusBar(Static):
    """One line of fleet-wide state."""

    def show(self, text: Text) -> None:
        """Show the line `status_text` made."""
        # One line, always: no need to lay the screen out again.
        self.update(text, layout=False)
