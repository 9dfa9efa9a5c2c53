"""What GKE's cloud provider checks about a Service's `spec.loadBalancerIP`, in its own words.

Before it creates a forwarding rule with the requested IP, the (legacy GCE) provider looks the
IP up among the addresses of the cluster's region. An external load balancer takes a static
address in the Service's network tier (Premium: no tier annotation is modelled) or the IP its
rule already has: anything else is "neither static nor assigned to the LB". An internal one
takes an INTERNAL address: GKE would reserve an unreserved IP of the subnetwork on the fly,
which the emulator does not model; it answers as GKE does for an IP outside the subnetwork.
Compute itself then refuses an address of the wrong type, or one another rule holds.
"""

from emulator.gcp.compute import ComputeService
from emulator.gcp.compute.model import EXTERNAL, INTERNAL, PREMIUM


def requested_ip_problem(
    compute: ComputeService, *, region: str, ip: str, scheme: str, current_ip: str | None
) -> str | None:
    """Why GKE refuses `ip` for a rule of `scheme` that now has `current_ip`; None if it may."""
    address = compute.address_by_ip(region, ip)
    if address is None and ip == current_ip:
        return None
    if scheme == EXTERNAL:
        if address is None:
            return f'requested ip "{ip}" is neither static nor assigned to the LB'
        if address.network_tier != PREMIUM:
            tier = address.network_tier.title()
            # sic: the provider's message misspells "requested".
            return f'requrested IP "{ip}" belongs to the {tier} network tier; expected Premium'
        return None
    if address is None:
        not_found = f'Address with IP \\"{ip}\\" was not found in region \\"{region}\\"'
        outside = (
            f"Invalid value for field 'resource.address': '{ip}'. Requested internal IP is "
            "outside the subnetwork CIDR range."
        )
        return (
            f'failed to get address by IP "{ip}" after reservation attempt, err: "googleapi: '
            f'Error 404: {not_found}", reservation err: "googleapi: Error 400: {outside}, invalid"'
        )
    if address.address_type != INTERNAL:
        return (
            f'address "{address.name}" does not have the expected address type "{INTERNAL}", '
            f'actual: "{address.address_type}"'
        )
    return None
