"""A fake OpenAI-compatible provider fleet on 127.0.0.1: the demo and the tests' network seam."""
