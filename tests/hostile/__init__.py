"""Builders of hostile and broken input for the reliability tests (generated in the test, never committed)."""
