"""Test-wide set-up: Airflow gets a throwaway home before anything imports it."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_airflow_home = tempfile.mkdtemp(prefix="saxml-gke-airflow-")
atexit.register(shutil.rmtree, _airflow_home, ignore_errors=True)
# Each process its own, also when AIRFLOW_HOME is set: pytest-xdist's workers inherit the
# environment of the process that starts them, and two workers on one SQLite database race.
os.environ["AIRFLOW_HOME"] = _airflow_home
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
