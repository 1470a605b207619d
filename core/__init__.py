"""Shared pieces of strangler: the change-event model, errors, config loading, Kafka setup."""
