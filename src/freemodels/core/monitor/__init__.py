"""The continuous monitor: its scheduler, the rate-budget ledger, the statistics and the
Snapshots it publishes.

Headless: never imports textual, rich, freemodels.ui, freemodels.cli, the servers or the fleet.
"""
