"""Tests of sugar_core.skeleton: layouts, transforms, synthetic data, rendering, files."""
