"""The headless core: catalog, probe, stats, scheduler, store, keys, records.

Never imports textual, rich, or the ui and cli packages (docs/architecture.md, "Import rules";
import-linter and a test enforce it).
"""
