"""Tests of sugar_core.zeroshot: splits, plans, the baseline and the protocol."""
