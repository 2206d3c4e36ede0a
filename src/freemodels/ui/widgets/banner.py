"""The first-run banner: no key yet, so say which one to add and where to get it."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import Static

from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyStatus
from freemodels.core.records import Snapshot


def banner_text(catalog: Catalog, keys: Mapping[str, KeyStatus], snapshot: Snapshot) -> Text | None:
    """The banner while no provider that needs a key has one; None once one does."""
    needing = [p for p in catalog.providers if p.key_required]
    if not needing or not keys or any(keys[p.id].configured for p in needing if p.id in keys):
        return None
    # Suggest the provider of the best-ranked model: its key pays off first.
    ranked = [row.provider for row in snapshot.rows]
    by_id = {p.id: p for p in needing}
    first = next((by_id[pid] for pid in ranked if pid in by_id), needing[0])
    text = Text()
    text.append("No API keys yet. ", style="bold")
    text.append("Latencies below are keyless round trips (401). Add a key with ")
    text.append("p", style="bold reverse")
    text.append(f", e.g. {first.name}: ")
    text.append(first.signup_url, style="underline")
    return text


class KeyBanner(Static):
    """Shown only while no key is configured."""

    _lines = -1

    def show(self, text: Text | None) -> None:
        """Show `text`, or hide the banner when it is None."""
        self.display = text is not None
        if text is not None:
            # The suggested provider follows the ranking, so the text changes now and then; a
            # layout of the whole screen is needed only when it takes another number of lines.
            width = max(1, self.content_size.width)
            lines = sum(max(1, -(-len(line) // width)) for line in text.plain.split("\n"))
            self.update(text, layout=lines != self._lines)
            self._lines = lines
