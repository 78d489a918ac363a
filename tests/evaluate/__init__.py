"""Tests of sugar_core.evaluate: metrics, the report and the plots."""
