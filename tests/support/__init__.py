"""Test support: real services for integration tests, and helpers to isolate tests."""
