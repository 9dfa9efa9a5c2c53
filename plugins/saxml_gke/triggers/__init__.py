"""Async pollers for the triggerer (they live in plugins/, which the triggerer can import)."""
