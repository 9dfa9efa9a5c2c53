"""location.Join (saxml/common/location.go), as a model server with `--sax_cell` calls it.

Join first checks that the cell exists under SAX_ROOT (a missing root is the Go code's
`log.Fatal`; a missing cell or unreadable bucket is the RuntimeError the server dies of). Its
watcher then waits 2 s, reads the admin's address from `location.proto` (re-read every 5 s, as
the platform's Watch polls it) and calls the admin's Join whenever that file changes (a new
admin) and at least every 15 minutes; a failed Join waits for the next change.
"""

from typing import Any

from emulator.kube.kubelet.behaviour import ContainerContext
from emulator.kube.workload_identity import BucketAccessError
from emulator.saxml.cellfs import LOCATION_FILE, CellFiles, go_storage_error
from emulator.saxml.glog import Glog
from emulator.saxml.processes import SaxProcesses
from emulator.saxml.rpc import AdminApi, ServerSpecs
from emulator.saxml.status import SaxError

JOIN_DELAY_SECONDS = 2.0
LOCATION_POLL_SECONDS = 5.0
REJOIN_SECONDS = 15 * 60.0


class JoinFailed(Exception):
    """location.Join raised: the model server logs it and dies."""


def check_cell(cell: CellFiles) -> None:
    """cell.Exists, as Join runs it before starting its watcher."""
    try:
        cell.require()
    except SaxError as error:
        raise JoinFailed(error.message) from None
    except BucketAccessError as error:
        raise JoinFailed(go_storage_error(error)) from None


async def keep_joined(
    ctx: ContainerContext,
    processes: SaxProcesses,
    cell: CellFiles,
    address: str,
    specs: ServerSpecs,
) -> None:
    """The watcher goroutine; runs until cancelled or the container stops."""
    log = Glog(ctx, ctx.world.clock.now)
    clock = ctx.world.clock
    await ctx.sleep(JOIN_DELAY_SECONDS)
    joined: Any = None
    joined_at = 0.0
    while True:
        try:
            location = cell.read_json(LOCATION_FILE)
        except BucketAccessError as error:
            location = None
            log.error(
                "location.go:112",
                f"Failed to get admin address to rejoin, retrying later: {go_storage_error(error)}",
            )
        stale = clock.now() - joined_at > clock.scaled(REJOIN_SECONDS)
        if location and (location != joined or stale):
            admin = str(location["location"])
            try:
                await processes.dial(admin, AdminApi).join(address, specs)
            except SaxError as error:
                log.error("location.go:98", f"Failed to join {admin}: {error.message}")
            else:
                log.info("location.go:100", f"Joined {admin}")
            joined, joined_at = location, clock.now()
        if not await ctx.sleep(LOCATION_POLL_SECONDS):
            return
