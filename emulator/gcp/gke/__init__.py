"""GKE (container v1): clusters, node pools and operations over REST, plus cluster endpoints.

`GkeService(world)` is the service `emulator.app` serves; see `emulator.core` for the contract.
`GkeService(world, control_plane_factory=...)` puts another control plane (the Kubernetes API)
behind every cluster endpoint; see `endpoint.ControlPlane`.

Modules, from the bottom up: `catalog` (zones, machine types, TPU slice shapes), `versions`,
`names`; `validation`, `flex_start` and `defaults` (what GKE checks and fills in);
`operations`, `capacity`, `usage` (what the nodes take from Compute's quotas and reservations),
`billing`, `nodes`, `certificates`; `queued` (queued provisioning: bookings of whole pools for
ProvisioningRequests); `state` (what GKE stores); `endpoint` (a cluster's HTTPS front); `slices`
(nodes up and down, and the requests waiting for room); `lifecycle` (operations carried to their
effects); `protojson`, `routes` and `service` (the API).
"""

from emulator.gcp.gke.service import GkeService

__all__ = ["GkeService"]
