"""The kubelet: a pod's life on its node, its status and events, logs, env, and deletion."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from node_harness import (
    NodeLab,
    condition,
    container,
    container_status,
    cpu_nodes,
    tpu_nodes,
)

from emulator.kube.errors import KubeApiError
from emulator.kube.kubelet import ContainerBehaviour, ContainerContext

Pod = dict[str, Any]


def run(scenario: Callable[[NodeLab], Any], *behaviours: ContainerBehaviour) -> None:
    async def main() -> None:
        async with NodeLab() as lab:
            lab.kubelet.behaviours.extend(behaviours)
            lab.sync_nodes(cpu_nodes("default-pool", 2))
            await scenario(lab)

    asyncio.run(main())


class ByImage(ContainerBehaviour):
    """A behaviour for one image name."""

    image = ""

    def matches(self, pod: Pod, container: Pod) -> bool:
        return container["image"] == self.image


def ready(lab: NodeLab, name: str) -> bool:
    found = condition(lab.pod(name), "Ready")
    return bool(found and found["status"] == "True")


def test_a_pod_starts_becomes_ready_and_reports_it() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("web")
        await lab.wait_for(lambda: ready(lab, "web"))

        pod = lab.pod("web")
        status = pod["status"]
        node = lab.store.get(lab.type("Node"), "", pod["spec"]["nodeName"])
        assert status["phase"] == "Running"
        assert status["hostIP"] == node["status"]["addresses"][0]["address"]
        assert status["podIP"].startswith(node["spec"]["podCIDR"].rsplit(".", 1)[0] + ".")
        assert status["podIPs"] == [{"ip": status["podIP"]}]
        for kind in ("PodScheduled", "PodReadyToStartContainers", "Initialized"):
            assert condition(pod, kind)["status"] == "True"
        assert condition(pod, "ContainersReady")["status"] == "True"
        app = container_status(pod)
        assert app["ready"] and app["started"] and app["restartCount"] == 0
        assert set(app["state"]) == {"running"}
        assert app["containerID"].startswith("containerd://")
        assert app["imageID"].startswith("docker.io/library/busybox@sha256:")

        reasons = [e["reason"] for e in sorted(lab.events("web"), key=_created)]
        assert reasons == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
        pulled = next(e for e in lab.events("web") if e["reason"] == "Pulled")
        assert pulled["message"] == (
            'Successfully pulled image "busybox:1.36" in 5s (5s including waiting). '
            "Image size: 50000000 bytes."
        )
        assert pulled["source"] == {"component": "kubelet", "host": pod["spec"]["nodeName"]}
        assert pulled["involvedObject"]["fieldPath"] == "spec.containers{app}"

        lines = await lab.wait_for(lambda: lab.kubelet.logs("default", "web", "app"))
        assert [line for _, line in lines] == ["Started app (busybox:1.36)"]
        assert abs(lines[0][0] - time.time()) < 5

        # The image is on that node now: the next pod there does not pull it again.
        lab.create_pod("web-2", nodeName=pod["spec"]["nodeName"])
        await lab.wait_for(lambda: ready(lab, "web-2"))
        messages = [e["message"] for e in lab.events("web-2")]
        assert 'Container image "busybox:1.36" already present on machine' in messages

    run(scenario)


def _created(event: Pod) -> tuple[str, str]:
    return (event["firstTimestamp"], event["metadata"]["resourceVersion"].zfill(10))


def test_pending_states_are_reported_while_the_image_is_pulled() -> None:
    class SlowPull(ByImage):
        image = "huge:1"
        image_pull_seconds = 300.0

    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("big", [container(image="huge:1")])
        await lab.wait_for(lambda: lab.pod("big")["status"].get("podIP"))
        pod = lab.pod("big")
        assert pod["status"]["phase"] == "Pending"
        assert container_status(pod)["state"] == {"waiting": {"reason": "ContainerCreating"}}
        assert condition(pod, "Ready") == {
            **condition(pod, "Ready"),
            "status": "False",
            "reason": "ContainersNotReady",
            "message": "containers with unready status: [app]",
        }
        with pytest.raises(KubeApiError) as waiting:
            lab.kubelet.logs("default", "big")
        assert waiting.value.code == 400
        assert waiting.value.message == (
            'container "app" in pod "big" is waiting to start: ContainerCreating'
        )
        await lab.wait_for(lambda: ready(lab, "big"))

    run(scenario, SlowPull())


def test_host_network_pods_use_their_node_ip() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.sync_nodes(cpu_nodes("default-pool", 2) + tpu_nodes("tpu1", 1))
        lab.create_pod("host", hostNetwork=True)
        await lab.wait_for(lambda: ready(lab, "host"))
        status = lab.pod("host")["status"]
        assert status["podIP"] == status["hostIP"]

    run(scenario)


def test_env_args_and_a_missing_config_map() -> None:
    seen: dict[str, Any] = {}

    class Recorder(ByImage):
        image = "recorder:1"

        async def run(self, ctx: ContainerContext) -> int | None:
            seen.update(env=ctx.env, args=ctx.args, command=ctx.command, ip=ctx.pod_ip)
            ctx.log("recorded")
            await ctx.wait_until_stopped()
            return 0

    async def scenario(lab: NodeLab) -> None:
        env = [
            {"name": "SAX_ROOT", "value": "gs://bucket/sax-root"},
            {"name": "CELL", "valueFrom": {"configMapKeyRef": {"name": "sax", "key": "cell"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "ROLE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['role']"}}},
        ]
        spec = container(
            image="recorder:1",
            env=env,
            command=["/usr/bin/server"],
            args=["--sax_cell=$(CELL)", "--root=$(SAX_ROOT)", "--literal=$$(CELL)"],
        )
        lab.create_pod("server", [spec], labels={"role": "model"})

        message = await lab.wait_for(
            lambda: (
                container_status(lab.pod("server"))
                .get("state", {})
                .get("waiting", {})
                .get("message")
            )
        )
        state = container_status(lab.pod("server"))["state"]["waiting"]
        assert state["reason"] == "CreateContainerConfigError"
        assert message == 'configmap "sax" not found'
        failed = [e["message"] for e in lab.events("server") if e["reason"] == "Failed"]
        assert failed == ['Error: configmap "sax" not found']

        lab.store.create(
            lab.type("ConfigMap"),
            {"metadata": {"name": "sax", "namespace": "default"}, "data": {"cell": "/sax/test"}},
        )
        await lab.wait_for(lambda: ready(lab, "server") and seen)
        pod = lab.pod("server")
        assert seen["env"]["SAX_ROOT"] == "gs://bucket/sax-root"
        assert seen["env"]["CELL"] == "/sax/test"
        assert seen["env"]["POD_IP"] == pod["status"]["podIP"] == seen["ip"]
        assert seen["env"]["NODE"] == pod["spec"]["nodeName"]
        assert seen["env"]["ROLE"] == "model"
        assert seen["env"]["HOSTNAME"] == "server"
        assert seen["command"] == ["/usr/bin/server"]
        assert seen["args"] == [
            "--sax_cell=/sax/test",
            "--root=gs://bucket/sax-root",
            "--literal=$(CELL)",
        ]

    run(scenario, Recorder())


def test_deletion_stops_containers_gracefully_then_removes_the_pod() -> None:
    stopped: list[str] = []

    class Polite(ByImage):
        image = "polite:1"

        async def run(self, ctx: ContainerContext) -> int | None:
            ctx.log("serving")
            await ctx.wait_until_stopped()
            ctx.log("shutting down")
            stopped.append(ctx.pod_name)
            return 0

    class Stubborn(ByImage):
        image = "stubborn:1"

        async def run(self, ctx: ContainerContext) -> int | None:
            await asyncio.sleep(3600)  # ignores SIGTERM
            return 0

    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("polite", [container(image="polite:1")])
        lab.create_pod("stubborn", [container(image="stubborn:1")], terminationGracePeriodSeconds=5)
        await lab.wait_for(lambda: ready(lab, "polite") and ready(lab, "stubborn"))
        pods = lab.type("Pod")
        final: dict[str, Pod] = {}

        since = int(lab.store.resource_version)

        async def watch() -> None:
            async for event in lab.store.watch(since):
                obj = event.object
                if event.resource_type == pods and event.type == "MODIFIED":
                    final[obj["metadata"]["name"]] = obj

        watcher = asyncio.create_task(watch())
        for name in ("polite", "stubborn"):
            deleting = lab.store.delete(pods, "default", name)
            assert deleting["metadata"]["deletionTimestamp"]
        await lab.wait_for(lambda: not lab.store.list_objects(pods, "default"))
        await lab.wait_for(lambda: "polite" in final and "stubborn" in final)
        watcher.cancel()

        assert stopped == ["polite"]
        polite = container_status(final["polite"])["state"]["terminated"]
        assert (polite["exitCode"], polite["reason"]) == (0, "Completed")
        assert final["polite"]["status"]["phase"] == "Succeeded"
        stubborn = container_status(final["stubborn"])["state"]["terminated"]
        assert (stubborn["exitCode"], stubborn["reason"]) == (137, "Error")  # SIGKILL after grace
        assert final["stubborn"]["status"]["phase"] == "Failed"
        killing = [e["message"] for e in lab.events("polite") if e["reason"] == "Killing"]
        assert killing == ["Stopping container app"]

    run(scenario, Polite(), Stubborn())


def test_log_requests_name_a_container_as_the_api_server_requires() -> None:
    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("pair", [container("left"), container("right")])
        await lab.wait_for(lambda: ready(lab, "pair"))

        with pytest.raises(KubeApiError) as unnamed:
            lab.kubelet.logs("default", "pair")
        assert unnamed.value.code == 400
        assert unnamed.value.message == (
            "a container name must be specified for pod pair, choose one of: [left right]"
        )
        with pytest.raises(KubeApiError) as wrong:
            lab.kubelet.logs("default", "pair", "middle")
        assert wrong.value.message == "container middle is not valid for pod pair"
        with pytest.raises(KubeApiError) as previous:
            lab.kubelet.logs("default", "pair", "left", previous=True)
        assert previous.value.message == (
            'previous terminated container "left" in pod "pair" not found'
        )
        with pytest.raises(KubeApiError) as missing:
            lab.kubelet.logs("default", "nobody")
        assert missing.value.code == 404
        lines = await lab.wait_for(lambda: lab.kubelet.logs("default", "pair", "right"))
        assert [line for _, line in lines] == ["Started right (busybox:1.36)"]

    run(scenario)


def test_follow_streams_lines_until_the_container_ends() -> None:
    class Counter(ByImage):
        image = "counter:1"

        async def run(self, ctx: ContainerContext) -> int | None:
            for index in range(3):
                ctx.log(f"line {index}")
                await ctx.sleep(5)
            return 0

    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("counter", [container(image="counter:1")], restartPolicy="Never")
        await lab.wait_for(lambda: container_status(lab.pod("counter")).get("started"))
        lines = [line async for _, line in lab.kubelet.follow_logs("default", "counter")]
        assert lines == ["line 0", "line 1", "line 2"]
        await lab.wait_for(lambda: lab.pod("counter")["status"]["phase"] == "Succeeded")
        tail = [line async for _, line in lab.kubelet.follow_logs("default", "counter", start=2)]
        assert tail == ["line 2"]

    run(scenario, Counter())


def test_removing_the_node_stops_its_pods_and_their_ports() -> None:
    class Server(ByImage):
        image = "server:1"

        async def run(self, ctx: ContainerContext) -> int | None:
            async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.close()

            await ctx.serve_tcp(9000, echo)
            await ctx.wait_until_stopped()
            return 0

    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("server", [container(image="server:1")])
        await lab.wait_for(lambda: ready(lab, "server"))
        pod_ip = lab.pod("server")["status"]["podIP"]
        await lab.wait_for(lambda: lab.network.resolve(pod_ip, 9000))

        lab.sync_nodes([])
        await lab.wait_for(lambda: lab.network.resolve(pod_ip, 9000) is None)
        assert lab.pod("server")["status"]["phase"] == "Failed"

    run(scenario, Server())


def test_after_a_restart_of_the_emulator_running_containers_restart_on_their_nodes() -> None:
    async def scenario() -> None:
        nodes = cpu_nodes("default-pool", 1)
        async with NodeLab() as first:
            first.sync_nodes(nodes)
            first.create_pod("web")
            await first.wait_for(lambda: ready(first, "web"))
            before = first.pod("web")
            state = first.store.dump()

        async with NodeLab() as second:
            second.store.load(state)
            second.sync_nodes(nodes)  # GKE tells the restored cluster its nodes again
            await second.wait_for(
                lambda: (
                    container_status(second.pod("web")).get("restartCount") == 1
                    and ready(second, "web")
                )
            )
            pod = second.pod("web")
            last = container_status(pod)["lastState"]["terminated"]
            assert (last["exitCode"], last["reason"]) == (255, "Unknown")
            assert pod["status"]["podIP"] == before["status"]["podIP"]
            assert pod["status"]["startTime"] == before["status"]["startTime"]
            second.create_pod("other")
            await second.wait_for(lambda: ready(second, "other"))
            assert second.pod("other")["status"]["podIP"] != pod["status"]["podIP"]

    asyncio.run(scenario())


def test_init_containers_run_to_completion_before_the_app_starts() -> None:
    class FailingInit(ByImage):
        image = "migrate:broken"

        async def run(self, ctx: ContainerContext) -> int | None:
            ctx.log("migration failed")
            return 1

    async def scenario(lab: NodeLab) -> None:
        lab.create_pod("ok", [container()], initContainers=[container("setup")])
        lab.create_pod(
            "never",
            [container()],
            initContainers=[container("setup", image="migrate:broken")],
            restartPolicy="Never",
        )
        lab.create_pod(
            "looping", [container()], initContainers=[container("setup", image="migrate:broken")]
        )
        await lab.wait_for(lambda: ready(lab, "ok"))
        setup = lab.pod("ok")["status"]["initContainerStatuses"][0]
        assert setup["state"]["terminated"]["reason"] == "Completed"
        assert condition(lab.pod("ok"), "Initialized")["status"] == "True"

        await lab.wait_for(lambda: lab.pod("never")["status"]["phase"] == "Failed")
        app = container_status(lab.pod("never"))
        assert app["state"] == {"waiting": {"reason": "PodInitializing"}}

        def init_state(name: str) -> Pod:
            statuses = lab.pod(name)["status"].get("initContainerStatuses") or [{}]
            return dict(statuses[0].get("state") or {})

        await lab.wait_for(
            lambda: init_state("looping").get("waiting", {}).get("reason") == "CrashLoopBackOff"
        )
        pod = lab.pod("looping")
        assert pod["status"]["phase"] == "Pending"
        initialized = condition(pod, "Initialized")
        assert (initialized["status"], initialized["reason"]) == (
            "False",
            "ContainersNotInitialized",
        )
        assert initialized["message"] == "containers with incomplete status: [setup]"
        assert [line for _, line in lab.kubelet.logs("default", "looping", "setup")] == [
            "migration failed"
        ]

    run(scenario, FailingInit())
