"""A Sax cell's files: where the admin, the model servers and clients meet.

The Go platform code maps `gs://B/P` to `/gcs/B/P` and stores a "directory" as an empty
`METADATA` object, since GCS has none. Under the sax root: `sax/<cell>/METADATA`, `config.proto`
(the fs root) and `location.proto` (the admin's `IP:port`); under the fs root:
`sax/<cell>/state.proto` (the published models). Every access goes through the calling pod's
own storage view, so Workload Identity decides who may read and write. The files hold JSON where
Saxml writes binary protobuf: nothing but the emulated processes reads them.

A root that is not `gs://` is a directory of the container's own filesystem: it works for that
process alone and is gone when the container restarts, as on a pod without a volume.
"""

import json
from dataclasses import dataclass
from typing import Any, Protocol

from emulator.kube.workload_identity import BucketAccessError
from emulator.saxml.status import SaxError, wrapped

METADATA = "METADATA"
CONFIG_FILE = "config.proto"
LOCATION_FILE = "location.proto"
STATE_FILE = "state.proto"
# platform/cloud.go's RootDir calls log.Fatal with this when no root is configured.
NO_SAX_ROOT = "Neither the sax_root flag nor the SAX_ROOT environment variable is set"


class Files(Protocol):
    """Object storage as the process sees it: `PodStorage`, or `LocalFiles`."""

    def read(self, bucket: str, name: str) -> bytes | None: ...

    def write(self, bucket: str, name: str, data: bytes) -> None: ...

    def list(self, bucket: str, prefix: str) -> list[str]: ...


class LocalFiles:
    """A container's own filesystem (`bucket` is empty)."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}

    def read(self, bucket: str, name: str) -> bytes | None:
        return self._files.get(name)

    def write(self, bucket: str, name: str, data: bytes) -> None:
        self._files[name] = data

    def list(self, bucket: str, prefix: str) -> list[str]:
        return sorted(name for name in self._files if name.startswith(prefix))


@dataclass(frozen=True)
class Root:
    """A sax root or fs root: `gs://bucket/prefix`, or a local directory."""

    url: str

    @property
    def on_gcs(self) -> bool:
        return self.url.startswith("gs://")

    @property
    def bucket(self) -> str:
        return self.url.removeprefix("gs://").partition("/")[0] if self.on_gcs else ""

    @property
    def prefix(self) -> str:
        path = self.url.removeprefix("gs://").partition("/")[2] if self.on_gcs else self.url
        return path.strip("/")

    def name(self, cell: str, file: str) -> str:
        """The object name of a cell file (`sax-root/sax/test/location.proto`)."""
        return "/".join(part for part in (self.prefix, cell.strip("/"), file) if part)

    def platform_path(self, cell: str) -> str:
        """The path Saxml's messages show (`/gcs/B/sax-root/sax/test`)."""
        if self.on_gcs:
            return "/".join(["/gcs", self.bucket, self.name(cell, "")]).rstrip("/")
        return "/" + self.name(cell, "")


class CellFiles:
    """One cell's files under one root, read and written as one process."""

    def __init__(self, files: Files, root: Root, cell: str) -> None:
        self.files = files
        self.root = root
        self.cell = cell

    @property
    def path(self) -> str:
        return self.root.platform_path(self.cell)

    def exists(self) -> bool:
        """env.DirExists: any object under the cell's directory (raises storage errors)."""
        return bool(self.files.list(self.root.bucket, self.root.name(self.cell, "") + "/"))

    def create(self) -> None:
        """env.CreateDir: the `METADATA` marker."""
        self._write(METADATA, b"")

    def read_json(self, file: str) -> Any:
        data = self.files.read(self.root.bucket, self.root.name(self.cell, file))
        return None if data is None else json.loads(data)

    def write_json(self, file: str, content: Any) -> None:
        self._write(file, json.dumps(content, indent=2).encode())

    def require(self) -> None:
        """cell.Exists: FailedPrecondition when the cell's directory is missing."""
        if not self.exists():
            raise wrapped("FailedPrecondition", f'"{self.path}" is not a directory')

    def admin_address(self) -> str:
        """addr.FetchAddr: the admin's `IP:port` from `location.proto`."""
        location = self.read_json(LOCATION_FILE)
        if not location:
            raise SaxError(
                "FailedPrecondition",
                f"no admin server has ever run for Sax cell {self.cell}: "
                f"{self.path}/{LOCATION_FILE} not found",
            )
        return str(location["location"])

    def _write(self, file: str, data: bytes) -> None:
        self.files.write(self.root.bucket, self.root.name(self.cell, file), data)


def go_storage_error(error: BucketAccessError) -> str:
    """The error as Go's Cloud Storage client returns it to Saxml's Go code."""
    if error.code == 404:
        return "storage: bucket doesn't exist"
    return f"googleapi: Error {error.code}: {error.message}, forbidden"
