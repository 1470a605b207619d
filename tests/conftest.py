"""Root of the test tree: real-service fixtures come from tests/fixtures.py."""

pytest_plugins = ["tests.fixtures"]
