"""`p`: every provider's key, where it comes from (masked), and add/replace/remove/test in place.

Keyring calls and key tests run in thread workers: an unlock prompt or a slow provider never
freezes the screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from freemodels.core.keys.lookup import KeyStatus, mask
from freemodels.errors import FreemodelsError
from freemodels.ui.messages import KeysLoaded
from freemodels.ui.services import Services

if TYPE_CHECKING:
    from freemodels.core.keys.verify import KeyTestResult


class KeysScreen(ModalScreen[None]):
    """The providers' keys; changes are announced to the app with KeysLoaded."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        # The dashboard's keys move the cursor here too (the key input, when open, takes them).
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("a", "edit", "Add/replace"),
        Binding("enter", "edit", "Add/replace", show=False),
        Binding("d", "remove", "Remove"),
        Binding("t", "test", "Test"),
    ]

    def __init__(self, services: Services, statuses: tuple[KeyStatus, ...]) -> None:
        super().__init__()
        self._services = services
        self._statuses = statuses
        self._tests: dict[str, str] = {}
        self._editing: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="keys-box"):
            yield Static(Text("Provider keys", style="bold"), id="keys-title")
            yield DataTable(id="keys-table", cursor_type="row")
            yield Static(id="keys-prompt")
            yield Input(password=True, id="keys-input", placeholder="paste the key, then Enter")
            yield Static(
                Text("j/k move · a add/replace · d remove · t test · Esc close", style="dim"),
                id="keys-help",
            )

    def on_mount(self) -> None:
        table = self.query_one("#keys-table", DataTable)
        for key, label in (
            ("provider", "Provider"), ("key", "Key"), ("source", "Source"), ("test", "Test"),
            ("note", "Sign-up / note"),
        ):  # fmt: skip
            table.add_column(label, key=key)
        self._fill()
        self.query_one("#keys-input", Input).display = False
        table.focus()

    def _fill(self) -> None:
        table = self.query_one("#keys-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for status in self._statuses:
            if status.configured:
                note = f"overrides {', '.join(status.shadowed)}" if status.shadowed else ""
                key, source = status.masked or "", status.source or ""
            elif status.key_required:
                key, source, note = "-", "not set", status.signup_url
            else:
                key, source, note = "-", "not needed", ""
            table.add_row(
                status.provider_id,
                key,
                source,
                self._tests.get(status.provider_id, ""),
                note,
                key=status.provider_id,
            )
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))

    def _selected(self) -> str | None:
        table = self.query_one("#keys-table", DataTable)
        if not table.row_count:
            return None
        value = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return value

    # -- actions -------------------------------------------------------------------------------

    def action_cursor_down(self) -> None:
        """Next provider."""
        self.query_one("#keys-table", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        """Previous provider."""
        self.query_one("#keys-table", DataTable).action_cursor_up()

    def action_close(self) -> None:
        """Close the key input if it is open, else the screen."""
        if self._editing is not None:
            self._stop_editing()
            return
        self.dismiss(None)

    def action_edit(self) -> None:
        """Ask for the selected provider's key in a masked input."""
        provider = self._selected()
        if provider is None:
            return
        self._editing = provider
        self.query_one("#keys-prompt", Static).update(f"New key for {provider} (hidden):")
        field = self.query_one("#keys-input", Input)
        field.value = ""
        field.display = True
        field.focus()

    def _stop_editing(self) -> None:
        self._editing = None
        field = self.query_one("#keys-input", Input)
        field.value = ""
        field.display = False
        self.query_one("#keys-prompt", Static).update("")
        self.query_one("#keys-table", DataTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        provider, value = self._editing, event.value
        self._stop_editing()
        if provider is not None:
            self._tests.pop(provider, None)  # a verdict about the key it replaces
            self._run(lambda: self._store(provider, value))

    def action_remove(self) -> None:
        """Delete the selected provider's stored key."""
        provider = self._selected()
        if provider is not None:
            self._tests.pop(provider, None)
            self._run(lambda: self._remove(provider))

    def action_test(self) -> None:
        """Send one cheap authenticated request for the selected provider."""
        provider = self._selected()
        if provider is None:
            return
        self._tests[provider] = "testing…"
        self._fill()
        self._run(lambda: self._test(provider))

    # -- work (on a thread) --------------------------------------------------------------------

    def _run(self, job: Callable[[], Any]) -> None:
        self._worker(job)

    @work(thread=True, exit_on_error=False, group="keys")
    def _worker(self, job: Callable[[], Any]) -> None:
        try:
            job()
        except FreemodelsError as exc:
            self.app.call_from_thread(self.app.notify, str(exc), severity="error", timeout=8)
        self._reload()

    def _store(self, provider: str, value: str) -> None:
        stored, warning = self._services.store_key(provider, value)
        replacing = f", replacing {stored.replaced}" if stored.replaced else ""
        notes = [f"{provider}: key {mask(value.strip())} stored in {stored.location}{replacing}"]
        if warning:
            notes.append(warning)
        if stored.env_override:
            notes.append(f"{stored.env_override} is set and takes precedence")
        self.app.call_from_thread(self.app.notify, "\n".join(notes), title="Key saved")

    def _remove(self, provider: str) -> None:
        removed = self._services.remove_key(provider)
        text = f"{provider}: removed from {', '.join(removed)}" if removed else "no stored key"
        self.app.call_from_thread(self.app.notify, text)

    def _test(self, provider: str) -> None:
        result: KeyTestResult = self._services.test_key(provider)
        self._tests[provider] = result.verdict.label
        severity = "information" if result.verdict.value == "ok" else "warning"
        self.app.call_from_thread(
            self.app.notify,
            f"{provider}: {result.verdict.label} ({result.detail})",
            severity=severity,
        )

    def _reload(self) -> None:
        statuses = self._services.key_statuses()
        self.app.call_from_thread(self._reloaded, statuses)

    def _reloaded(self, statuses: tuple[KeyStatus, ...]) -> None:
        self._statuses = statuses
        self._fill()
        self.app.post_message(KeysLoaded(statuses))
