"""The Textual dashboard: renders Snapshots, posts intents; never touches network, disk or keyring."""
