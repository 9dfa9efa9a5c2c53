"""Thin operators: read the spec, run a step, defer its waits to the triggerer."""
