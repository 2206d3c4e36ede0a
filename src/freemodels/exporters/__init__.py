"""Views of the monitor for other programs: Prometheus metrics, the web dashboard, JSON lines."""
