"""Which Saxml image a container runs, and what its version changes.

The images are `us-docker.pkg.dev/cloud-tpu-images/inference/sax-{admin-server,model-server,
http}:<tag>`. v1.x admin images run `admin_config` then `admin_server` with roots derived from
`GSBUCKET` and the cell `/sax/test`; later images (nightly, HEAD) also take `SAX_GCS_BUCKET`,
`SAX_REPLICA_NAME` and explicit `SAX_ROOT`/`FS_ROOT`, default the cell to `/sax/cell` and log
at `--v=3`. sax-http before v1.2.0 is the stdlib server, from v1.2.0 the FastAPI one.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

ADMIN_SERVER = "sax-admin-server"
MODEL_SERVER = "sax-model-server"
HTTP_SERVER = "sax-http"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def image_name(image: str) -> str:
    """`.../sax-http:v1.0.0` -> `sax-http` (the last path element, without tag or digest)."""
    return image.partition("@")[0].rsplit("/", 1)[-1].partition(":")[0]


def image_version(image: str) -> tuple[int, int, int] | None:
    """The release a tag names (`v1.2.0` -> (1, 2, 0)); None for nightly, latest and digests."""
    tag = image.partition("@")[0].rsplit("/", 1)[-1].partition(":")[2]
    match = _VERSION.match(tag)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def is_release_1(image: str) -> bool:
    version = image_version(image)
    return version is not None and version[0] == 1


def fastapi_http(image: str) -> bool:
    """sax-http v1.2.0 and later (and nightly builds) are the FastAPI server."""
    version = image_version(image)
    return version is None or version >= (1, 2, 0)


@dataclass(frozen=True)
class AdminSettings:
    """What the admin image's entrypoint passes to `admin_config` and `admin_server`."""

    cell: str
    sax_root: str
    fs_root: str
    port: int
    verbosity: int


def admin_settings(image: str, env: Mapping[str, str]) -> AdminSettings:
    """The entrypoint script's variables, as bash expands them for this image."""
    cell = env.get("SAX_CELL", "/sax/test" if is_release_1(image) else "/sax/cell")
    port = int(env.get("PORT", "10000") or "10000")
    if is_release_1(image):
        bucket = env.get("GSBUCKET", "")
        return AdminSettings(cell, f"gs://{bucket}/sax-root", f"gs://{bucket}/sax-fs-root", port, 0)
    bucket = env.get("GSBUCKET") or env.get("SAX_GCS_BUCKET", "")
    sax_root, fs_root = env.get("SAX_ROOT", ""), env.get("FS_ROOT", "")
    if bucket:
        replica = env.get("SAX_REPLICA_NAME", "")
        base = f"gs://{bucket}/{replica}" if replica else f"gs://{bucket}"
        sax_root, fs_root = f"{base}/sax-root", f"{base}/sax-fs-root"
    return AdminSettings(cell, sax_root, fs_root, port, 3)
