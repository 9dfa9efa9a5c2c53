"""The kubelet: pods on nodes, their containers' behaviours, statuses and logs."""

from emulator.kube.kubelet.behaviour import (
    ContainerBehaviour,
    ContainerContext,
    ContainerExit,
    DefaultBehaviour,
    not_found_pull_error,
)
from emulator.kube.kubelet.kubelet import Kubelet
from emulator.kube.kubelet.logs import LogLine

__all__ = [
    "ContainerBehaviour",
    "ContainerContext",
    "ContainerExit",
    "DefaultBehaviour",
    "Kubelet",
    "LogLine",
    "not_found_pull_error",
]
