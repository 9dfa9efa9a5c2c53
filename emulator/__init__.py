"""A local stand-in for Google Cloud, GKE, Kubernetes and Saxml, served on loopback.

The DAG talks to it with the same client libraries and code path as to Google Cloud; only the
Airflow connection differs. Every behaviour follows from the state of the emulated world.
"""
