"""strangler.connectors."""
