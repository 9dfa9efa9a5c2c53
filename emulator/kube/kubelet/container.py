"""One container of a pod through its life: pull, create, start, probe, exit, restart.

The runner keeps the container's status (state, lastState, restartCount, ready, started) and
asks its pod worker to publish whenever it changes. Restarts follow the pod's restartPolicy
with the kubelet's crash back-off; image pulls retry with the image back-off.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from emulator.kube.faults import image_pull_method
from emulator.kube.kubelet.backoff import go_duration
from emulator.kube.kubelet.behaviour import ContainerContext, ContainerExit, not_found_pull_error
from emulator.kube.kubelet.env import ContainerConfigError, container_env
from emulator.kube.kubelet.images import PRESENT_IMAGE_PULL_SECONDS, image_id, pull_policy
from emulator.kube.kubelet.probes import Prober
from emulator.kube.store import Obj, kube_timestamp

if TYPE_CHECKING:
    from emulator.kube.kubelet.worker import PodWorker

logger = logging.getLogger(__name__)

ERR_IMAGE_PULL_SECONDS = 1.0  # ErrImagePull shows until the next sync finds the back-off
CONFIG_RETRY_SECONDS = 10.0
NEVER_PULL_RETRY_SECONDS = 10.0
KILLED_EXIT_CODE = 137  # SIGKILL after the grace period


class ContainerRunner:
    def __init__(
        self, worker: "PodWorker", spec: Mapping[str, Any], init: bool, previous: Obj | None
    ) -> None:
        self.worker = worker
        self.spec = spec
        self.name: str = spec["name"]
        self.image: str = spec.get("image", "")
        self.init = init
        self.behaviour = worker.kubelet.behaviour_for(worker.pod, spec)
        self.state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict[str, Any] = {}
        self.restart_count = 0
        self.ready = False
        self.started = False
        self.container_id = ""
        self.instances = 0
        self._finished_at = 0.0
        self._stop_instance: asyncio.Event | None = None
        self._unhealthy = False
        self._killed = False
        if previous is not None:
            self._adopt(previous)

    def _adopt(self, previous: Obj) -> None:
        """Resume after an emulator restart, as after a node reboot: what was running died
        (exit 255, reason Unknown) and restarts; what had exited stays exited."""
        self.restart_count = previous.get("restartCount", 0)
        self.last_state = previous.get("lastState") or {}
        self.container_id = previous.get("containerID", "")
        state = previous.get("state") or {}
        self._finished_at = self.worker.clock.now()
        if "running" in state:
            state = {
                "terminated": {
                    "exitCode": 255,
                    "reason": "Unknown",
                    "startedAt": state["running"].get("startedAt"),
                    "finishedAt": kube_timestamp(self._finished_at),
                    "containerID": self.container_id,
                }
            }
        elif "terminated" not in state and "terminated" in self.last_state:
            state, self.last_state = self.last_state, {}
        if "terminated" in state:
            self.state = state
            self.instances = 1

    @property
    def exit_code(self) -> int | None:
        terminated = self.state.get("terminated")
        return None if terminated is None else int(terminated["exitCode"])

    def status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": image_id(self.image) if self.instances else "",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            entry["containerID"] = self.container_id
        return entry

    def request_stop(self) -> None:
        """The pod is going: stop the running instance (if any), restart nothing."""
        if self._stop_instance is not None:
            self.worker.event("Killing", f"Stopping container {self.name}", field=self.field)
            self._stop_instance.set()

    def kill(self) -> bool:
        """SIGKILL the running instance (no grace period); whether one was running."""
        if self._stop_instance is None:
            return False
        self._killed = True
        self._stop_instance.set()
        return True

    @property
    def field(self) -> str:
        kind = "initContainers" if self.init else "containers"
        return f"spec.{kind}{{{self.name}}}"

    async def run(self) -> int | None:
        """Run, restarting as the pod's restartPolicy says; the last exit code, or None when
        the pod stopped it first."""
        code = self.exit_code
        while True:
            restarting = self.instances > 0
            if restarting and not (self._restarts_after(code) and await self._crash_backoff()):
                return code
            code = await self._run_instance()
            if code is None or self.worker.stopping:
                return code

    def _restarts_after(self, code: int | None) -> bool:
        policy = self.worker.restart_policy
        if self._unhealthy:
            return policy != "Never"
        if self.init:
            return code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and code != 0)

    async def _crash_backoff(self) -> bool:
        """Wait out the crash back-off before a restart; False if the pod stopped meanwhile."""
        worker = self.worker
        backoff, key = worker.kubelet.crash_backoff, f"{worker.uid}/{self.name}"
        if backoff.in_backoff_since(key, self._finished_at):
            delay = go_duration(backoff.delay(key))
            pod = f"{worker.name}_{worker.namespace}({worker.uid})"
            self.last_state = {"terminated": self.state["terminated"]}
            message = f"back-off {delay} restarting failed container={self.name} pod={pod}"
            self._wait("CrashLoopBackOff", message)
            worker.event(
                "BackOff",
                f"Back-off restarting failed container {self.name} in pod {pod}",
                "Warning",
                self.field,
            )
            if await worker.wait_or_stop(backoff.remaining(key, self._finished_at), wall=True):
                return False
        backoff.next(key, self._finished_at)
        return True

    async def _run_instance(self) -> int | None:
        if not await self._ensure_image():
            return None
        env = await self._configure()
        if env is None:
            return None
        worker = self.worker
        if await worker.wait_or_stop(self.behaviour.start_seconds):
            return None
        if self.instances:
            self.restart_count += 1
            if "terminated" in self.state:
                self.last_state = {"terminated": self.state["terminated"]}
        self.instances += 1
        self.container_id = f"containerd://{uuid.uuid4().hex}{uuid.uuid4().hex}"
        log = worker.kubelet.container_log(worker.uid, self.container_id)
        ctx = ContainerContext(
            worker.cluster, worker.current_pod(), self.spec, env, self.restart_count, log
        )
        worker.event("Created", f"Created container {self.name}", field=self.field)
        started_at = worker.clock.now()
        self.state = {"running": {"startedAt": kube_timestamp(started_at)}}
        self.started = True
        self.ready = "readinessProbe" not in self.spec and not self.init
        self._unhealthy = False
        worker.publish()
        worker.event("Started", f"Started container {self.name}", field=self.field)
        code = await self._supervise(ctx)
        self._finished_at = worker.clock.now()
        self.state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": kube_timestamp(started_at),
                "finishedAt": kube_timestamp(self._finished_at),
                "containerID": self.container_id,
            }
        }
        self.ready = self.started = False
        worker.publish()
        return code

    async def _supervise(self, ctx: ContainerContext) -> int:
        """The process, its probes, and a stop request (SIGTERM, then SIGKILL after grace; a
        kill is SIGKILL at once)."""
        self._stop_instance = stop = asyncio.Event()
        self._killed = False
        if self.worker.stopping:
            stop.set()
        process = asyncio.create_task(self._process(ctx), name=f"container {self.name}")
        probes = [asyncio.create_task(probe) for probe in self._probes(ctx)]
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({process, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not process.done() and not self._killed:
                ctx.request_stop()
                grace = self.worker.clock.scaled(self.worker.grace_seconds)
                await asyncio.wait({process}, timeout=grace)
            if not process.done():
                process.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await process
                return KILLED_EXIT_CODE
            return process.result()
        finally:
            self._stop_instance = None
            for task in [*probes, stopped, process]:
                task.cancel()
            await asyncio.gather(*probes, stopped, process, return_exceptions=True)
            await ctx.close()

    async def _process(self, ctx: ContainerContext) -> int:
        try:
            code = await self.behaviour.run(ctx)
        except ContainerExit as exit_:
            return exit_.code
        except Exception as error:  # a behaviour's bug is the container's crash
            logger.exception("container %s of pod %s crashed", self.name, self.worker.name)
            ctx.log(f"{type(error).__name__}: {error}")
            return 1
        return code or 0

    def _probes(self, ctx: ContainerContext) -> list[Any]:
        kubelet = self.worker.kubelet
        watches = []
        readiness = self.spec.get("readinessProbe")
        if readiness and not self.init:
            prober = Prober(kubelet, ctx, self.behaviour, readiness)
            watches.append(prober.watch(False, self._set_ready, self._reporter("Readiness")))
        liveness = self.spec.get("livenessProbe")
        if liveness and not self.init:
            prober = Prober(kubelet, ctx, self.behaviour, liveness)
            watches.append(prober.watch(True, self._liveness_changed, self._reporter("Liveness")))
        return watches

    def _set_ready(self, ready: bool) -> None:
        self.ready = ready
        self.worker.publish()

    def _liveness_changed(self, healthy: bool) -> None:
        if healthy or self._stop_instance is None:
            return
        self._unhealthy = True
        self.worker.event(
            "Killing",
            f"Container {self.name} failed liveness probe, will be restarted",
            field=self.field,
        )
        self._stop_instance.set()

    def _reporter(self, kind: str) -> Any:
        def report(failure: str) -> None:
            self.worker.event("Unhealthy", f"{kind} probe failed: {failure}", "Warning", self.field)

        return report

    async def _ensure_image(self) -> bool:
        """Pull the image as the pull policy says, retrying with back-off; False if stopped."""
        worker, kubelet = self.worker, self.worker.kubelet
        policy, image = pull_policy(self.spec), self.image
        key = f"{worker.uid}/{image}"
        while not worker.stopping:
            present = kubelet.images.has(worker.node_name, image)
            if present and policy != "Always":
                message = f'Container image "{image}" already present on machine'
                worker.event("Pulled", message, field=self.field)
                return True
            if policy == "Never":
                message = f'Container image "{image}" is not present with pull policy of Never'
                self._wait("ErrImageNeverPull", message)
                worker.event("ErrImageNeverPull", message, "Warning", self.field)
                if await worker.wait_or_stop(NEVER_PULL_RETRY_SECONDS):
                    return False
                continue
            backoff = kubelet.pull_backoff
            if backoff.in_backoff_since(key, backoff.last_update(key)):
                message = f'Back-off pulling image "{image}"'
                self._wait("ImagePullBackOff", message)
                worker.event("BackOff", message, field=self.field)
                worker.event("Failed", "Error: ImagePullBackOff", "Warning", self.field)
                remaining = backoff.remaining(key, backoff.last_update(key))
                if await worker.wait_or_stop(remaining, wall=True):
                    return False
                continue
            if await self._pull(key, present):
                return True
        return False

    async def _pull(self, key: str, present: bool) -> bool:
        worker, kubelet = self.worker, self.worker.kubelet
        image = self.image
        worker.event("Pulling", f'Pulling image "{image}"', field=self.field)
        seconds = PRESENT_IMAGE_PULL_SECONDS if present else self.behaviour.image_pull_seconds
        fault = worker.cluster.world.faults.take(image_pull_method(image))
        if fault is not None:
            seconds += fault.delay
        if await worker.wait_or_stop(seconds):
            return False
        error = self.behaviour.pull_error(worker.pod, self.spec)
        if error is None and fault is not None and fault.status == 404:
            error = not_found_pull_error(image)
        elif error is None and fault is not None and fault.status is not None:
            error = f"rpc error: code = Unknown desc = {fault.message}"
        if error is not None:
            worker.event(
                "Failed", f'Failed to pull image "{image}": {error}', "Warning", self.field
            )
            worker.event("Failed", "Error: ErrImagePull", "Warning", self.field)
            self._wait("ErrImagePull", error)
            kubelet.pull_backoff.next(key, worker.clock.now())
            await worker.wait_or_stop(ERR_IMAGE_PULL_SECONDS)
            return False
        kubelet.images.add(worker.node_name, image)
        took = go_duration(seconds)
        worker.event(
            "Pulled",
            f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
            f"Image size: {self.behaviour.image_size_bytes} bytes.",
            field=self.field,
        )
        return True

    async def _configure(self) -> dict[str, str] | None:
        """The container's environment; waits while a referenced object is missing."""
        worker = self.worker
        while not worker.stopping:
            try:
                return container_env(worker.cluster.store, worker.current_pod(), self.spec)
            except ContainerConfigError as error:
                self._wait("CreateContainerConfigError", str(error))
                worker.event("Failed", f"Error: {error}", "Warning", self.field)
                if await worker.wait_or_stop(CONFIG_RETRY_SECONDS):
                    return None
        return None

    def _wait(self, reason: str, message: str) -> None:
        self.state = {"waiting": {"reason": reason, "message": message}}
        self.worker.publish()
