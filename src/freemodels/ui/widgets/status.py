"""The status line under the title: models up, paused providers, requests vs budget, the tool."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from freemodels.core.records import Health, Outcome, Snapshot
from freemodels.ui import format as fmt
from freemodels.ui.columns import sort_arrow
from freemodels.ui.preferences import Preferences

_SEPARATOR = " · "


def status_text(
    snapshot: Snapshot, prefs: Preferences, now: float, *, demo: bool, width: int | None = None
) -> Text:
    """`9/13 up · paused: groq 42s · 120/1200 requests this minute · tool opencode · …`.

    Parts are dropped, least useful first, until the line fits `width`: the count, the sort,
    the target tool and DEMO stay longest.
    """
    parts = _parts(snapshot, prefs, now, demo=demo)
    if width is not None:
        while len(parts) > 1 and _length(parts) > width:
            drop = max(range(len(parts)), key=lambda i: (parts[i][0], i))
            del parts[drop]
    text = Text()
    for index, (_, part) in enumerate(parts):
        if index:
            text.append(_SEPARATOR)
        text.append_text(part)
    return text


def up_count(snapshot: Snapshot) -> int:
    """Models whose Status column reads UP: the latest probe ok and the health not DOWN."""
    return sum(
        1 for row in snapshot.rows if row.outcome is Outcome.OK and row.health is not Health.DOWN
    )


def _length(parts: list[tuple[int, Text]]) -> int:
    return sum(part.cell_len for _, part in parts) + len(_SEPARATOR) * (len(parts) - 1)


def _parts(
    snapshot: Snapshot, prefs: Preferences, now: float, *, demo: bool
) -> list[tuple[int, Text]]:
    """(priority, text) of each part, in display order; a larger priority is dropped first."""
    up = up_count(snapshot)
    parts = [(0, Text(f"{up}/{len(snapshot.rows)} up", style="bold green" if up else "bold red"))]
    paused = sorted(
        (b.budget, b.paused_until - now)
        for b in snapshot.budgets.values()
        if b.paused_until is not None and b.paused_until > now
    )
    if paused:
        countdowns = ", ".join(f"{b} {fmt.countdown(s)}" for b, s in paused)
        parts.append((4, Text.assemble("paused: ", (countdowns, "yellow"))))
    used = sum(b.used_minute for b in snapshot.budgets.values())
    capped = [b.rpm for b in snapshot.budgets.values() if b.rpm is not None]
    cap = f"/{sum(capped)}" if capped and len(capped) == len(snapshot.budgets) else ""
    parts.append((5, Text(f"{used}{cap} requests this minute")))
    parts.append((2, Text.assemble("tool ", (prefs.tool, "bold"))))
    parts.append((1, Text(f"sort {prefs.sort} {sort_arrow(prefs.sort, prefs.reverse)}")))
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
        parts.append((3, Text.assemble("filter ", (" ".join(filters), "bold"))))
    if snapshot.attached:
        parts.append((6, Text("attached to a running monitor", style="dim")))
    if demo:
        parts.append((0, Text("DEMO", style="bold magenta")))
    return parts


class StatusBar(Static):
    """One line of fleet-wide state."""

    def show(self, text: Text) -> None:
        """Show the line `status_text` made."""
        # One line, always: no need to lay the screen out again.
        self.update(text, layout=False)
