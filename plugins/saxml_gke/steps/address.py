"""ensure_http_address: the static address the sax-http load balancer serves on.

GKE's forwarding rule for a LoadBalancer Service carries none of our labels and outlives a
cluster deleted before its Service. Reserving the address ourselves, labelled, keeps the
endpoint stable across re-runs and makes a leaked load balancer findable: the address lists
the forwarding rules that use it.
"""

from typing import Any

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.compute import ComputeHook
from saxml_gke.spec import DeploymentSpec
from saxml_gke.steps.adoption import check_address
from saxml_gke.steps.base import Result, StepContext, Wait, now_iso


def ensure_http_address(ctx: StepContext) -> Result | Wait:
    spec = ctx.spec
    name = spec.saxml.http_address
    if not name:
        return {"address": None, "ip": None, "reason": "http_exposure=none: no load balancer"}
    hook = ComputeHook(gcp_conn_id=ctx.gcp_conn_id)
    address = hook.get_address(**where(spec), name=name)
    if address is None:
        operation = hook.insert_address(**where(spec), body=address_body(spec))
        if operation is not None:
            ctx.log.info("Reserving %s address %s", address_type(spec), name)
            return Wait(
                probe="compute_operations_done",
                arguments=ctx.probe_arguments(**where(spec), operations=[operation["name"]]),
                timeout=spec.waits.operation_timeout,
                description=f"address {name} reserved",
                then="saxml_gke.steps.address:address_reserved",
                carry={"operation": operation["name"]},
            )
        address = hook.get_address(**where(spec), name=name)  # reserved by a concurrent run
        if address is None:
            raise DeploymentError(ErrorKind.TRANSIENT, f"address {name} exists but is not found")
    result = check_adoptable(spec, address)
    ctx.log.info("Address %s (%s) exists: adopting it", name, result["ip"])
    return {**result, "created": False}


def address_reserved(ctx: StepContext, result: Any, carry: dict[str, Any]) -> Result:
    spec = ctx.spec
    address = ComputeHook(gcp_conn_id=ctx.gcp_conn_id).get_address(
        **where(spec), name=spec.saxml.http_address
    )
    if address is None:
        raise DeploymentError(
            ErrorKind.PERMANENT, f"address {spec.saxml.http_address} vanished after reserving it"
        )
    checked = check_adoptable(spec, address)
    ctx.log.info("Reserved address %s: %s", spec.saxml.http_address, checked["ip"])
    return {**checked, "created": True, "operation": carry["operation"], "ready_at": now_iso()}


def address_type(spec: DeploymentSpec) -> str:
    return "INTERNAL" if spec.saxml.http_exposure == "internal" else "EXTERNAL"


def address_body(spec: DeploymentSpec) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": spec.saxml.http_address,
        "description": f"sax-http load balancer of saxml-gke deployment {spec.deployment}",
        "addressType": address_type(spec),
        "labels": spec.labels,
    }
    if body["addressType"] == "INTERNAL":  # in the cluster's (default) network
        body["subnetwork"] = (
            f"projects/{spec.project_id}/regions/{spec.cluster.region}/subnetworks/default"
        )
    return body


def where(spec: DeploymentSpec) -> dict[str, str]:
    return {"project_id": spec.project_id, "region": spec.cluster.region}


def check_adoptable(spec: DeploymentSpec, address: dict[str, Any]) -> Result:
    """An existing address is used only if it is this deployment's and of the right type:
    never someone else's, never silently replaced."""
    name = spec.saxml.http_address
    check_address(spec, address)
    wanted, actual = address_type(spec), address.get("addressType", "EXTERNAL")
    if actual != wanted:
        raise DeploymentError(
            ErrorKind.PERMANENT,
            f"address {name} is {actual} but http_exposure={spec.saxml.http_exposure} needs "
            f"{wanted}: tear the deployment down before changing http_exposure",
        )
    return {"address": name, "ip": address["address"], "address_type": actual}
