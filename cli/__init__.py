"""The `autoal` command line (installed as `alscope_autoal.cli`)."""
