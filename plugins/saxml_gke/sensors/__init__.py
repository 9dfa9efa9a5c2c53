"""Custom sensors: pod readiness and model-load log lines, deferrable by default."""
