"""Tests of the raw-format readers in sugar_core.skeleton.readers."""
