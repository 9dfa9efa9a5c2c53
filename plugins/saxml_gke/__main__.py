"""`python -m saxml_gke plan|render`: the deployment a conf describes, without touching a cloud."""

import sys

from saxml_gke.cli import main

# Airflow's plugin manager imports every file under plugins/: only run as a program.
if __name__ == "__main__":
    sys.exit(main())
