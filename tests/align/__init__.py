"""Tests of sugar_core.align: the frozen LLM, bridges, answers, training and inference."""
