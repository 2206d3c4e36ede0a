"""The history database: samples, hourly rollups, the request ledger's tables, monitor heartbeats;
every SQL statement outside the budget ledger (`core.monitor.budget`) lives here.

Headless: never imports textual, rich, the ui and cli packages, the servers, the fleet or
the integrations.
"""
