"""Example Airflow DAGs to copy: a team's own scheduled deployment, paused until switched on.

Serves the team's model every weekday at 08:00 and tears it down at 20:00. Each run converges:
a rerun on a deployment that is already serving changes nothing. `ttl_hours` is the backstop:
should the 20:00 teardown fail, the nightly `saxml_gke_teardown` removes the deployment once
its 13 hours have passed. The defaults are checked when the file is parsed; a wrong one is an
import error that names the parameter.
"""

from saxml_gke.workflows import deploy_dag, teardown_dag

TEAM = {"project_id": "my-team-project", "zone": "us-west4-a", "cluster_name": "team-llm"}

serve = deploy_dag(
    "example_team_llm_serve",
    schedule="0 8 * * 1-5",
    defaults={**TEAM, "teardown": "on_failure", "ttl_hours": 13},
    is_paused_upon_creation=True,
)
tear_down = teardown_dag(
    "example_team_llm_tear_down",
    schedule="0 20 * * 1-5",
    defaults=TEAM,
    is_paused_upon_creation=True,
)
