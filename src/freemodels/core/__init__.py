"""The headless core: catalog, probe, stats, scheduler, store, keys, records.

Never imports textual, rich, or the ui and cli packages (DESIGN.md §1; import-linter and a
test enforce it).
"""
