"""The Google Cloud CLI image (`google/cloud-sdk`, `gcr.io/google.com/cloudsdktool/...`), as
GKE's Workload Identity guide uses it to check what a pod may do: the container's command is a
`gcloud` command, run with the pod's Google identity against the emulated services.

Understood: `gcloud auth list`, `gcloud storage cat gs://BUCKET/OBJECT` and
`gcloud storage ls gs://BUCKET[/PREFIX]`. The output (or gcloud's `ERROR: (...)` line) goes to
the container log and the exit code is gcloud's (0, or 1 on an error). Any other command (e.g.
`sleep infinity`) runs until the container is stopped.
"""

from collections.abc import Mapping
from typing import Any

from emulator.kube.kubelet.behaviour import ContainerBehaviour, ContainerContext
from emulator.kube.kubelet.images import image_repository
from emulator.kube.workload_identity import BucketAccessError, PodStorage, pod_identity

REPOSITORIES = (
    "google/cloud-sdk",
    "gcr.io/google.com/cloudsdktool/cloud-sdk",
    "gcr.io/google.com/cloudsdktool/google-cloud-cli",
)


class CloudSdkImage(ContainerBehaviour):
    image_pull_seconds = 30.0  # the full image is over a gigabyte
    image_size_bytes = 1_200_000_000
    start_seconds = 1.0

    def matches(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> bool:
        return image_repository(str(container.get("image", ""))) in REPOSITORIES

    async def run(self, ctx: ContainerContext) -> int | None:
        words = _command_words([*ctx.command, *ctx.args])
        if words[:2] == ["gcloud", "auth"] and words[2:3] == ["list"]:
            return self._auth_list(ctx)
        if words[:2] == ["gcloud", "storage"] and words[2:3] in (["cat"], ["ls"]):
            return self._storage(ctx, words[2], words[3:])
        await ctx.wait_until_stopped()
        return 0

    def _auth_list(self, ctx: ContainerContext) -> int:
        identity = pod_identity(ctx.cluster, ctx.pod)
        if identity.principal is None:
            ctx.log("No credentialed accounts.")
            return 0
        ctx.log("Credentialed Accounts")
        ctx.log("ACTIVE  ACCOUNT")
        ctx.log(f"*       {identity.principal.removeprefix('serviceAccount:')}")
        return 0

    def _storage(self, ctx: ContainerContext, verb: str, urls: list[str]) -> int:
        command = f"gcloud.storage.{verb}"
        if len(urls) != 1 or not urls[0].startswith("gs://"):
            ctx.log(f"ERROR: ({command}) expected one gs:// URL, got: {' '.join(urls)}")
            return 1
        bucket, _, name = urls[0].removeprefix("gs://").partition("/")
        storage = PodStorage(ctx.cluster, ctx.pod)
        identity = pod_identity(ctx.cluster, ctx.pod)
        try:
            if verb == "ls":
                for listed in storage.list(bucket, name):
                    ctx.log(f"gs://{bucket}/{listed}")
                return 0
            data = storage.read(bucket, name)
        except BucketAccessError as error:
            if identity.principal is None:
                ctx.log(
                    f"ERROR: ({command}) There was a problem refreshing your current auth "
                    f"tokens: {error.message}"
                )
            else:
                ctx.log(f"ERROR: ({command}) HTTPError {error.code}: {error.message}")
            return 1
        if data is None:
            ctx.log(f"ERROR: ({command}) The following URLs matched no objects or files:")
            ctx.log(f"-{urls[0]}")
            return 1
        for line in data.decode(errors="replace").splitlines():
            ctx.log(line)
        return 0


def _command_words(parts: list[str]) -> list[str]:
    """The gcloud words of a command, also when it runs through `sh -c "..."`."""
    if len(parts) >= 3 and parts[0] in ("sh", "bash", "/bin/sh", "/bin/bash") and parts[1] == "-c":
        return parts[2].split()
    return parts
