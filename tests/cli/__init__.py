"""Tests of the sugar command line, one file per command group."""
