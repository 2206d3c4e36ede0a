"""The headless core: catalog, probe, stats, scheduler, store, keys, records.

Never imports textual, rich, freemodels.ui or freemodels.cli (DESIGN.md §1; a test enforces it).
"""
