"""The `otrig` command line."""
