"""The test suite: one folder per package of sugar_core, plus the CLI and shared helpers."""
