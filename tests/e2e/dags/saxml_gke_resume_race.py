"""An Airflow DAG for the resume race test (tests/e2e/test_airflow_stack.py).

Deferred tasks whose waits are over the moment the triggerer first looks, from processes that
are slow to exit (tests/e2e/race_waits.py): Airflow 3.3's race between a resumed task and the
executor's late report of the deferring process's exit (apache/airflow#71580, #72716).
`ends_in_triggerer` waits the product's way (the trigger ends the task); `resumes_on_worker`
waits the usual way (the task resumes on a worker), as a control that shows the race is really
provoked.
"""

from datetime import UTC, datetime

from airflow.sdk import DAG, TriggerRule, chain

from saxml_gke.spec import build_spec
from tests.e2e.race_waits import EndsInTriggerer, ResumesOnWorker

ROUNDS = 2

SPEC = build_spec({"project_id": "race-project", "zone": "us-west4-a"}, now=datetime.now(UTC))

with DAG(
    dag_id="saxml_gke_resume_race",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
):
    # One at a time, whatever the one before ended with: a free worker slot is always there
    # for a resumption, so the race is decided by the order of events alone.
    tasks = []
    for index in range(ROUNDS):
        tasks.append(ResumesOnWorker(task_id=f"resumes_on_worker_{index}"))
        tasks.append(EndsInTriggerer(task_id=f"ends_in_triggerer_{index}", spec=SPEC.to_dict()))
    for task in tasks:
        task.trigger_rule = TriggerRule.ALL_DONE
    chain(*tasks)
