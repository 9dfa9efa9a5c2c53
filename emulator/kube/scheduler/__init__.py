"""The scheduler: filters and messages as kube-scheduler has them, binding pods to nodes."""

from emulator.kube.scheduler.scheduler import Scheduler

__all__ = ["Scheduler"]
