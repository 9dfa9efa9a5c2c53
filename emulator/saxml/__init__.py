"""Saxml on the emulated clusters: the admin server, model server and sax-http images.

Their containers behave as the real images do, from the state of the emulated world: the admin
server needs the bucket through Workload Identity and keeps the cell's files there
(`cellfs`, `admin_server`, `admin`), model servers form a JAX world per TPU slice, advertise
the registry's models whose mesh fits the slice and join the admin (`model_server_image`,
`model_server`, `registry`), and sax-http speaks the API of its image tag over the Saxml client
(`sax_http`, `http_stdlib`, `http_fastapi`, `client`). Their RPCs are in-process calls between
the cluster's processes, made only where the network really listens (`processes`).
`register(cluster)` adds the behaviours to a cluster's kubelet; `register_faults(faults)` (called
once per world by the serve process) adds the `model-load-failure` scenario.
"""

from typing import TYPE_CHECKING

from emulator.saxml.admin_server import AdminServerImage
from emulator.saxml.faults import register_faults
from emulator.saxml.model_server_image import ModelServerImage
from emulator.saxml.processes import SaxProcesses
from emulator.saxml.sax_http import SaxHttpImage

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster

__all__ = ["register", "register_faults"]


def register(cluster: "KubeCluster") -> None:
    """Add the Saxml images' behaviours to the cluster's kubelet (they share its processes)."""
    processes = SaxProcesses(cluster)
    cluster.kubelet.behaviours.extend(
        [AdminServerImage(processes), ModelServerImage(processes), SaxHttpImage(processes)]
    )
