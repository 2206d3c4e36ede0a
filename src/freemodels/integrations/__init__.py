"""Writers for coding tools' config files: one module per tool, one shared careful writer."""
