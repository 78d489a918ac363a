"""Tests of sugar_core.priors: backends, parsing, encoders, builtin texts, the file."""
