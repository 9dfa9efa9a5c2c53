"""Prints how long the emulator takes for the tutorial's GKE part at its default time scale.

Usage: PYTHONPATH=plugins:. .venv/bin/python scripts/bench_emulator.py
Starts `python -m emulator serve` (default time scale), creates the tutorial cluster, then the
two v5e 4x8 node pools in parallel through the product's GKE hook, and prints the wall times.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        ready_file = Path(workdir) / "ready.json"
        emulator = subprocess.Popen(
            [sys.executable, "-m", "emulator", "serve", "--ready-file", str(ready_file)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while not ready_file.exists():
                time.sleep(0.05)
            ready = json.loads(ready_file.read_text())
            os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps(
                ready["airflow_connection"]
            )
            measure(ready)
        finally:
            emulator.terminate()
            emulator.wait()


def measure(ready: dict) -> None:
    from saxml_gke.bodies import cluster_body, node_pool_body
    from saxml_gke.hooks.gke import GkeHook
    from saxml_gke.spec import build_spec

    spec = build_spec({"project_id": ready["project_id"], "zone": "us-west4-a"}, datetime.now(UTC))
    hook = GkeHook()
    where = {"project_id": spec.project_id, "zone": spec.cluster.zone}

    def wait(operations: list[str]) -> None:
        for name in operations:
            while hook.get_operation(**where, name=name)["status"] != "DONE":
                time.sleep(0.02)

    started = time.monotonic()
    wait([hook.create_cluster(**where, body=cluster_body(spec))])
    cluster_done = time.monotonic()
    wait(
        [
            hook.create_node_pool(**where, cluster=spec.cluster.name, body=node_pool_body(spec, p))
            for p in spec.tpu.node_pools
        ]
    )
    pools_done = time.monotonic()
    print(f"time scale            {ready['time_scale']}")
    print(f"cluster               {cluster_done - started:.2f} s")
    print(f"two 4x8 pools         {pools_done - cluster_done:.2f} s (in parallel)")
    print(f"cluster + pools       {pools_done - started:.2f} s")


if __name__ == "__main__":
    main()
