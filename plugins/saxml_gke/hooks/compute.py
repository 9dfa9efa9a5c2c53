"""Compute Engine regional addresses, forwarding rules and operations (compute v1 discovery),
and what the project may run: regions with their quotas, machine types, reservations.

The deployment reserves a static address for the sax-http load balancer so that the address,
unlike the forwarding rule GKE creates for it, carries our labels: it is how a load balancer
left behind by a cluster deleted before its Service is found and removed.
"""

from functools import cached_property
from typing import Any

from googleapiclient.errors import HttpError

from saxml_gke.errors import DeploymentError, ErrorKind
from saxml_gke.hooks.discovery_api import DiscoveryApiHook

Operation = dict[str, Any]


class ComputeHook(DiscoveryApiHook):
    @cached_property
    def _compute(self) -> Any:
        return self.build_client("compute", "v1", service_path="compute/v1/")

    def get_address(self, *, project_id: str, region: str, name: str) -> dict[str, Any] | None:
        request = self._compute.addresses().get(project=project_id, region=region, address=name)
        return self.execute_or_none(f"get address {name}", request)

    def list_addresses(
        self, *, project_id: str, region: str | None, label: tuple[str, str]
    ) -> list[dict[str, Any]]:
        """Addresses carrying the label `key=value`, in one region or (None) in all of them."""
        key, value = label
        query = f'labels.{key} = "{value}"'
        addresses = self._compute.addresses()
        if region is not None:
            where = {"project": project_id, "region": region, "filter": query}
            return self.list_all("list addresses", addresses, "items", **where)
        pages = self.pages(
            "list addresses", addresses, "aggregatedList", project=project_id, filter=query
        )
        return [
            address
            for response in pages
            for scoped in response.get("items", {}).values()
            for address in scoped.get("addresses", [])
        ]

    def insert_address(
        self, *, project_id: str, region: str, body: dict[str, Any]
    ) -> Operation | None:
        """The insert operation; None when an address of that name already exists."""
        request = self._compute.addresses().insert(project=project_id, region=region, body=body)
        try:
            return self.execute(f"reserve address {body['name']}", request)
        except HttpError as error:
            if error.status_code == 409:
                return None
            raise

    def set_address_labels(
        self, *, project_id: str, region: str, address: dict[str, Any], labels: dict[str, str]
    ) -> Operation:
        """Replace the labels of `address` (as read: its fingerprint guards the change)."""
        body = {"labels": labels, "labelFingerprint": address["labelFingerprint"]}
        request = self._compute.addresses().setLabels(
            project=project_id, region=region, resource=address["name"], body=body
        )
        return self.execute(f"label address {address['name']}", request)

    def delete_address(self, *, project_id: str, region: str, name: str) -> Operation | None:
        """The delete operation; None when the address does not exist."""
        request = self._compute.addresses().delete(project=project_id, region=region, address=name)
        return self.execute_or_none(f"release address {name}", request)

    def delete_forwarding_rule(
        self, *, project_id: str, region: str, name: str
    ) -> Operation | None:
        """The delete operation; None when the rule does not exist."""
        request = self._compute.forwardingRules().delete(
            project=project_id, region=region, forwardingRule=name
        )
        return self.execute_or_none(f"delete forwarding rule {name}", request)

    def get_region(self, *, project_id: str, region: str) -> dict[str, Any]:
        """The region, with its `quotas` (`metric`, `limit`, `usage`)."""
        request = self._compute.regions().get(project=project_id, region=region)
        found = self.execute_or_none(f"get region {region}", request)
        if found is None:
            raise DeploymentError(ErrorKind.PERMANENT, f"region {region} does not exist")
        return found

    def zones_offering(self, *, project_id: str, machine_type: str) -> dict[str, dict[str, Any]]:
        """The machine type as each zone that offers it to the project describes it, by zone."""
        pages = self.pages(
            f"find machine type {machine_type}",
            self._compute.machineTypes(),
            "aggregatedList",
            project=project_id,
            filter=f'name = "{machine_type}"',
        )
        return {
            found["zone"]: found
            for response in pages
            for scoped in response.get("items", {}).values()
            for found in scoped.get("machineTypes", [])
        }

    def list_reservations(self, *, project_id: str, zone: str) -> list[dict[str, Any]]:
        reservations = self._compute.reservations()
        return self.list_all(
            "list reservations", reservations, "items", project=project_id, zone=zone
        )

    def get_region_operation(self, *, project_id: str, region: str, name: str) -> Operation:
        request = self._compute.regionOperations().get(
            project=project_id, region=region, operation=name
        )
        return self.execute(f"get operation {name}", request)
