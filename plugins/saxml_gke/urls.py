"""Which URLs may carry what: plain http only to this machine, and this machine only on purpose.

A bearer token sent over plain http can be read on the way, except to a loopback address. And a
URL on loopback reaches services on the worker's own host, which only a connection to the local
emulator has reason to do.
"""

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether `url` names a host on this machine (`127.0.0.1`, `localhost`, `[::1]`, ...)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and is_loopback_host(host)


def is_https_or_loopback(url: str) -> bool:
    """https to a host, or plain http to loopback: where nobody on the network reads along."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = parts.hostname
    if not host:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))
