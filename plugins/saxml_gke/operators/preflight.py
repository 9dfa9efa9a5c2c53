"""preflight: what the deployment needs from the project, checked before anything is created.

It reads through the real APIs (Service Usage, Resource Manager's `testIamPermissions`, GKE's
server config and cluster, Compute Engine's machine types, region quotas and reservations, and
for the TPU chip quotas that regions do not report, Cloud Quotas and Cloud Monitoring) and
fails with every problem at once (the rules are `saxml_gke.preflight`'s). The permissions it
tests are those every step of its DAG declares (`required_permissions`). Everything it asks is
a read: on a real project it runs unchanged, and nothing bills.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from saxml_gke import cloud_quotas, preflight
from saxml_gke.cloud_quotas import CloudQuota, Quota
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.operators.base import DeploymentOperator, DeploymentTask, fails_fast

if TYPE_CHECKING:
    from saxml_gke.hooks.cloud_quotas import CloudQuotasHook
    from saxml_gke.hooks.monitoring import MonitoringHook
    from saxml_gke.hooks.service_usage import ServiceUsageHook

T = TypeVar("T")


class PreflightOperator(DeploymentOperator):
    required_permissions = preflight.READ_PERMISSIONS

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        spec = self.deployment
        project, zone = spec.project_id, spec.cluster.zone
        needed = self.steps_permissions()
        reads = _Reads(self.log)
        reads.enabled = reads(
            preflight.SERVICES, lambda: self.service_usage.enabled_services(project_id=project)
        )
        reads.granted = reads(
            preflight.PERMISSIONS,
            lambda: self.resource_manager.granted_permissions(
                project_id=project, permissions=frozenset().union(*needed.values())
            ),
        )
        cluster = reads(
            preflight.CLUSTER, lambda: self.gke.get_cluster(**self.in_zone, name=spec.cluster.name)
        )
        pools = (
            None
            if cluster is None
            else frozenset(p["name"] for p in cluster.get("nodePools") or [])
        )
        facts = preflight.Facts(
            needed=needed,
            enabled=reads.enabled,
            granted=reads.granted,
            cluster_pools=pools,
            cluster_version=(cluster or {}).get("currentMasterVersion", ""),
            versions=reads(
                preflight.VERSIONS,
                lambda: self.gke.server_config(project_id=project, zone=zone),
            ),
            offered=reads(
                preflight.MACHINE_TYPES,
                lambda: {
                    machine_type: self.compute.zones_offering(
                        project_id=project, machine_type=machine_type
                    )
                    for machine_type in preflight.machine_types_needed(spec, pools)
                },
            ),
            region=reads(
                preflight.QUOTAS,
                lambda: self.compute.get_region(project_id=project, region=spec.cluster.region),
            ),
            cloud_quotas=self.read_cloud_quotas(reads, preflight.cloud_quotas_needed(spec)),
            reservations=reads(
                preflight.RESERVATIONS,
                lambda: {
                    found["name"]: found
                    for found in self.compute.list_reservations(project_id=project, zone=zone)
                },
            ),
            failed=tuple(reads.failed),
        )
        report = preflight.preflight(spec, facts)
        for line in report.checked:
            self.log.info("Checked: %s", line)
        for line in report.unchecked:
            self.log.warning("Not checked: %s", line)
        if report.problems:
            raise DeploymentError(
                ErrorKind.PERMANENT,
                f"preflight found {len(report.problems)} problem(s); nothing was created:\n"
                + "\n".join(f"  - {problem}" for problem in report.problems),
            )
        return {"checked": report.checked, "not_checked": [*reads.skipped, *report.unchecked]}

    def read_cloud_quotas(
        self, reads: "_Reads", wanted: tuple[CloudQuota, ...]
    ) -> dict[CloudQuota, Quota] | None:
        """The quotas Cloud Quotas keeps of `wanted` (those it does not know are left out), each
        with its limit in the region and what Monitoring says is in use; None when not read."""
        if not wanted:
            return None
        project, region = self.deployment.project_id, self.deployment.cluster.region
        infos = reads(
            preflight.CLOUD_QUOTAS,
            lambda: {
                quota: info
                for quota in wanted
                if (
                    info := self.quota_infos.get_quota_info(
                        project_id=project, service=cloud_quotas.SERVICE, quota_id=quota.quota_id
                    )
                )
            },
        )
        if not infos:
            return infos
        start, end = cloud_quotas.usage_interval(datetime.now(UTC))
        series = reads(
            preflight.QUOTA_USAGE,
            lambda: {
                quota: self.monitoring.time_series(
                    project_id=project,
                    query=cloud_quotas.usage_filter(info["metric"], region),
                    start=start,
                    end=end,
                )
                for quota, info in infos.items()
            },
        )
        if series is None:
            return None
        return {
            quota: cloud_quotas.quota_of(quota, info, series[quota], region)
            for quota, info in infos.items()
        }

    def steps_permissions(self) -> dict[str, frozenset[str]]:
        """The permissions each step of the DAG declares, by task id."""
        return {
            task.task_id: task.required_permissions
            for task in self.dag.tasks
            if isinstance(task, DeploymentTask) and task.required_permissions
        }

    @cached_property
    def service_usage(self) -> "ServiceUsageHook":
        from saxml_gke.hooks.service_usage import ServiceUsageHook

        return ServiceUsageHook(gcp_conn_id=self.gcp_conn_id)

    @cached_property
    def quota_infos(self) -> "CloudQuotasHook":
        from saxml_gke.hooks.cloud_quotas import CloudQuotasHook

        return CloudQuotasHook(gcp_conn_id=self.gcp_conn_id)

    @cached_property
    def monitoring(self) -> "MonitoringHook":
        from saxml_gke.hooks.monitoring import MonitoringHook

        return MonitoringHook(gcp_conn_id=self.gcp_conn_id)


class _Reads:
    """Each read, unless its API is disabled or its permission missing (problems reported on
    their own); a read that fails is kept in `failed`, a problem too."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.enabled: frozenset[str] | None = None
        self.granted: frozenset[str] | None = None
        self.failed: list[tuple[str, str]] = []
        self.skipped: list[str] = []

    def __call__(self, read: preflight.Read, fetch: Callable[[], T]) -> T | None:
        why = preflight.blocked(read, self.enabled, self.granted)
        if why:
            self.log.warning("Not checked: %s (%s)", read.what, why)
            self.skipped.append(f"{read.what}: {why}")
            return None
        try:
            return fetch()
        except DeploymentError as error:
            self.failed.append((read.what, str(error)))
            return None
