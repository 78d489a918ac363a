"""Tests of sugar_core.tokenize: the encoder, its losses, training and token files."""
