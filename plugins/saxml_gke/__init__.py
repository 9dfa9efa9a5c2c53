"""Serve an LLM with Saxml on multi-host TPU slices in GKE, from Airflow."""
