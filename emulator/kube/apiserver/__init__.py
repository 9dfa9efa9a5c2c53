"""The Kubernetes API server of an emulated cluster (see `server.ApiServer`)."""

from emulator.kube.apiserver.server import ApiServer

__all__ = ["ApiServer"]
