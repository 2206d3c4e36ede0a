"""The main screen: status line, first-run banner, live ranking, detail pane, filter, footer.

It renders whatever Snapshot the app hands it and turns keys into messages the app handles
(`freemodels.ui.messages`): preference changes (saved by the app in a worker), requests for the
snapshot source, or a modal screen. It never imports the app.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Input

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyStatus
from freemodels.core.records import ModelRef, ProbeKind, Snapshot
from freemodels.core.store.insights import ModelRhythm
from freemodels.ui.columns import COLUMNS, Column, content_widths, visible_columns
from freemodels.ui.messages import (
    HistoryRequested,
    KeysRequested,
    PreferencesChanged,
    ProbeRequested,
    UseRequested,
)
from freemodels.ui.preferences import SORTS, Preferences
from freemodels.ui.view import CellCache, Cells, RowView, build_rows, next_in_cycle
from freemodels.ui.widgets.banner import KeyBanner, banner_text
from freemodels.ui.widgets.detail import DetailPane
from freemodels.ui.widgets.footer import DashboardFooter
from freemodels.ui.widgets.ranking import RankingTable
from freemodels.ui.widgets.status import StatusBar, status_text

# At this width and above the detail pane sits beside the table; below it goes underneath, so
# at 120 columns the table has the whole width for its numbers.
WIDE = 140
DETAIL_WIDTH = 40
SCROLLBAR = 2
TALL = 36
STATUS_PADDING = 2  # the status line's padding, one cell each side


@dataclass(frozen=True, slots=True)
class Action:
    """One row of the key list: the help screen, the footer, the palette and the bindings."""

    shown: str
    """The key as the help screen writes it."""
    text: str
    """What it does (the help screen; the palette title is its part before " (")."""
    action: str = ""
    """The action it runs ("" for keys handled elsewhere: the table's cursor, the palette)."""
    keys: tuple[str, ...] = ()
    """The screen's bindings for it (Textual key names); the app binds `q` and `?` itself."""
    label: str = ""
    """Its name in the footer."""
    footer: bool = False
    """Whether the footer shows its first key."""
    priority: bool = False
    """Run before the focused widget sees the key."""


ACTIONS: tuple[Action, ...] = (
    Action("↑/↓ j/k", "move the cursor"),
    Action(
        "enter", "use the selected model in the target tool (shows the change; w, l launch)", "use"
    ),
    Action("t", "cycle the target tool", "cycle_tool", ("t",), "Tool", footer=True),
    Action(
        "s",
        "cycle the sort column (its header shows ↑ or ↓)",
        "cycle_sort",
        ("s",),
        "Sort",
        footer=True,
    ),
    Action("S", "reverse the sort", "reverse_sort", ("S",), "Reverse"),
    # Priority: the app runs it before taking the next key, so keys typed right after it
    # (a paste, a fast typist) reach the field instead of the table's bindings.
    Action(
        "/",
        "filter by text (Enter keeps it, Escape clears it)",
        "filter",
        ("slash",),
        "Filter",
        footer=True,
        priority=True,
    ),
    Action("o", "cycle the provider filter", "cycle_provider", ("o",), "Provider"),
    Action("c", "only providers with a key", "toggle_configured", ("c",), "Configured"),
    Action("u", "only usable models", "toggle_usable", ("u",), "Usable"),
    Action(
        "a",
        "only models whose tool calls work (agents need them)",
        "toggle_tools",
        ("a",),
        "Tool calls",
    ),
    Action("f", "favourite the selected model", "toggle_favourite", ("f",), "Fav", footer=True),
    Action("F", "pin favourites on top", "toggle_pin", ("F",), "Pin favs"),
    Action("x", "speed test the selected model (decode tok/s)", "speed_test", ("x",), "Speed test"),
    Action("T", "tool-call test the selected model", "tool_test", ("T",), "Tool test"),
    Action(
        "p / P",
        "provider keys: add, replace, remove, test",
        "keys",
        ("p", "P"),
        "Keys",
        footer=True,
    ),
    Action(
        "h",
        "history of the selected model: TTFT 24 h / 7 days, uptime, busy hours",
        "history",
        ("h",),
        "History",
    ),
    Action("r", "re-probe every model now (within budgets)", "reprobe", ("r",), "Re-probe"),
    Action("?", "this help", "help"),
    Action("ctrl+p", "command palette: every action by name"),
    Action("click", "a column header sorts by it (again: reverse)"),
    Action("Escape", "close any dialog"),
    Action("q", "quit", "quit"),
)


def _bindings(actions: tuple[Action, ...]) -> list[BindingType]:
    """The screen's bindings, derived from the key list (the footer shows each first key)."""
    return [
        Binding(key, a.action, a.label, show=a.footer and index == 0, priority=a.priority)
        for a in actions
        for index, key in enumerate(a.keys)
    ]


class DashboardScreen(Screen[None]):
    """The live ranking and everything around it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *_bindings(ACTIONS),
        # Not a row of the help: Escape closes whatever is open, here the filter.
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, catalog: Catalog, prefs: Preferences, *, demo: bool) -> None:
        super().__init__()
        self.catalog = catalog
        self.prefs = prefs
        self.demo = demo
        self.snapshot: Snapshot | None = None
        self.keys: Mapping[str, KeyStatus] = {}
        self.rhythms: Mapping[ModelRef, ModelRhythm] = {}
        self.rows: dict[str, RowView] = {}
        self.now: Callable[[], float] = lambda: 0.0
        self.env: Mapping[str, str] = {}
        self._cells = CellCache()
        self._status: Text | None = None
        self._banner: Text | None = None
        self._banner_unset = True

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield KeyBanner(id="banner")
        with Horizontal(id="body"):
            yield RankingTable(id="ranking")
            yield DetailPane(id="detail")
        yield Input(placeholder="filter: part of a model or provider name", id="filter")
        yield DashboardFooter()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#banner", KeyBanner).display = False
        self.query_one(RankingTable).focus()
        self._layout(self.app.size.width, self.app.size.height)

    # -- rendering -----------------------------------------------------------------------------

    @property
    def table(self) -> RankingTable:
        """The ranking table."""
        return self.query_one(RankingTable)

    def on_resize(self) -> None:
        self._layout(self.size.width, self.size.height)
        self.render_snapshot()

    def _layout(self, width: int, height: int) -> None:
        body = self.query_one("#body")
        body.set_class(width < WIDE, "-narrow")
        # A tall terminal has room for the whole detail pane under the table.
        body.set_class(height >= TALL, "-tall")

    def _columns(self, texts: Mapping[str, Cells]) -> tuple[Column, ...]:
        width = self.size.width or self.app.size.width
        if not width:
            return COLUMNS
        table_width = width - (DETAIL_WIDTH if width >= WIDE else 0) - SCROLLBAR
        return visible_columns(
            table_width,
            content_widths(texts.values()),
            sort=self.prefs.sort,
            reverse=self.prefs.reverse,
        )

    def take(self, snapshot: Snapshot) -> None:
        """Show a new Snapshot."""
        self.snapshot = snapshot
        self.render_snapshot()

    def set_keys(self, statuses: tuple[KeyStatus, ...]) -> None:
        """Which providers have a key (dims the rest, drives the banner)."""
        self.keys = {s.provider_id: s for s in statuses}
        self.render_snapshot()

    def set_rhythms(self, rhythms: Mapping[ModelRef, ModelRhythm]) -> None:
        """Each model's trend and usual fastest hours (read from the history now and then)."""
        self.rhythms = rhythms
        self.render_snapshot()

    def render_snapshot(self) -> None:
        """Bring every widget to the current Snapshot and preferences."""
        snapshot = self.snapshot
        # A countdown tick may land while the app exits and the widgets are already gone.
        if snapshot is None or not self.is_mounted or not self.query(RankingTable):
            return
        now = self.now()
        configured = {pid for pid, s in self.keys.items() if s.configured} if self.keys else None
        rows = build_rows(snapshot, self.catalog, self.prefs, configured, self.rhythms)
        self.rows = {row.key: row for row in rows}
        texts = self._cells.texts(rows, snapshot, now)
        self.table.show([row.key for row in rows], texts, self._columns(texts))
        # A Static's update lays the whole screen out again: skip the ones that would not change.
        width = max(0, (self.size.width or self.app.size.width) - STATUS_PADDING)
        status = status_text(snapshot, self.prefs, now, demo=self.demo, width=width)
        if status != self._status:
            self._status = status
            self.query_one(StatusBar).show(status)
        banner = banner_text(self.catalog, self.keys, snapshot)
        if banner != self._banner or self._banner_unset:
            self._banner, self._banner_unset = banner, False
            self.query_one(KeyBanner).show(banner)
        self._show_detail()

    def _show_detail(self) -> None:
        if self.snapshot is None:
            return
        key = self.table.selected_key
        row = self.rows.get(key) if key else None
        self.query_one(DetailPane).show(row, self.snapshot, self.keys, self.env)

    @on(RankingTable.RowHighlighted, "#ranking")
    def _highlighted(self) -> None:
        self._show_detail()

    @on(RankingTable.RowSelected, "#ranking")
    def _selected(self) -> None:
        self.action_use()

    @on(RankingTable.HeaderSelected, "#ranking")
    def _header(self, event: RankingTable.HeaderSelected) -> None:
        column = next((c for c in COLUMNS if c.key == event.column_key), None)
        if column is None:
            return
        if self.prefs.sort == column.sort:
            self._set(replace(self.prefs, reverse=not self.prefs.reverse))
        else:
            self._set(replace(self.prefs, sort=column.sort, reverse=False))

    # -- preferences ---------------------------------------------------------------------------

    def _set(self, prefs: Preferences, *, persist: bool = True) -> None:
        self.prefs = prefs
        self.render_snapshot()
        if persist:
            self.post_message(PreferencesChanged(prefs))

    def selected_ref(self) -> ModelRef | None:
        """The model under the cursor."""
        key = self.table.selected_key
        return ModelRef.parse(key) if key else None

    # -- actions -------------------------------------------------------------------------------

    def action_use(self) -> None:
        """Show what `use` would write for the selected model, then write it on request."""
        from freemodels.ui.services import split_target

        ref = self.selected_ref()
        if ref is None and not split_target(self.prefs.tool)[1]:
            self.notify("no model selected", severity="warning")
            return
        self.post_message(UseRequested(self.prefs.tool, ref))

    def action_cycle_tool(self) -> None:
        """Next target tool."""
        from freemodels.ui.services import tools

        self._set(replace(self.prefs, tool=next_in_cycle(self.prefs.tool, tools())))
        self.notify(f"target tool: {self.prefs.tool}", timeout=2)

    def action_cycle_sort(self) -> None:
        """Next sort column."""
        self._set(replace(self.prefs, sort=next_in_cycle(self.prefs.sort, SORTS), reverse=False))

    def action_reverse_sort(self) -> None:
        """Reverse the sort."""
        self._set(replace(self.prefs, reverse=not self.prefs.reverse))

    def action_filter(self) -> None:
        """Open the text filter."""
        field = self.query_one("#filter", Input)
        field.display = True
        field.value = self.prefs.text
        self.set_focus(field)  # now, not after the next refresh as focus() does

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Inside the filter field, `/` is a character of a model id, not the filter key."""
        if action == "filter":
            return not isinstance(self.focused, Input)
        return True

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set(replace(self.prefs, text=event.value), persist=False)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = bool(self.prefs.text)
        self.table.focus()

    def action_clear_filter(self) -> None:
        """Clear and close the text filter."""
        field = self.query_one("#filter", Input)
        if not field.display and not self.prefs.text:
            return
        field.value = ""
        field.display = False
        self._set(replace(self.prefs, text=""), persist=False)
        self.table.focus()

    def action_cycle_provider(self) -> None:
        """Show one provider at a time, then all again."""
        ids = [None, *(p.id for p in self.catalog.providers)]
        index = ids.index(self.prefs.provider) if self.prefs.provider in ids else 0
        self._set(replace(self.prefs, provider=ids[(index + 1) % len(ids)]))
        self.notify(f"provider: {self.prefs.provider or 'all'}", timeout=2)

    def action_toggle_configured(self) -> None:
        """Only providers with a key, or all."""
        self._set(replace(self.prefs, only_configured=not self.prefs.only_configured))

    def action_toggle_usable(self) -> None:
        """Only usable models, or all."""
        self._set(replace(self.prefs, only_usable=not self.prefs.only_usable))

    def action_toggle_tools(self) -> None:
        """Only models whose function calling works (tested, or so marked in the catalog)."""
        self._set(replace(self.prefs, only_tools=not self.prefs.only_tools))
        if self.prefs.only_tools:
            self.notify("T tests the selected model's tool calls; check --tools tests them all")

    def action_toggle_favourite(self) -> None:
        """Star or unstar the selected model."""
        ref = self.selected_ref()
        if ref is None:
            return
        self._set(self.prefs.toggled_favourite(ref))

    def action_toggle_pin(self) -> None:
        """Favourites on top, or in rank order."""
        self._set(replace(self.prefs, pin_favourites=not self.prefs.pin_favourites))

    def action_speed_test(self) -> None:
        """Queue a decode-speed test of the selected model."""
        ref = self.selected_ref()
        if ref is not None:
            self.post_message(ProbeRequested(ProbeKind.SPEED, ref))
            self.notify(f"speed test queued for {ref}", timeout=3)

    def action_tool_test(self) -> None:
        """Queue a function-calling test of the selected model."""
        ref = self.selected_ref()
        if ref is not None:
            self.post_message(ProbeRequested(ProbeKind.TOOLS, ref))
            self.notify(f"tool-call test queued for {ref}", timeout=3)

    def action_keys(self) -> None:
        """Open the provider keys screen."""
        self.post_message(KeysRequested())

    def action_reprobe(self) -> None:
        """Re-probe every model as soon as each budget allows."""
        self.post_message(ProbeRequested(ProbeKind.PROBE))
        self.notify("re-probing every model (within budgets)", timeout=3)

    def action_history(self) -> None:
        """Open the selected model's history screen."""
        ref = self.selected_ref()
        if ref is None:
            self.notify("no model selected", severity="warning")
            return
        self.post_message(HistoryRequested(ref))
