"""The waits, run by the triggerer (they live in plugins/, which the triggerer can import); each
ends its task."""
