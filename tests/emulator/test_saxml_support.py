"""What the Saxml tests share: the tutorial's deployment on the emulator, built with real clients.

`Deployment` creates the tutorial's cluster and two v5e 4x8 pools through the GKE API, installs
JobSet from the manifest URL the emulator serves, creates the bucket, the Google service account
and its bindings through the IAM and storage clients, and applies the Saxml manifests the product
renders, all as a user following the tutorial would. It then talks to the cluster with the
kubernetes client (TLS with the cluster CA, a Google bearer token) and to sax-http over plain
HTTP through the API server's service proxy (every call) and through the LoadBalancer address
(only generate and score pass its filter). The load balancer is internal and admits this
machine's clients (127.0.0.1), unless a test says otherwise.
"""

import base64
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml
from google.auth.transport.requests import Request
from google.cloud import storage
from googleapiclient.errors import HttpError
from kubernetes import client, utils
from kubernetes.client.rest import ApiException
from requests.adapters import HTTPAdapter

from saxml_gke.manifests import render_objects
from saxml_gke.spec import build_spec
from tests.emulator.conftest import (
    TIME_SCALE,
    Control,
    Ready,
    discovery_client,
    storage_client,
)
from tests.emulator.test_gke_support import Gke, connect, tpu_pool, tutorial_cluster

CLUSTER = "saxml"
NAMESPACE = "default"
MODEL_KEY = "/sax/test/spmd"
MODEL_PATH = "saxml.server.pax.lm.params.lm_cloud.LmCloudSpmd175B32Test"
WAIT_SECONDS = 60.0
HTTP_TIMEOUT = 30.0
SLICES = 2  # the tutorial's two TPU node pools, one slice each
LEADERS = "app=sax-model-server,batch.kubernetes.io/job-completion-index=0"


def wait_until(what: str, condition: Callable[[], Any], timeout: float = WAIT_SECONDS) -> Any:
    """Poll `condition` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class Deployment:
    """The tutorial's deployment on one emulated project (see the module docstring)."""

    ready: Ready
    gke: Gke = field(init=False)
    objects: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gke = connect(self.ready)
        self.project = self.ready["project_id"]
        self._scratch = tempfile.TemporaryDirectory(prefix="saxml-test-")

    # -- Google Cloud, as the tutorial's gcloud steps ----------------------------------------

    def create_cluster(self) -> None:
        """The cluster, then both TPU pools at once (they are separate operations)."""
        cluster = self.gke.running_cluster(tutorial_cluster(self.project, CLUSTER))
        operations = [self.gke.create_pool(CLUSTER, tpu_pool(name)) for name in ("tpu1", "tpu2")]
        for operation in operations:
            assert not self.gke.wait(operation).error.code
        self.endpoint = cluster.endpoint
        ca = base64.b64decode(cluster.master_auth.cluster_ca_certificate)
        self.ca_file = Path(self._scratch.name) / "ca.crt"
        self.ca_file.write_bytes(ca)

    def spec_params(self, **overrides: Any) -> dict[str, Any]:
        return {
            "project_id": self.project,
            "zone": "us-west4-a",
            "http_exposure": "internal",
            "http_source_ranges": ["127.0.0.1/32"],
            **overrides,
        }

    def render(self, **overrides: Any) -> list[dict[str, Any]]:
        spec = build_spec(self.spec_params(**overrides), now=datetime.now(UTC))
        self.bucket = spec.storage.bucket
        self.gsa_email = spec.identity.gsa_email
        self.gsa_name = spec.identity.gsa_name
        self.wi_member = spec.identity.workload_identity_member
        self.bucket_role = spec.identity.bucket_role
        return render_objects(spec)

    def create_bucket_and_identity(self, bind_bucket: bool = True) -> None:
        """Bucket, GSA, the GSA's bucket binding and the Workload Identity binding."""
        gcs = self.storage()
        gcs.create_bucket(self.bucket, location="US-WEST4")
        iam = discovery_client(self.ready, "iam", "v1", self.gke.credentials)
        iam.projects().serviceAccounts().create(
            name=f"projects/{self.project}",
            body={"accountId": self.gsa_name, "serviceAccount": {"displayName": "Saxml"}},
        ).execute()
        if bind_bucket:
            self.bind_bucket()
        resource = f"projects/{self.project}/serviceAccounts/{self.gsa_email}"
        policy = {
            "bindings": [{"role": "roles/iam.workloadIdentityUser", "members": [self.wi_member]}]
        }
        _retry_while_unknown(
            lambda: (
                iam.projects()
                .serviceAccounts()
                .setIamPolicy(resource=resource, body={"policy": policy})
                .execute()
            )
        )

    def bind_bucket(self) -> None:
        bucket = self.storage().bucket(self.bucket)

        def grant() -> None:
            policy = bucket.get_iam_policy(requested_policy_version=3)
            policy.bindings.append(
                {"role": self.bucket_role, "members": {f"serviceAccount:{self.gsa_email}"}}
            )
            bucket.set_iam_policy(policy)

        _retry_while_unknown(grant)

    def storage(self) -> storage.Client:
        return storage_client(self.ready, self.gke.credentials)

    def saved_models(self) -> list[str]:
        """The model ids the admin saved in the cell's state.proto."""
        blob = self.storage().bucket(self.bucket).blob("sax-fs-root/sax/test/state.proto")
        return [model["model_id"] for model in json.loads(blob.download_as_bytes())["models"]]

    # -- Kubernetes, as kubectl would ---------------------------------------------------------

    def api(self) -> client.ApiClient:
        configuration = client.Configuration(host=f"https://{self.endpoint}")
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"BearerToken": self.token()}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        configuration.refresh_api_key_hook = self._refresh_token
        return client.ApiClient(configuration)

    def _refresh_token(self, configuration: client.Configuration) -> None:
        configuration.api_key = {"BearerToken": self.token()}

    def token(self) -> str:
        credentials = self.gke.credentials
        if not credentials.valid:
            credentials.refresh(Request())
        return str(credentials.token)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api())

    def install_jobset(self) -> None:
        """`kubectl apply --server-side --force-conflicts -f <manifest URL>`, then wait for its
        controller to be Available."""
        text = requests.get(self.ready["jobset_manifest_url"], timeout=HTTP_TIMEOUT).text
        documents = [doc for doc in yaml.safe_load_all(text) if doc]
        with self.api() as api:
            utils.create_from_yaml(
                api, yaml_objects=documents, apply=True, namespace=None, force_conflicts=True
            )
            apps = client.AppsV1Api(api)

            def available() -> bool:
                deployment = apps.read_namespaced_deployment(
                    "jobset-controller-manager", "jobset-system"
                )
                conditions = deployment.status.conditions or []
                return any(c.type == "Available" and c.status == "True" for c in conditions)

            wait_until("the JobSet controller", available)

    def apply(self, objects: list[dict[str, Any]]) -> None:
        with self.api() as api:
            utils.create_from_yaml(api, yaml_objects=objects, apply=True, namespace=None)

    def pods(self, selector: str) -> list[Any]:
        return list(self.core.list_namespaced_pod(NAMESPACE, label_selector=selector).items)

    def running(self, selector: str, count: int) -> list[Any]:
        """Wait until `count` pods match and all are Running and Ready."""

        def ready() -> list[Any] | None:
            pods = self.pods(selector)
            ok = [
                pod
                for pod in pods
                if pod.status.phase == "Running"
                and any(
                    c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
                )
            ]
            return ok if len(ok) == count and len(pods) == count else None

        return list(wait_until(f"{count} ready pods {selector}", ready))

    def leaders(self, count: int = SLICES) -> list[Any]:
        """The model-server pods of completion index 0, one per slice, once all `count` of them
        are Running and Ready (never fewer, so checks over them cannot pass on none)."""
        leaders = sorted(self.running(LEADERS, count), key=lambda pod: pod.metadata.name)
        assert len(leaders) == count
        return leaders

    def logs(self, pod: str, previous: bool = False, container: str | None = None) -> str:
        """`container` names one of a pod of several (the sax-http pod's filter sidecar)."""
        try:
            response = self.core.read_namespaced_pod_log(
                pod, NAMESPACE, previous=previous, container=container, _preload_content=False
            )
        except ApiException as error:
            if error.status == 400:  # the container has not started (or restarted) yet
                return ""
            raise
        return str(response.data.decode())

    def wait_for_log(
        self, pod: str, line: str, since: int = 0, timeout: float = WAIT_SECONDS
    ) -> str:
        """The pod's log from character `since` on, once it holds `line`."""

        def logged() -> str | None:
            text = self.logs(pod)[since:]
            return text if line in text else None

        return str(wait_until(f"{line!r} in {pod}", logged, timeout))

    def log_marks(self, pods: list[Any]) -> dict[str, int]:
        """Where each pod's log ends now, to look only at what follows."""
        return {pod.metadata.name: len(self.logs(pod.metadata.name)) for pod in pods}

    def set_env(self, deployment: str, name: str, value: str | None) -> None:
        """Change (or, with None, remove) an env var of a Deployment's container: read, change,
        replace, and again on a conflict (the controller writes its status meanwhile), as
        client-go's RetryOnConflict does."""
        apps = client.AppsV1Api(self.api())
        for attempt in range(5):
            current = apps.read_namespaced_deployment(deployment, NAMESPACE)
            container = current.spec.template.spec.containers[0]
            env = [var for var in container.env or [] if var.name != name]
            if value is not None:
                env.append(client.V1EnvVar(name=name, value=value))
            container.env = env
            try:
                apps.replace_namespaced_deployment(deployment, NAMESPACE, current)
                return
            except ApiException as error:
                if error.status != 409 or attempt == 4:
                    raise

    def crash_looping(self, selector: str) -> Any:
        """The pod once its container waits in CrashLoopBackOff after a failed run."""

        def crashed() -> Any:
            for pod in self.pods(selector):
                for status in pod.status.container_statuses or []:
                    waiting = status.state.waiting
                    if waiting and waiting.reason == "CrashLoopBackOff":
                        return pod
            return None

        return wait_until(f"{selector} in CrashLoopBackOff", crashed)

    def load_balancer_ip(self, service: str = "sax-http-lb") -> str:
        def address() -> str | None:
            status = self.core.read_namespaced_service(service, NAMESPACE).status
            ingress = (status.load_balancer and status.load_balancer.ingress) or []
            return ingress[0].ip if ingress else None

        return str(wait_until("the LoadBalancer address", address))

    # -- sax-http -----------------------------------------------------------------------------

    def proxy(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """sax-http's own port through the API server's service proxy (as `kubectl proxy` +
        curl), as the DAG manages the model."""
        url = (
            f"https://{self.endpoint}/api/v1/namespaces/{NAMESPACE}/services/"
            f"sax-http:8888/proxy{path}"
        )
        return requests.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {self.token()}", **(headers or {})},
            verify=str(self.ca_file),
            **{"timeout": HTTP_TIMEOUT, **kwargs},
        )

    def direct(
        self, method: str, path: str, body: Any = None, source: str = "127.0.0.1", **kwargs: Any
    ) -> requests.Response:
        """sax-http through the LoadBalancer's address, from a client bound to `source`."""
        url = f"http://{self.load_balancer_ip()}:8888{path}"
        with requests.Session() as session:
            session.mount("http://", _BoundTo(source))
            return session.request(method, url, json=body, **{"timeout": HTTP_TIMEOUT, **kwargs})

    def publish(
        self, model_path: str = MODEL_PATH, checkpoint: str = "None", replicas: int = 2
    ) -> requests.Response:
        """Publish MODEL_KEY, retrying while the admin still frees the name of a model just
        unpublished (it does so at its next refresh)."""
        body = {
            "model": MODEL_KEY,
            "model_path": model_path,
            "checkpoint": checkpoint,
            "replicas": replicas,
        }

        def answered() -> list[requests.Response]:  # a Response is falsy when not 2xx
            response = self.proxy("POST", "/publish", body)
            return [] if "is being unpublished" in response.text else [response]

        return wait_until("the model name to be free", answered)[0]

    def close(self) -> None:
        self._scratch.cleanup()


class _BoundTo(HTTPAdapter):
    """Connections from one local address: which client a firewall sees."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.source, 0), **kwargs)


def _retry_while_unknown(call: Callable[[], Any], timeout: float = WAIT_SECONDS) -> Any:
    """IAM knows a new service account as a policy member only after it propagates (400)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except HttpError as error:
            if error.resp.status != 400 or time.monotonic() > deadline:
                raise
        except Exception as error:  # google-cloud-storage raises google.api_core exceptions
            if getattr(error, "code", None) != 400 or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def refresh_periods(count: int) -> None:
    """Let the admin refresh `count` times (10 modelled seconds each)."""
    time.sleep(count * 10 * TIME_SCALE + 0.05)


@contextmanager
def fresh_tutorial(ready: Ready, control: Control, **overrides: Any) -> Iterator[Deployment]:
    """The tutorial on a world reset first (for fixtures shared by a module's tests)."""
    control.post("/reset").raise_for_status()
    deployment = tutorial(ready, **overrides)
    try:
        yield deployment
    finally:
        deployment.close()


def tutorial(ready: Ready, **overrides: Any) -> Deployment:
    """The tutorial up to the point where every Saxml pod runs."""
    deployment = Deployment(ready)
    deployment.create_cluster()
    objects = deployment.render(**overrides)
    deployment.create_bucket_and_identity()
    deployment.install_jobset()
    deployment.apply(objects)
    deployment.running("app=sax-admin-server", 1)
    deployment.running("app=sax-http", 1)
    deployment.running("app=sax-model-server", 16)
    return deployment
