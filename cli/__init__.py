"""strangler.cli."""
