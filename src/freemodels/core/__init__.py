"""The headless core: the catalog, probing, the monitor and its statistics, the history store,
keys, and the records they pass along (`records`, `report`).

Never imports textual, rich, the ui and cli packages, the servers, the fleet or the
integrations (docs/architecture.md, "Import rules"; import-linter contracts in pyproject.toml and
a subprocess test enforce it).
"""
