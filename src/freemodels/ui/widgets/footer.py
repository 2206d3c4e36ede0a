"""The dashboard's footer: Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer removes and mounts all of its ~20 keys whenever its screen's bindings are
refreshed, and pushing or popping any screen (help, history, keys) refreshes them: that rebuild
ran on the UI thread while the pushed screen was drawing its first frames, for a footer hidden
under it and showing the same keys as before.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

Shown = tuple[tuple[str, str, str, bool, str], ...]


def shown_keys(screen: Screen[object]) -> Shown:
    """What the footer would show for this screen: key, description, action, enabled, tooltip."""
    return tuple(
        (binding.key, binding.description, binding.action, enabled, tooltip)
        for _, binding, enabled, tooltip in screen.active_bindings.values()
        if binding.show
    )


class DashboardFooter(Footer):
    """A Footer that skips rebuilds while its screen is covered or its keys are unchanged."""

    def __init__(self) -> None:
        super().__init__()
        self._shown: Shown | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        """Rebuild when the current screen's keys differ from the ones shown."""
        current = screen.app.screen is screen
        if self._shown is not None and not current:
            return  # covered by another screen: checked again when it resumes
        if current:
            shown = shown_keys(screen)
            if shown == self._shown:
                return
            if screen.app.app_focus and self.is_attached and screen is self.screen:
                self._shown = shown  # what the rebuild below shows
        super().bindings_changed(screen)
