"""The plan a person reads before paying for it: names, shapes, chips and the hourly cost."""

from typing import Any

from saxml_gke.spec import DeploymentSpec


def plan_summary(spec: DeploymentSpec) -> dict[str, Any]:
    tpu = spec.tpu
    return {
        "deployment": spec.deployment,
        "project_id": spec.project_id,
        "zone": spec.cluster.zone,
        "region": spec.cluster.region,
        "cluster": spec.cluster.name,
        "node_pools": [pool.name for pool in tpu.node_pools],
        "tpu": {
            "generation": tpu.generation,
            "topology": tpu.topology,
            "machine_type": tpu.machine_type,
            "nodes_per_slice": tpu.nodes_per_slice,
            "chips_per_slice": tpu.chips_per_slice,
            "slices": tpu.slices,
            "total_chips": tpu.total_chips,
            "hbm_gb_per_slice": tpu.hbm_gb_per_slice,
            "capacity": tpu.capacity,
        },
        "estimated_cost_per_hour_usd": tpu.cost_per_hour,
        "cost_note": f"TPU on-demand list prices as of {tpu.prices_as_of}; an estimate that "
        "excludes the CPU pool, disks and network",
        "bucket": spec.storage.bucket,
        "google_service_account": spec.identity.gsa_email,
        "node_service_account": spec.node_sa_email,
        "kubernetes_service_account": f"{spec.identity.namespace}/{spec.identity.ksa_name}",
        "model": {
            "key": spec.saxml.model_key,
            "path": spec.saxml.model_path,
            "checkpoint": spec.saxml.checkpoint,
            "replicas": spec.saxml.model_replicas,
            "in_catalog": spec.saxml.model_in_catalog,
        },
        "jobset_manifest_url": spec.saxml.jobset_manifest_url,
        "jobset_manifest_sha256": spec.saxml.jobset_manifest_sha256,
        "http_exposure": spec.saxml.http_exposure,
        "http_address": spec.saxml.http_address or None,
        "teardown": spec.teardown,
        "expires_at": spec.expires_at,
        "labels": spec.labels,
    }
