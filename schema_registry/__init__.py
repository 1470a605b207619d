"""strangler.schema_registry."""
