"""JobSet's controller and webhooks, driven through the store as the API server writes it."""

from typing import Any

from controller_harness import Harness, container, eventually, run

from emulator.kube.controllers import JobController, JobSetController
from emulator.kube.controllers import jobset_api as api
from emulator.kube.controllers.job import COMPLETION_INDEX
from emulator.kube.controllers.jobset_webhooks import JobSetWebhooks
from emulator.kube.jobset_release import release_objects

POOL = "cloud.google.com/gke-nodepool"
WEBHOOK_SERVICE = "jobset-webhook-service"
MANAGER_IP = "10.8.0.250"


def release(kind: str) -> list[dict[str, Any]]:
    """The release's objects of one kind."""
    return [obj for obj in release_objects() if obj["kind"] == kind]


def jobset_crd() -> dict[str, Any]:
    return release("CustomResourceDefinition")[0]


def serve_jobset_manager(cluster: Harness) -> None:
    """What the release's manager pod brings up, written straight into the store: the webhook
    configurations, the webhook Service with a ready endpoint whose port serves JobSet's
    handlers, and its Deployment Available."""
    store = cluster.store
    store.create(cluster.type("v1", "Namespace"), {"metadata": {"name": api.MANAGER_NAMESPACE}})
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for configuration in release(kind):
            store.create(cluster.type("admissionregistration.k8s.io/v1", kind), configuration)
    (service,) = [s for s in release("Service") if s["metadata"]["name"] == WEBHOOK_SERVICE]
    store.create(cluster.type("v1", "Service"), service)
    endpoints = {
        "metadata": {"name": WEBHOOK_SERVICE, "namespace": api.MANAGER_NAMESPACE},
        "subsets": [{"addresses": [{"ip": MANAGER_IP}], "ports": [{"port": 9443}]}],
    }
    store.create(cluster.type("v1", "Endpoints"), endpoints)
    cluster.network.register_listener(MANAGER_IP, 9443, ("127.0.0.1", 9))
    cluster.network.register_admission(MANAGER_IP, 9443, JobSetWebhooks(store).handlers())
    manager = {
        "metadata": {"name": api.MANAGER_DEPLOYMENT, "namespace": api.MANAGER_NAMESPACE},
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }
    store.create(cluster.type("apps/v1", "Deployment"), manager)


def jobset(name: str = "serve", replicas: int = 2, pods: int = 2, max_restarts: int = 1) -> dict:
    return {
        "apiVersion": api.API_VERSION,
        "kind": "JobSet",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {api.EXCLUSIVE_TOPOLOGY: POOL},
        },
        "spec": {
            "failurePolicy": {"maxRestarts": max_restarts},
            "replicatedJobs": [
                {
                    "name": "workers",
                    "replicas": replicas,
                    "template": {
                        "spec": {
                            "parallelism": pods,
                            "completions": pods,
                            "backoffLimit": 0,
                            "template": {"spec": {"containers": [container("worker")]}},
                        }
                    },
                }
            ],
        },
    }


def labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("labels") or {}


def index(pod: dict[str, Any]) -> str:
    return pod["metadata"]["annotations"][COMPLETION_INDEX]


def pods_of(cluster: Harness, job: str) -> list[dict[str, Any]]:
    return [
        p
        for p in cluster.pods()
        if p["metadata"]["ownerReferences"][0]["name"] == job
        and not p["metadata"].get("deletionTimestamp")
    ]


def jobset_status(cluster: Harness) -> dict[str, Any]:
    return cluster.get(api.API_VERSION, "JobSet", "serve").get("status") or {}


def test_the_jobset_controller_and_webhooks_work_only_while_the_manager_is_available() -> None:
    async def scenario() -> None:
        cluster = Harness()
        controller = JobSetController(cluster)
        cluster.start(controller)
        jobset_pod = {
            "metadata": {
                "generateName": "p-",
                "labels": {api.JOBSET_NAME: "x"},
                "annotations": {api.JOBSET_NAME: "x"},
            },
            "spec": {"containers": [container()]},
        }
        cluster.install_crd(jobset_crd())
        assert not controller.active()  # installed, but its manager does not run yet
        untouched = await cluster.create("v1", "Pod", jobset_pod)
        assert api.PRIORITY not in labels(untouched)  # no webhook configured

        serve_jobset_manager(cluster)
        assert controller.active()
        mutated = await cluster.create("v1", "Pod", jobset_pod)
        assert labels(mutated)[api.PRIORITY] == "0"  # mpod.kb.io

        manager = cluster.get("apps/v1", "Deployment", api.MANAGER_DEPLOYMENT, "jobset-system")
        manager["status"]["conditions"][0]["status"] = "False"
        cluster.store.replace(cluster.type("apps/v1", "Deployment"), manager, "status")
        assert not controller.active()
        cluster.remove_crd(api.CRD_NAME)
        assert not controller.active()
        await cluster.stop()

    run(scenario)


def test_a_jobset_places_one_child_job_per_node_pool_and_restarts_after_a_failure() -> None:
    async def scenario() -> None:
        cluster = Harness()
        for pool in ("pool-a", "pool-b"):
            for host in (1, 2):
                cluster.add_node(f"{pool}-{host}", {POOL: pool})
        cluster.start(JobSetController(cluster), JobController(cluster))
        cluster.start_kubelet(node=None)
        cluster.install_crd(jobset_crd())
        serve_jobset_manager(cluster)
        created = await cluster.api_server.create(cluster.type(api.API_VERSION, "JobSet"), jobset())

        # mjobset's defaults
        rjob = created["spec"]["replicatedJobs"][0]
        assert rjob["template"]["spec"]["completionMode"] == "Indexed"
        assert rjob["template"]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
        assert created["spec"]["network"] == {
            "enableDNSHostnames": True,
            "publishNotReadyAddresses": True,
        }

        # Two child Jobs with the JobSet's labels and annotations, on them and their pods
        jobs = await eventually(
            lambda: (
                len(cluster.objects("batch/v1", "Job")) == 2 and cluster.objects("batch/v1", "Job")
            )
        )
        assert [j["metadata"]["name"] for j in jobs] == ["serve-workers-0", "serve-workers-1"]
        job = jobs[1]
        expected = {
            api.JOBSET_NAME: "serve",
            api.JOBSET_UID: created["metadata"]["uid"],
            api.REPLICATED_JOB_NAME: "workers",
            api.GROUP_NAME: "default",
            api.RESTART_ATTEMPT: "0",
            api.JOB_RESTART_ATTEMPT: "0",
            api.REPLICATED_JOB_REPLICAS: "2",
            api.GLOBAL_REPLICAS: "2",
            api.GROUP_REPLICAS: "2",
            api.JOB_INDEX: "1",
            api.JOB_GLOBAL_INDEX: "1",
            api.JOB_GROUP_INDEX: "1",
            api.JOB_KEY: api.job_key("default", "serve-workers-1"),
        }
        assert labels(job) == expected
        assert job["metadata"]["annotations"] == {**expected, api.EXCLUSIVE_TOPOLOGY: POOL}
        pod_template = job["spec"]["template"]
        job_uid = job["metadata"]["uid"]
        assert pod_template["metadata"]["labels"] == {
            **expected,  # and what the API server's Job registry adds:
            "batch.kubernetes.io/job-name": "serve-workers-1",
            "job-name": "serve-workers-1",
            "batch.kubernetes.io/controller-uid": job_uid,
            "controller-uid": job_uid,
        }
        assert pod_template["metadata"]["annotations"][api.EXCLUSIVE_TOPOLOGY] == POOL
        assert pod_template["spec"]["subdomain"] == "serve"
        assert job["spec"]["suspend"] is False
        assert job["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]

        service = cluster.get("v1", "Service", "serve")
        assert service["spec"]["clusterIP"] == "None"
        assert service["spec"]["selector"] == {api.JOBSET_NAME: "serve"}
        assert service["spec"]["publishNotReadyAddresses"] is True
        assert service["metadata"]["ownerReferences"][0]["kind"] == "JobSet"

        # Leaders first, with exclusive affinities; followers wait for their leader
        leaders = await eventually(lambda: len(cluster.pods()) == 2 and cluster.pods())
        assert sorted(index(p) for p in leaders) == ["0", "0"]
        leader = next(p for p in leaders if labels(p)[api.JOB_INDEX] == "1")
        assert leader["spec"]["hostname"] == "serve-workers-1-0"
        assert leader["spec"]["subdomain"] == "serve"
        assert labels(leader)[api.PRIORITY] == "0"
        key = expected[api.JOB_KEY]
        affinity = leader["spec"]["affinity"]
        assert affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
            {
                "labelSelector": {
                    "matchExpressions": [{"key": api.JOB_KEY, "operator": "In", "values": [key]}]
                },
                "topologyKey": POOL,
                "namespaceSelector": {},
            }
        ]
        anti = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert anti[0]["topologyKey"] == POOL
        assert anti[0]["labelSelector"]["matchExpressions"] == [
            {"key": api.JOB_KEY, "operator": "Exists"},
            {"key": api.JOB_KEY, "operator": "NotIn", "values": [key]},
            {"key": api.PRIORITY, "operator": "In", "values": ["0"]},
        ]
        await eventually(
            lambda: any(
                "follower pod node selector not set" in e["message"]
                for e in cluster.objects("v1", "Event")
                if e["reason"] == "FailedCreate"
            )
        )
        assert len(cluster.pods()) == 2

        for job_index, pool in (("0", "pool-a"), ("1", "pool-b")):
            (job_leader,) = pods_of(cluster, f"serve-workers-{job_index}")
            cluster.bind(job_leader, f"{pool}-1")
        for job_index, pool in (("0", "pool-a"), ("1", "pool-b")):
            job_name = f"serve-workers-{job_index}"
            follower = await eventually(
                lambda job_name=job_name: next(
                    (p for p in pods_of(cluster, job_name) if index(p) == "1"), None
                )
            )
            assert follower["spec"]["nodeSelector"] == {POOL: pool}
            assert follower["spec"]["hostname"] == f"{job_name}-1"
            assert "affinity" not in follower["spec"]
            cluster.bind(follower, f"{pool}-2")

        # Status: both child Jobs ready
        ready = await eventually(
            lambda: (
                jobset_status(cluster).get("replicatedJobsStatus", [{}])[0].get("ready") == 2
                and jobset_status(cluster)
            )
        )
        assert ready["replicatedJobsStatus"] == [
            {
                "name": "workers",
                "ready": 2,
                "succeeded": 0,
                "failed": 0,
                "active": 2,
                "suspended": 0,
            }
        ]
        assert ready["restarts"] == 0
        assert "conditions" not in ready

        # A container of job 1 fails (restartPolicy OnFailure, backoffLimit 0): the JobSet restarts
        (crashed, _) = sorted(pods_of(cluster, "serve-workers-1"), key=index)
        cluster.set_phase(crashed, "Running", restarts=1)
        restarted = await eventually(
            lambda: jobset_status(cluster).get("restarts") == 1 and jobset_status(cluster)
        )
        assert restarted["restartsCountTowardsMax"] == 1
        events = [
            e
            for e in cluster.objects("v1", "Event")
            if e["reason"] == "RestartJobSetFailurePolicyAction"
        ]
        assert events[0]["message"] == (
            "applying RestartJobSet failure policy action (first failed job: serve-workers-1)"
        )
        recreated = await eventually(
            lambda: (
                (jobs := cluster.objects("batch/v1", "Job"))
                and len(jobs) == 2
                and all(labels(j)[api.RESTART_ATTEMPT] == "1" for j in jobs)
                and jobs
            )
        )
        assert [j["metadata"]["name"] for j in recreated] == ["serve-workers-0", "serve-workers-1"]
        assert all(
            j["metadata"]["uid"] not in {o["metadata"]["uid"] for o in jobs} for j in recreated
        )

        # Past maxRestarts, the JobSet fails
        new_leader = await eventually(
            lambda: next(
                (
                    p
                    for p in pods_of(cluster, "serve-workers-0")
                    if labels(p)[api.RESTART_ATTEMPT] == "1"
                ),
                None,
            )
        )
        cluster.bind(new_leader, "pool-a-1")
        cluster.set_phase(new_leader, "Running", restarts=1)
        failed = await eventually(
            lambda: (
                jobset_status(cluster).get("terminalState") == "Failed" and jobset_status(cluster)
            )
        )
        (condition,) = failed["conditions"]
        assert condition["type"] == "Failed"
        assert condition["reason"] == "ReachedMaxRestarts"
        assert condition["message"] == (
            "jobset failed due to reaching max number of restarts "
            "(first failed job: serve-workers-0)"
        )
        assert failed["restarts"] == 1
        await cluster.stop()

    run(scenario)
