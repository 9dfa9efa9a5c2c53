"""Kubernetes versions per release channel, and how GKE resolves a requested version.

GKE accepts `latest`, `1.X`, `1.X.Y`, `1.X.Y-gke.N`, or `""`/`-` (the channel default) and
answers 400 `Master version "..." is unsupported.` for anything its channel does not offer.
"""

import re

from google.cloud import container_v1

from emulator.core.errors import invalid_argument

Channel = container_v1.ReleaseChannel.Channel

# Valid versions per channel, newest first; the channel default is marked separately because
# GKE's default is usually not the newest version of the channel.
CHANNEL_VERSIONS: dict[Channel, tuple[str, ...]] = {
    Channel.RAPID: ("1.33.2-gke.1240000", "1.32.6-gke.1096000"),
    Channel.REGULAR: ("1.32.6-gke.1096000", "1.31.9-gke.1044000"),
    Channel.STABLE: ("1.31.9-gke.1044000", "1.30.13-gke.1140000"),
    Channel.EXTENDED: ("1.31.9-gke.1044000", "1.30.13-gke.1140000", "1.29.15-gke.1325000"),
}
CHANNEL_DEFAULTS: dict[Channel, str] = {
    Channel.RAPID: "1.33.2-gke.1240000",
    Channel.REGULAR: "1.31.9-gke.1044000",
    Channel.STABLE: "1.31.9-gke.1044000",
    Channel.EXTENDED: "1.30.13-gke.1140000",
}
# A cluster created without a release channel is enrolled in REGULAR, as on GKE today.
DEFAULT_CHANNEL = Channel.REGULAR

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)-gke\.(\d+)")


def _version_key(version: str) -> tuple[int, ...]:
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"not a GKE version: {version}")
    return tuple(int(part) for part in match.groups())


_EVERY_VERSION = tuple(
    sorted(
        {v for versions in CHANNEL_VERSIONS.values() for v in versions},
        key=_version_key,
        reverse=True,
    )
)


def _newest_matching(requested: str, candidates: tuple[str, ...]) -> str | None:
    """The newest candidate that `requested` (`latest`, `1.X`, `1.X.Y` or a full version) names."""
    matching = [
        version
        for version in candidates
        if requested in ("latest", version)
        or version.startswith((requested + ".", requested + "-"))
    ]
    return max(matching, key=_version_key) if matching else None


def resolve_version(requested: str, channel: Channel) -> str:
    """The full GKE version a request for `requested` gets on `channel`."""
    if requested in ("", "-"):
        return CHANNEL_DEFAULTS[channel]
    version = _newest_matching(requested, CHANNEL_VERSIONS[channel])
    if version is None:
        raise invalid_argument(f'Master version "{requested}" is unsupported.')
    return version


def resolve_node_version(requested: str, master_version: str) -> str:
    """A node pool runs the master's version unless it asks for an older supported one."""
    if requested in ("", "-", "latest"):
        return master_version
    version = _newest_matching(requested, _EVERY_VERSION)
    if version is None:
        raise invalid_argument(f'Node version "{requested}" is unsupported.')
    if _version_key(version) > _version_key(master_version):
        raise invalid_argument(
            f'Node version "{requested}" must not be newer than the master version '
            f'"{master_version}".'
        )
    return version


def server_config() -> container_v1.ServerConfig:
    """What `getServerConfig` reports (the same in every zone of the catalog)."""
    return container_v1.ServerConfig(
        default_cluster_version=CHANNEL_DEFAULTS[DEFAULT_CHANNEL],
        valid_master_versions=list(_EVERY_VERSION),
        valid_node_versions=list(_EVERY_VERSION),
        default_image_type="COS_CONTAINERD",
        valid_image_types=["COS_CONTAINERD", "UBUNTU_CONTAINERD"],
        channels=[
            container_v1.ServerConfig.ReleaseChannelConfig(
                channel=channel,
                default_version=CHANNEL_DEFAULTS[channel],
                valid_versions=list(versions),
            )
            for channel, versions in CHANNEL_VERSIONS.items()
        ],
    )
