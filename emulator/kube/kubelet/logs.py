"""Container logs as the kubelet keeps them: one file per container instance (container ID).

`kubectl logs` reads the instance the container status points at: the running one, or the
last terminated one while the container waits to restart; `--previous` reads the instance in
`lastState`. The kubelet's own error texts are kept, as the API server passes them on (400).
"""

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from emulator.kube.errors import bad_request

LogLine = tuple[float, str]  # (wall-clock instant, line without newline)


class ContainerLog:
    """The output of one container instance; followers wait for more until it is closed."""

    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self.closed = False
        self._grown = asyncio.Event()

    def append(self, instant: float, line: str) -> None:
        for part in line.splitlines() or [""]:
            self.lines.append((instant, part))
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def follow(self, start: int = 0) -> AsyncIterator[LogLine]:
        """Lines from index `start`, then new ones as they come, until the instance ends."""
        index = start
        while True:
            while index < len(self.lines):
                yield self.lines[index]
                index += 1
            if self.closed:
                return
            grown = self._grown
            await grown.wait()

    def _wake(self) -> None:
        self._grown.set()
        self._grown = asyncio.Event()


def logged_container_id(pod: Mapping[str, Any], container: str, previous: bool) -> str:
    """The container ID whose log `kubectl logs [--previous]` shows, or the kubelet's error."""
    pod_name = pod["metadata"]["name"]
    status = _container_status(pod, container)
    if status is None:
        raise bad_request(f'container "{container}" in pod "{pod_name}" is not available')
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    if previous:
        if not last.get("containerID"):
            raise bad_request(
                f'previous terminated container "{container}" in pod "{pod_name}" not found'
            )
        return str(last["containerID"])
    if "running" in state:
        return str(status["containerID"])
    terminated = state.get("terminated")
    if terminated is not None or last:
        container_id = (terminated or {}).get("containerID") or last.get("containerID")
        if not container_id:
            raise bad_request(f'container "{container}" in pod "{pod_name}" is terminated')
        return str(container_id)
    reason = (state.get("waiting") or {}).get("reason", "")
    explanation = {
        "ErrImagePull": "image can't be pulled",
        "ImagePullBackOff": "trying and failing to pull image",
    }.get(reason, reason)
    if not reason:
        raise bad_request(
            f'container "{container}" in pod "{pod_name}" is waiting to start - no logs yet'
        )
    raise bad_request(
        f'container "{container}" in pod "{pod_name}" is waiting to start: {explanation}'
    )


def chosen_container(pod: Mapping[str, Any], container: str | None) -> str:
    """The container a log request means, with the API server's errors for a wrong choice."""
    spec = pod.get("spec") or {}
    pod_name = pod["metadata"]["name"]
    names = [c["name"] for c in spec.get("containers") or []]
    init_names = [c["name"] for c in spec.get("initContainers") or []]
    if not container:
        if len(names) == 1:
            return names[0]
        message = (
            f"a container name must be specified for pod {pod_name}, "
            f"choose one of: [{' '.join(names)}]"
        )
        if init_names:
            message += f" or one of the init containers: [{' '.join(init_names)}]"
        raise bad_request(message)
    if container not in names and container not in init_names:
        raise bad_request(f"container {container} is not valid for pod {pod_name}")
    return container


def _container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    status = pod.get("status") or {}
    for entry in [
        *(status.get("containerStatuses") or []),
        *(status.get("initContainerStatuses") or []),
    ]:
        if entry.get("name") == container:
            return entry
    return None
