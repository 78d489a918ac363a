"""Tests of sugar_core.pipeline (demo, predict) and of the example scripts."""
