"""Tiny data, models and servers shared by the tests (no downloads, seconds on a CPU)."""
