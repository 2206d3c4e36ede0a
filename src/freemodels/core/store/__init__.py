"""The history database: samples, hourly rollups, the request ledger's tables, monitor heartbeats.

Headless: never imports textual, rich, freemodels.ui, freemodels.cli, the servers or the fleet.
"""
