"""Command-line interface: thin glue over sugar_core, one file per command."""
