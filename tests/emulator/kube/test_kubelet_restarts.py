"""Restarts and back-off: CrashLoopBackOff's 10s..5m delays, restart policies, image pulls."""

import asyncio
import time
from collections.abc import Callable

import pytest
from node_harness import NodeLab, container, container_status, run_on_one_cpu_node

from emulator.core.faults import Fault
from emulator.kube.errors import KubeApiError
from emulator.kube.kubelet import ContainerBehaviour, ContainerContext, not_found_pull_error
from emulator.kube.store import Obj


class Crasher(ContainerBehaviour):
    """Logs its attempt and exits 1 at once."""

    start_seconds = 0.0

    def matches(self, pod: Obj, container: Obj) -> bool:
        return container["image"] == "crasher:1"

    async def run(self, ctx: ContainerContext) -> int | None:
        ctx.log(f"attempt {ctx.restart_count}")
        ctx.exit(1)


async def record_states(lab: NodeLab, name: str, until: Callable[[Obj], bool]) -> list[Obj]:
    """Every container status the pod is written with, with the wall time, until `until`."""
    seen: list[Obj] = []
    pods = lab.type("Pod")
    async for event in lab.store.watch(None):
        obj = event.object
        if event.resource_type == pods and obj["metadata"]["name"] == name:
            status = container_status(obj)
            if status:
                seen.append({**status, "at": time.monotonic()})
                if until(status):
                    return seen
    return seen


def test_a_crashing_container_backs_off_10s_doubling_up_to_five_minutes() -> None:
    async def scenario(lab: NodeLab) -> None:
        recording = asyncio.create_task(
            record_states(lab, "crashy", lambda s: s["restartCount"] >= 8)
        )
        lab.create_pod("crashy", [container(image="crasher:1")])
        states = await asyncio.wait_for(recording, 10)

        waits = [state["state"].get("waiting", {}) for state in states]
        messages = [w["message"] for w in waits if w.get("reason") == "CrashLoopBackOff"]
        uid = lab.pod("crashy")["metadata"]["uid"]
        delays = ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s"]
        assert list(dict.fromkeys(messages)) == [
            f"back-off {delay} restarting failed container=app pod=crashy_default({uid})"
            for delay in delays
        ]
        # The first restart is immediate; then each wait is at least its (scaled) delay.
        before_first_restart = [s for s in states if s["restartCount"] == 0]
        assert "CrashLoopBackOff" not in str(before_first_restart)
        starts = {}
        for state in states:
            if "running" in state["state"]:
                starts.setdefault(state["restartCount"], state["at"])
        scale = lab.world.clock.time_scale
        for count, delay in enumerate([10, 20, 40, 80, 160, 300], start=2):
            assert starts[count] - starts[count - 1] >= delay * scale * 0.95

        pod = lab.pod("crashy")
        status = container_status(pod)
        assert pod["status"]["phase"] == "Running"  # restartPolicy Always: it keeps trying
        last = status["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (1, "Error")
        backoff = [e for e in lab.events("crashy") if e["reason"] == "BackOff"]
        assert backoff[0]["type"] == "Warning" and backoff[0]["count"] >= 6
        assert backoff[0]["message"] == (
            f"Back-off restarting failed container app in pod crashy_default({uid})"
        )

    run_on_one_cpu_node(scenario, Crasher())


def test_logs_of_a_crash_looping_container_and_its_previous_run() -> None:
    async def scenario(lab: NodeLab) -> None:
        created = time.time()
        lab.create_pod("crashy", [container(image="crasher:1")])
        await lab.wait_for(lambda: container_status(lab.pod("crashy")).get("restartCount", 0) >= 2)
        await lab.wait_for(
            lambda: (
                container_status(lab.pod("crashy"))["state"].get("waiting", {}).get("reason")
                == "CrashLoopBackOff"
            )
        )
        count = container_status(lab.pod("crashy"))["restartCount"]
        # While it waits to restart, both show the run that just ended (as the kubelet does).
        current = lab.kubelet.logs("default", "crashy")
        previous = lab.kubelet.logs("default", "crashy", previous=True)
        assert [line for _, line in current] == [f"attempt {count}"]
        assert previous == current
        assert created <= current[0][0] <= time.time()

    run_on_one_cpu_node(scenario, Crasher())


def test_restart_policies_decide_the_phase() -> None:
    class Exits(ContainerBehaviour):
        """`exits:<code>` exits with that code; `flaky:1` fails once, then succeeds."""

        start_seconds = 0.0

        def matches(self, pod: Obj, container: Obj) -> bool:
            return container["image"].split(":")[0] in ("exits", "flaky")

        async def run(self, ctx: ContainerContext) -> int | None:
            image = ctx.container["image"]
            if image.startswith("flaky"):
                return 1 if ctx.restart_count == 0 else 0
            return int(image.split(":")[1])

    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("done", [container(image="exits:0")], restartPolicy="Never")
        lab.create_pod("broken", [container(image="exits:3")], restartPolicy="Never")
        lab.create_pod("retried", [container(image="flaky:1")], restartPolicy="OnFailure")

        def phase(name: str) -> str:
            return str(lab.pod(name)["status"].get("phase"))

        await lab.wait_for(
            lambda: (
                (phase("done"), phase("broken"), phase("retried"))
                == ("Succeeded", "Failed", "Succeeded")
            )
        )
        done = container_status(lab.pod("done"))
        assert done["state"]["terminated"]["reason"] == "Completed" and not done["ready"]
        broken = container_status(lab.pod("broken"))["state"]["terminated"]
        assert (broken["exitCode"], broken["reason"]) == (3, "Error")
        retried = container_status(lab.pod("retried"))
        assert retried["restartCount"] == 1
        assert retried["lastState"]["terminated"]["exitCode"] == 1
        ready = next(c for c in lab.pod("done")["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")

    run_on_one_cpu_node(scenario, Exits())


def test_an_image_that_cannot_be_pulled_backs_off() -> None:
    class Missing(ContainerBehaviour):
        def matches(self, pod: Obj, container: Obj) -> bool:
            return container["image"].endswith(":no-such-tag")

        def pull_error(self, pod: Obj, container: Obj) -> str | None:
            return not_found_pull_error(container["image"])

    async def scenario(lab: NodeLab) -> None:
        image = "us-docker.pkg.dev/cloud-tpu-images/inference/sax-http:no-such-tag"
        lab.create_pod("http", [container(image=image)])

        def waiting() -> Obj:
            return container_status(lab.pod("http")).get("state", {}).get("waiting", {})

        error = await lab.wait_for(lambda: waiting().get("reason") == "ErrImagePull" and waiting())
        assert error["message"] == (
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            f'failed to resolve reference "{image}": {image}: not found'
        )
        backoff = await lab.wait_for(
            lambda: waiting().get("reason") == "ImagePullBackOff" and waiting()
        )
        assert backoff["message"] == f'Back-off pulling image "{image}"'
        with pytest.raises(KubeApiError) as logs:
            lab.kubelet.logs("default", "http")
        assert logs.value.message == (
            'container "app" in pod "http" is waiting to start: trying and failing to pull image'
        )
        messages = {(e["reason"], e["message"]) for e in lab.events("http")}
        assert ("Failed", f'Failed to pull image "{image}": {error["message"]}') in messages
        assert ("Failed", "Error: ErrImagePull") in messages
        assert ("BackOff", f'Back-off pulling image "{image}"') in messages
        assert ("Failed", "Error: ImagePullBackOff") in messages
        assert lab.pod("http")["status"]["phase"] == "Pending"

    run_on_one_cpu_node(scenario, Missing())


def test_an_injected_pull_fault_fails_one_pull_then_the_retry_succeeds() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.world.faults.add(
            Fault(method="kubelet.images.pull/*sax-admin*", status=503, message="registry down")
        )
        image = "us-docker.pkg.dev/cloud-tpu-images/inference/sax-admin-server:v1.2.0"
        lab.create_pod("admin", [container(image=image)])
        await lab.wait_for(
            lambda: (container_status(lab.pod("admin")).get("state") or {}).get("running")
        )
        status = container_status(lab.pod("admin"))
        assert status["restartCount"] == 0
        failures = [e["message"] for e in lab.events("admin") if e["reason"] == "Failed"]
        assert (
            f'Failed to pull image "{image}": rpc error: code = Unknown desc = registry down'
            in (failures)
        )
        assert lab.world.faults.active == []

    run_on_one_cpu_node(scenario)
