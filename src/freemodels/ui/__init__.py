"""The Textual dashboard: the app (`app`), its screens and widgets, the messages they post
(`messages`), what the table shows (`view`, pure), preferences, and `services`, the side effects
(keys, tool configs, preferences file) the app runs in thread workers.

Screens and widgets render Snapshots and post messages; only the app handles them, and nothing
below it imports it. Widgets never touch the network, disk or keyring. Imports the core and,
lazily, the integrations; never the cli or the servers (import-linter).
"""
