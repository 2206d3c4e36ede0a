"""The Textual dashboard: renders Snapshots and posts intents; no network, disk or keyring."""
