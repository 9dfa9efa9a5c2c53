"""The behaviour of the images whose containers must act as the real ones do (see
`emulator.kube.kubelet.behaviour`): JobSet's controller manager, the Google Cloud CLI, Envoy
and Saxml's servers. Any other image runs the kubelet's default behaviour."""

from typing import TYPE_CHECKING

from emulator import saxml
from emulator.kube.images.cloudsdk import CloudSdkImage
from emulator.kube.images.envoy import EnvoyImage
from emulator.kube.images.jobset import JobSetManagerImage

if TYPE_CHECKING:
    from emulator.kube.cluster import KubeCluster


def register_images(cluster: "KubeCluster") -> None:
    """Add the image behaviours to the cluster's kubelet (each cluster has its own)."""
    cluster.kubelet.behaviours.extend([JobSetManagerImage(), CloudSdkImage(), EnvoyImage()])
    saxml.register(cluster)
