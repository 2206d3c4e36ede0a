"""A fake OpenAI-compatible provider fleet on 127.0.0.1: the demo and the tests' network seam.

Imports nothing of freemodels (an import-linter contract), so it can stand in for any provider.
"""
