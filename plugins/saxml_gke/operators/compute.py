"""Compute Engine: the static address the sax-http load balancer serves on, reserved and
released, and the forwarding rules a cluster deleted too early leaves on it.

GKE's forwarding rule for a LoadBalancer Service carries none of our labels and outlives a
cluster deleted before its Service. Reserving the address ourselves, labelled, keeps the endpoint
stable across reruns and makes a leaked load balancer findable: the address lists the forwarding
rules that use it.
"""

from typing import Any

from saxml_gke.adoption import check_adoptable
from saxml_gke.bodies import address_body, address_type
from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.operators.base import DeploymentOperator, fails_fast
from saxml_gke.operators.teardown_base import TeardownOperator
from saxml_gke.probes import resource_name


class ComputeOperator(DeploymentOperator):
    def our_address(self) -> dict[str, Any] | None:
        """The deployment's reserved address; None when there is none or it is not ours."""
        name = self.deployment.saxml.http_address
        if not name:
            return None
        found = self.compute.get_address(**self.in_region, name=name)
        if found is None or not self.deployment.owner.owns(found.get("labels")):
            return None
        return found

    def wait_for_operations(self, operations: list[str], description: str, **known: Any) -> Any:
        from saxml_gke.triggers.compute import ComputeOperationsTrigger

        return self.wait_for(
            ComputeOperationsTrigger(
                **self.in_region,
                operations=operations,
                waiting=self.waiting(description, self.deployment.waits.operation_timeout, **known),
            )
        )


class ReserveHttpAddressOperator(ComputeOperator):
    """The labelled static address (none with http_exposure=none); ends with its IP, which
    `deploy_saxml` takes as `http_ip`."""

    # An external address, or an internal one in the region's default subnetwork.
    required_permissions = frozenset(
        {
            "compute.addresses.get",
            "compute.addresses.create",
            "compute.addresses.createInternal",
            "compute.addresses.setLabels",
            "compute.subnetworks.use",
            "compute.regionOperations.get",
        }
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        from saxml_gke.triggers.compute import AddressReservedTrigger

        spec, name = self.deployment, self.deployment.saxml.http_address
        if not name:
            return {"address": None, "ip": None, "reason": "http_exposure=none: no load balancer"}
        address = self.compute.get_address(**self.in_region, name=name)
        if address is None:
            operation = self.compute.insert_address(**self.in_region, body=address_body(spec))
            if operation is not None:
                self.log.info("Reserving %s address %s", address_type(spec), name)
                return self.wait_for(
                    AddressReservedTrigger(
                        **self.in_region,
                        name=name,
                        operation=operation["name"],
                        waiting=self.waiting(
                            f"address {name} reserved",
                            spec.waits.operation_timeout,
                            created=True,
                            operation=operation["name"],
                        ),
                    )
                )
            address = self.compute.get_address(**self.in_region, name=name)  # a concurrent run's
            if address is None:
                raise DeploymentError(
                    ErrorKind.TRANSIENT, f"address {name} exists but is not found"
                )
        checked = check_adoptable(spec, address)
        self.log.info("Address %s (%s) exists: adopting it", name, checked["ip"])
        return {**checked, "created": False}


class DeleteForwardingRulesOperator(ComputeOperator, TeardownOperator):
    """The forwarding rules still using the deployment's address: a cluster deleted before its
    Service left them behind (nothing else can use our address)."""

    required_permissions = frozenset(
        {"compute.addresses.get", "compute.forwardingRules.delete", "compute.regionOperations.get"}
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        found = self.our_address()
        rules = [resource_name(user) for user in (found or {}).get("users") or []]
        operations = [
            operation["name"]
            for rule in rules
            if (operation := self.compute.delete_forwarding_rule(**self.in_region, name=rule))
        ]
        if not operations:
            return self.deleted([])
        on = self.deployment.saxml.http_address
        return self.wait_for_operations(
            operations,
            f"forwarding rules {', '.join(rules)} to go",
            deleted=[f"forwarding rule {rule} (left behind on {on})" for rule in rules],
        )


class ReleaseHttpAddressOperator(ComputeOperator, TeardownOperator):
    """The deployment's reserved address."""

    required_permissions = frozenset(
        {"compute.addresses.get", "compute.addresses.delete", "compute.regionOperations.get"}
    )

    @fails_fast
    def execute(self, context: Any) -> dict[str, Any]:
        found, name = self.our_address(), self.deployment.saxml.http_address
        operation = found and self.compute.delete_address(**self.in_region, name=name)
        if not operation:
            return self.deleted([])
        return self.wait_for_operations(
            [operation["name"]],
            f"address {name} to be released",
            deleted=[f"address {name} ({found['address']})"],
        )
