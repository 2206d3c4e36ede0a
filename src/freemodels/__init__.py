"""freemodels: find the fastest working free LLM endpoint and put it into your coding tool."""

__version__ = "0.1.0"
