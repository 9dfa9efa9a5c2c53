"""Deployments, ReplicaSets and Jobs, driven through the store as the API server writes it."""

from typing import Any

from controller_harness import Harness, container, eventually, run

from emulator.kube.controllers import DeploymentController, JobController, ReplicaSetController
from emulator.kube.controllers.deployment import HASH_LABEL, REVISION
from emulator.kube.controllers.job import COMPLETION_INDEX, TRACKING_FINALIZER


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container("web", image=image)]},
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
        },
    }


def status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status(obj).get("conditions", []) if c["type"] == kind)


def test_a_deployment_runs_its_replicas_through_a_replicaset_and_becomes_available() -> None:
    async def scenario() -> None:
        cluster = Harness()
        cluster.start(DeploymentController(cluster), ReplicaSetController(cluster))
        created = await cluster.create("apps/v1", "Deployment", deployment())

        replicasets = await eventually(lambda: cluster.objects("apps/v1", "ReplicaSet"))
        (rs,) = replicasets
        template_hash = rs["metadata"]["labels"][HASH_LABEL]
        assert rs["metadata"]["name"] == f"web-{template_hash}"
        assert rs["metadata"]["annotations"][REVISION] == "1"
        assert rs["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "uid": created["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: template_hash}
        pods = await eventually(lambda: len(cluster.pods()) == 3 and cluster.pods())
        for pod in pods:
            assert pod["metadata"]["name"].startswith(f"web-{template_hash}-")
            assert pod["metadata"]["labels"] == {"app": "web", HASH_LABEL: template_hash}
            assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]

        unavailable = cluster.get("apps/v1", "Deployment", "web")
        assert condition(unavailable, "Available")["status"] == "False"
        assert condition(unavailable, "Available")["reason"] == "MinimumReplicasUnavailable"

        cluster.start_kubelet()
        ready = await eventually(
            lambda: (
                (d := cluster.get("apps/v1", "Deployment", "web"))
                and status(d).get("availableReplicas") == 3
                and d
            )
        )
        assert status(ready)["replicas"] == 3
        assert status(ready)["updatedReplicas"] == 3
        assert status(ready)["readyReplicas"] == 3
        assert status(ready)["observedGeneration"] == 1
        assert "unavailableReplicas" not in status(ready)
        assert condition(ready, "Available")["reason"] == "MinimumReplicasAvailable"
        progressing = await eventually(
            lambda: (
                condition(cluster.get("apps/v1", "Deployment", "web"), "Progressing")
                if condition(cluster.get("apps/v1", "Deployment", "web"), "Progressing")["reason"]
                == "NewReplicaSetAvailable"
                else None
            )
        )
        assert (
            progressing["message"]
            == f'ReplicaSet "web-{template_hash}" has successfully progressed.'
        )
        assert ready["metadata"]["annotations"][REVISION] == "1"
        rs_status = status(cluster.get("apps/v1", "ReplicaSet", f"web-{template_hash}"))
        assert rs_status == {
            "replicas": 3,
            "fullyLabeledReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
            "observedGeneration": 1,
        }
        await cluster.stop()

    run(scenario)


def test_a_template_change_rolls_over_within_max_surge_and_max_unavailable() -> None:
    async def scenario() -> None:
        cluster = Harness()
        cluster.start(DeploymentController(cluster), ReplicaSetController(cluster))
        cluster.start_kubelet()
        await cluster.create("apps/v1", "Deployment", deployment())
        await eventually(
            lambda: (
                status(cluster.get("apps/v1", "Deployment", "web")).get("availableReplicas") == 3
            )
        )
        (old_rs,) = cluster.objects("apps/v1", "ReplicaSet")

        current = cluster.get("apps/v1", "Deployment", "web")
        current["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
        cluster.store.replace(cluster.type("apps/v1", "Deployment"), current)

        most_pods, least_available = 0, 3
        while True:
            live = [p for p in cluster.pods() if not p["metadata"].get("deletionTimestamp")]
            available = sum(
                1
                for p in live
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in status(p).get("conditions", [])
                )
            )
            most_pods = max(most_pods, len(live))
            least_available = min(least_available, available)
            rollout = cluster.get("apps/v1", "Deployment", "web")
            rollout_status = status(rollout)
            if (
                rollout_status.get("observedGeneration") == 2
                and rollout_status.get("updatedReplicas") == 3
                and rollout_status.get("availableReplicas") == 3
                and rollout_status.get("replicas") == 3
            ):
                break
            await cluster.store.wait_for_change(0.01)
        assert most_pods <= 4  # replicas + maxSurge
        assert least_available >= 3  # replicas - maxUnavailable

        replicasets = {
            rs["metadata"]["name"]: rs for rs in cluster.objects("apps/v1", "ReplicaSet")
        }
        new_rs = next(rs for name, rs in replicasets.items() if name != old_rs["metadata"]["name"])
        assert new_rs["metadata"]["annotations"][REVISION] == "2"
        assert rollout["metadata"]["annotations"][REVISION] == "2"
        assert rollout["status"]["observedGeneration"] == 2
        await eventually(
            lambda: (
                cluster.get("apps/v1", "ReplicaSet", old_rs["metadata"]["name"])["spec"]["replicas"]
                == 0
            )
        )
        await eventually(lambda: len(cluster.pods()) == 3)
        new_hash = new_rs["metadata"]["labels"][HASH_LABEL]
        assert {p["metadata"]["labels"][HASH_LABEL] for p in cluster.pods()} == {new_hash}
        events = [e["message"] for e in cluster.objects("v1", "Event")]
        assert f"Scaled up replica set {new_rs['metadata']['name']} from 0 to 1" in events
        assert f"Scaled down replica set {old_rs['metadata']['name']} from 3 to 2" in events
        await cluster.stop()

    run(scenario)


def test_a_replicaset_scaled_down_deletes_its_unready_pods_first() -> None:
    async def scenario() -> None:
        cluster = Harness()
        cluster.start(ReplicaSetController(cluster))
        template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [container()]}}
        await cluster.create(
            "apps/v1",
            "ReplicaSet",
            {
                "metadata": {"name": "x"},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": template,
                },
            },
        )
        pods = await eventually(lambda: len(cluster.pods()) == 3 and cluster.pods())
        ready = pods[:2]
        for pod in ready:
            cluster.bind(pod, "node-1")
            cluster.run_ready(pod)
        rs = cluster.get("apps/v1", "ReplicaSet", "x")
        rs["spec"]["replicas"] = 2
        cluster.store.replace(cluster.type("apps/v1", "ReplicaSet"), rs)
        remaining = await eventually(lambda: len(cluster.pods()) == 2 and cluster.pods())
        assert {p["metadata"]["name"] for p in remaining} == {p["metadata"]["name"] for p in ready}
        await eventually(
            lambda: status(cluster.get("apps/v1", "ReplicaSet", "x")).get("replicas") == 2
        )
        await cluster.stop()

    run(scenario)


def indexed_job(name: str, completions: int, parallelism: int, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "completionMode": "Indexed",
            "template": {
                "metadata": {"labels": {"job-name": name}},
                "spec": {"restartPolicy": "Never", "containers": [container()]},
            },
            **spec,
        },
    }


def test_an_indexed_job_names_its_pods_by_index_and_completes() -> None:
    async def scenario() -> None:
        cluster = Harness()
        cluster.start(JobController(cluster))
        await cluster.create("batch/v1", "Job", indexed_job("train", completions=3, parallelism=2))

        first = await eventually(lambda: len(cluster.pods()) == 2 and cluster.pods())
        by_index = {p["metadata"]["annotations"][COMPLETION_INDEX]: p for p in first}
        assert set(by_index) == {"0", "1"}
        pod = by_index["1"]
        assert pod["metadata"]["name"].startswith("train-1-")
        assert len(pod["metadata"]["name"]) == len("train-1-") + 5
        assert pod["metadata"]["labels"][COMPLETION_INDEX] == "1"
        assert pod["spec"]["hostname"] == "train-1"
        assert pod["metadata"]["finalizers"] == [TRACKING_FINALIZER]
        assert {
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}},
        } in pod["spec"]["containers"][0]["env"]
        job_status = await eventually(
            lambda: (
                status(cluster.get("batch/v1", "Job", "train")).get("active") == 2
                and status(cluster.get("batch/v1", "Job", "train"))
            )
        )
        assert job_status["ready"] == 0
        assert "startTime" in job_status

        cluster.run_ready(by_index["0"])
        await eventually(lambda: status(cluster.get("batch/v1", "Job", "train"))["ready"] == 1)
        cluster.set_phase(by_index["0"], "Succeeded")
        third = await eventually(
            lambda: next(
                (
                    p
                    for p in cluster.pods()
                    if p["metadata"]["annotations"][COMPLETION_INDEX] == "2"
                ),
                None,
            )
        )
        assert third["spec"]["hostname"] == "train-2"
        cluster.set_phase(by_index["1"], "Succeeded")
        cluster.set_phase(third, "Succeeded")

        done = await eventually(
            lambda: (
                (job := cluster.get("batch/v1", "Job", "train"))
                and any(c["type"] == "Complete" for c in status(job).get("conditions", []))
                and job
            )
        )
        assert status(done)["succeeded"] == 3
        assert status(done)["completedIndexes"] == "0-2"
        assert "active" not in status(done)
        assert "completionTime" in status(done)
        assert condition(done, "SuccessCriteriaMet")["reason"] == "CompletionsReached"
        assert condition(done, "Complete")["message"] == "Reached expected number of succeeded pods"
        await eventually(
            lambda: all(
                TRACKING_FINALIZER not in p["metadata"].get("finalizers", [])
                for p in cluster.pods()
            )
        )
        await cluster.stop()

    run(scenario)


def test_a_job_past_its_backoff_limit_fails() -> None:
    async def scenario() -> None:
        cluster = Harness()
        cluster.start(JobController(cluster))
        await cluster.create(
            "batch/v1", "Job", indexed_job("flaky", completions=1, parallelism=1, backoffLimit=1)
        )
        (first,) = await eventually(lambda: cluster.pods())
        cluster.set_phase(first, "Failed")
        second = await eventually(
            lambda: next(
                (p for p in cluster.pods() if p["metadata"]["name"] != first["metadata"]["name"]),
                None,
            )
        )
        assert second["metadata"]["name"].startswith("flaky-0-")
        assert status(cluster.get("batch/v1", "Job", "flaky"))["failed"] == 1
        cluster.set_phase(second, "Failed")

        failed = await eventually(
            lambda: (
                (job := cluster.get("batch/v1", "Job", "flaky"))
                and any(c["type"] == "Failed" for c in status(job).get("conditions", []))
                and job
            )
        )
        assert status(failed)["failed"] == 2
        assert condition(failed, "FailureTarget")["reason"] == "BackoffLimitExceeded"
        assert condition(failed, "Failed")["reason"] == "BackoffLimitExceeded"
        assert (
            condition(failed, "Failed")["message"] == "Job has reached the specified backoff limit"
        )
        assert len(cluster.pods()) == 2  # failed pods stay, for their logs
        events = {(e["reason"], e["type"]) for e in cluster.objects("v1", "Event")}
        assert ("BackoffLimitExceeded", "Warning") in events
        await cluster.stop()

    run(scenario)


def test_a_recreate_deployment_stops_every_old_pod_before_starting_new_ones() -> None:
    async def scenario() -> None:
        cluster = Harness()
        cluster.start(DeploymentController(cluster), ReplicaSetController(cluster))
        cluster.start_kubelet()
        body = deployment(replicas=2)
        body["spec"]["strategy"] = {"type": "Recreate"}
        await cluster.create("apps/v1", "Deployment", body)
        await eventually(
            lambda: (
                status(cluster.get("apps/v1", "Deployment", "web")).get("availableReplicas") == 2
            )
        )
        (old_rs,) = cluster.objects("apps/v1", "ReplicaSet")
        old_pods = {p["metadata"]["name"] for p in cluster.pods()}

        current = cluster.get("apps/v1", "Deployment", "web")
        current["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
        cluster.store.replace(cluster.type("apps/v1", "Deployment"), current)
        while True:
            names = {p["metadata"]["name"] for p in cluster.pods()}
            assert not (names & old_pods and names - old_pods), "old and new pods overlapped"
            rollout = status(cluster.get("apps/v1", "Deployment", "web"))
            if rollout.get("observedGeneration") == 2 and rollout.get("availableReplicas") == 2:
                break
            await cluster.store.wait_for_change(0.01)
        assert (
            cluster.get("apps/v1", "ReplicaSet", old_rs["metadata"]["name"])["spec"]["replicas"]
            == 0
        )
        await cluster.stop()

    run(scenario)
