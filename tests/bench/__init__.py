"""Tests of the bench/ scripts' own logic (no real data, no real models)."""
