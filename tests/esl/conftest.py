"""Fixtures for the ESL tests live in tests/conftest.py (fs, serve), shared with the others."""
