"""The dashboard's widgets: status line, key banner, ranking table, detail pane.

They render what they are given and post messages; never touch the network, disk or keyring,
and never import the app.
"""
