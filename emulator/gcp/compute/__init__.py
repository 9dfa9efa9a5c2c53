"""Compute Engine (compute v1): the load balancers GKE makes, and the addresses they may hold.

A forwarding rule belongs to the project, not to the cluster. GKE's service controller
(`emulator.kube.controllers.service_lb`) creates one per LoadBalancer Service, with an ephemeral
IP or the reserved address the Service's `loadBalancerIP` names, and deletes it when the Service
goes; if the cluster is deleted first, the rule (and the address it holds) stays: a leak, as on
GCP. Each rule listens for real on its own loopback IP and forwards to the Service's ready pods.
Through the API, regional addresses are reserved, listed (with filters) and released, and rules
are listed and deleted; every mutation answers a region operation that ends after a modelled few
seconds. Before it spends, a deployment reads what it may run: regions with their quotas,
zones, machine and accelerator types (from GKE's catalog), and reservations; quota usage and
reservations' use follow from GKE's nodes, and GKE's node pools are refused by them.

Modules: `model` (addresses, rules, their JSON), `operations`, `listeners` (the data plane),
`validation` and `filters` (what requests may say), `errors`, `service` (the state and its
rules), `routes` (the REST surface); `places`, `quotas`, `reservations`, `capacity` and
`capacity_routes` (where and on what a deployment can run).
"""

from emulator.gcp.compute.errors import ComputeError
from emulator.gcp.compute.listeners import Backend
from emulator.gcp.compute.service import ComputeService, compute_service

__all__ = ["Backend", "ComputeError", "ComputeService", "compute_service"]
