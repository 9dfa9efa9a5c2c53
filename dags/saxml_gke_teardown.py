"""Nightly Airflow DAG: remove saxml-gke deployments whose time is up, and what they left behind.

Laid out in `saxml_gke.workflows.teardown_dag`: the deploy DAG's teardown tasks, mapped over the
deployments found.
"""

from saxml_gke.workflows import teardown_dag

dag = teardown_dag()
