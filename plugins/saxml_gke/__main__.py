"""`python -m saxml_gke plan|render`: the deployment a conf describes, without touching a cloud."""

import sys

from saxml_gke.cli import main

sys.exit(main())
