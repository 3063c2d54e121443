"""The `curator` command line (installed as the `curator_cli` package)."""
