"""The Textual dashboard in a browser (`serve --web`): the textual-serve server and its sessions."""
