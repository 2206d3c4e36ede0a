"""What `freemodels serve` runs beside the monitor: Prometheus metrics, the web dashboard, the
router, and the listen-address and access-guard code they share.

May import the core and the ui (the web dashboard runs the Textual
app); the core never imports this.
"""
