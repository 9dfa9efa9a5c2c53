"""Serve an LLM with Saxml on multi-host TPU slices in GKE: the tutorial as one Airflow DAG.

Its tasks, one operator class per tutorial step, are laid out in `saxml_gke.workflows.deploy_dag`.
"""

from saxml_gke.workflows import deploy_dag

dag = deploy_dag()
