"""Tests of the shared bottom modules: schema, settings."""
