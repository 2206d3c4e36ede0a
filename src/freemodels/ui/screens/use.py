"""`enter`: what writing the selected model (or the router) into the target tool would change."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from typing import TYPE_CHECKING, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from freemodels.core.records import ModelRef
from freemodels.errors import FreemodelsError
from freemodels.ui.services import Services, split_target

if TYPE_CHECKING:
    from freemodels.integrations.registry import UseResult

log = logging.getLogger("freemodels.ui")


def failure_text(exc: BaseException) -> str:
    """What the user reads about a failure: a FreemodelsError says it all; a bug says it is one."""
    if isinstance(exc, FreemodelsError):
        return str(exc)
    return f"unexpected error: {type(exc).__name__}: {exc} (please report it; --debug FILE logs it)"


class UseScreen(ModalScreen[bool]):
    """A dry-run diff of the tool config, Write, and Write & launch; dismisses True once written."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("w", "write", "Write"),
        Binding("l", "launch", "Write & launch"),
    ]

    def __init__(self, services: Services, target: str, ref: ModelRef | None) -> None:
        super().__init__()
        self._services = services
        self._tool, via_router = split_target(target)
        self._ref = None if via_router else ref  # the router needs no model: it picks one
        self._preview: UseResult | None = None
        self._failure: str | None = None

    def compose(self) -> ComposeResult:
        pick = "the local router" if self._ref is None else str(self._ref)
        with Vertical(id="use-box"):
            yield Static(
                Text.assemble("Use ", (pick, "bold"), " in ", (self._tool, "bold")),
                id="use-title",
            )
            with VerticalScroll(id="use-diff"):
                yield Static("computing the change…", id="use-diff-body")
            yield Static(id="use-notes")
            with Horizontal(id="use-buttons"):
                yield Button("Write (w)", id="use-write", variant="primary", disabled=True)
                yield Button("Write & launch (l)", id="use-launch", disabled=True)
                yield Button("Cancel (Esc)", id="use-cancel")

    def on_mount(self) -> None:
        self.preview()

    @work(thread=True, exit_on_error=False)
    def preview(self) -> None:
        """Compute the dry run off the UI thread (it reads config files and the key chain)."""
        try:
            result = self._use(dry_run=True)
        except Exception as exc:  # shown, never left on "computing the change…"
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._failed, exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, result)

    def _use(self, *, dry_run: bool) -> UseResult:
        """The write (or its dry run) this screen is about; called from thread workers."""
        if self._ref is None:
            return self._services.use_router(self._tool, dry_run=dry_run)
        return self._services.use(self._tool, self._ref, dry_run=dry_run)

    def _show(self, result: UseResult) -> None:
        self._preview = result
        body = self.query_one("#use-diff-body", Static)
        diff = result.diff()
        if diff:
            body.update(Syntax(diff, "diff", theme="ansi_dark", word_wrap=True))
        else:
            body.update(Text("nothing to change: the config already uses this model", "dim"))
        notes = [f"model name in {self._tool}: {result.reference}"] if result.reference else []
        notes += list(result.notes)
        self.query_one("#use-notes", Static).update("\n".join(notes))
        self.query_one("#use-write", Button).disabled = not result.changed
        self.query_one("#use-launch", Button).disabled = False

    def _failed(self, exc: Exception) -> None:
        """Say what went wrong, in the screen and as a notification; log a bug's traceback."""
        if not isinstance(exc, FreemodelsError):
            log.error("use %s %s failed", self._tool, self._ref, exc_info=exc)
        self._failure = failure_text(exc)
        self.query_one("#use-diff-body", Static).update(Text(self._failure, style="red"))
        self.app.notify(self._failure, title=f"{self._tool}: nothing written", severity="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "use-write":
            self.action_write()
        elif event.button.id == "use-launch":
            self.action_launch()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        """Close without writing."""
        self.dismiss(False)

    def action_write(self) -> None:
        """Write the change shown (only once the preview is ready and changes something)."""
        if self._preview is None or not self._preview.changed:
            self.notify(self._nothing_to_write(), severity="warning")
            return
        self.query_one("#use-write", Button).disabled = True
        self.write()

    @work(thread=True, exit_on_error=False)
    def write(self) -> None:
        """Write the tool config off the UI thread."""
        try:
            result = self._use(dry_run=False)
        except Exception as exc:  # shown in the screen and notified, never lost
            self.app.call_from_thread(self._failed, exc)
            return
        paths = ", ".join(str(p) for p in result.paths) or "nothing changed"
        message = f"{self._tool}: wrote {paths}; model {result.reference}"
        self.app.call_from_thread(self.app.notify, message, title="Written", timeout=8)
        self.app.call_from_thread(self.dismiss, True)

    def _nothing_to_write(self) -> str:
        if self._failure is not None:
            return f"nothing to write: {self._failure}"
        if self._preview is None:
            return "still computing the change"
        return "nothing to write: the config already uses this model"

    def action_launch(self) -> None:
        """Write the change (if any), then hand the terminal to the tool until it exits."""
        if self._preview is None:
            self.notify(self._nothing_to_write(), severity="warning")
            return
        self.query_one("#use-launch", Button).disabled = True
        self.query_one("#use-write", Button).disabled = True
        self.prepare_launch(self._preview.changed)

    @work(thread=True, exit_on_error=False)
    def prepare_launch(self, write: bool) -> None:
        """Write the config and find the tool off the UI thread; then run it on the UI thread."""
        try:
            if write:
                self._use(dry_run=False)
            if self._ref is None:
                argv, extra = self._services.launch_router(self._tool)
            else:
                argv, extra = self._services.launch_command(self._tool, self._ref)
        except Exception as exc:  # shown in the screen and notified, never lost
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._run_tool, argv, extra)

    def _run_tool(self, argv: list[str], extra: dict[str, str]) -> None:
        # The monitor keeps probing on its own thread while the tool has the terminal.
        try:
            with self.app.suspend():
                code = subprocess.call(argv, env={**os.environ, **extra})
        except SuspendNotSupported:
            self.app.notify(
                f"the config is written; this screen cannot hand over the terminal, so start "
                f"{self._tool} yourself: {shlex.join(argv)}",
                severity="warning",
                timeout=15,
            )
        else:
            self.app.notify(f"{self._tool} exited with code {code}", timeout=8)
        self.dismiss(True)
