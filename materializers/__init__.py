"""strangler.materializers."""
