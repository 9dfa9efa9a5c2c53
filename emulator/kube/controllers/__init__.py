"""kube-controller-manager's controllers (and the cloud, autoscaler and JobSet controllers GKE
runs)."""

from emulator.kube.controllers.deployment import DeploymentController
from emulator.kube.controllers.endpoints import EndpointsController
from emulator.kube.controllers.job import JobController
from emulator.kube.controllers.jobset import JobSetController
from emulator.kube.controllers.nodelifecycle import NodeLifecycleController
from emulator.kube.controllers.provreq import ProvisioningRequestController
from emulator.kube.controllers.replicaset import ReplicaSetController
from emulator.kube.controllers.service_lb import ServiceLoadBalancerController

CONTROLLERS = [
    DeploymentController,
    ReplicaSetController,
    JobController,
    JobSetController,
    EndpointsController,
    ServiceLoadBalancerController,
    NodeLifecycleController,
    ProvisioningRequestController,
]

__all__ = [
    "CONTROLLERS",
    "DeploymentController",
    "EndpointsController",
    "JobController",
    "JobSetController",
    "NodeLifecycleController",
    "ProvisioningRequestController",
    "ReplicaSetController",
    "ServiceLoadBalancerController",
]
