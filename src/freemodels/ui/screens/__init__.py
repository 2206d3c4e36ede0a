"""The dashboard's screens: the main ranking, help, keys and the `use` diff.

They post messages (`freemodels.ui.messages`) for the app to handle; never import the app.
"""
