"""Pieces every emulated API shares: the clock, Google error shapes, faults and the world.

Shared emulator contract
------------------------
- `emulator/core/clock.py`: `Clock(time_scale)`; `clock.now()` wall seconds; `clock.scaled(s)`
  turns a modelled duration into wall seconds; `await clock.sleep(s)` sleeps a modelled duration;
  `rfc3339(t)`. Model durations realistically (a zonal cluster ~300 s, a TPU pool ~180 s, IAM
  propagation ~60 s) and let the time scale shrink them. The default `--time-scale` is 0.01 so a
  whole deployment takes well under a minute; tests may use smaller.
- `emulator/core/errors.py`: `GoogleApiError(code, message, status, reason)` and helpers
  (`invalid_argument`, `failed_precondition` (HTTP 400), `unauthenticated`, `permission_denied`,
  `not_found`, `already_exists`, `aborted` (409 stale etag), `resource_exhausted` (429)). Raise
  them in handlers; the HTTP layer renders the real Google JSON error body.
- `emulator/core/faults.py`: `Faults` with method faults (`Fault(method=<fnmatch pattern on
  method id>, status, message, times, fraction, delay)`) and named scenarios
  (`faults.register_scenario(name, fn(params) -> dict, reset=fn())`; `reset` puts the world back
  to normal on `DELETE /faults`): a scenario changes the *state* of the emulated world (zone
  capacity, propagation delay, bucket ownership), never looks at who is calling.
- `emulator/core/world.py`: `World(project_id, project_number, clock, faults, services,
  authorizer)`; `Resource(api, kind, name, labels, created)`; the `Service` protocol (`name`,
  `resources()`, `dump() -> JSON-able dict`, `load(state)`); `await world.authorize(request,
  permission, resource) -> principal` (401 without a valid bearer token, 403 without the
  permission). `resource` is a path whose `projects/P` prefix names the project whose policy
  applies (`projects/P/locations/Z/clusters/C`); services holding policies of resources below a
  project (buckets, service accounts) contribute them through `policies_for(resource)`.
- `emulator/core/http.py`: `google_api_app(world, routes)` builds an aiohttp app whose
  middleware applies injected faults by route name and renders `GoogleApiError`;
  `json_response(body, status)`; `await read_json(request)` (400 for a body that is not a JSON
  object). **Every route is named with its discovery-style method id**, e.g.
  `web.post(path, handler, name="container.projects.locations.clusters.nodePools.create")`, so
  faults match on it.
- One process, one asyncio event loop (aiohttp). All state is mutated on the loop thread only.
  Each API is served on its own loopback port (IAM and Resource Manager v1 share URL shapes, so
  they cannot share a port). Bind 127.0.0.1 only.
- Package layout: `emulator/app.py` (builds the world and all services, serves them, ready file,
  state file, signals), `emulator/__main__.py` (`python -m emulator serve ...`),
  `emulator/gcp/auth.py`, `emulator/gcp/iam.py`, `emulator/gcp/resourcemanager.py`,
  `emulator/gcp/storage/` (a package: buckets, objects, uploads), `emulator/gcp/control.py`,
  `emulator/gcp/gke/` (a package: GKE API, operations, cluster endpoints), `emulator/gcp/compute/`
  (a package: addresses, forwarding rules and their listeners, region operations).
- The GKE service is `emulator.gcp.gke.GkeService(world)` with `name = "container"`,
  `routes() -> list[web.RouteDef]`, `resources()`, `dump()`, `load(state)`, `async start()` and
  `async stop()` (it runs one HTTPS server per RUNNING cluster), `workload_pools() -> set[str]`
  (the `PROJECT.svc.id.goog` pools that exist because a cluster with Workload Identity exists),
  and `billing() -> list[dict]` (one entry per TPU node pool: project, zone, cluster, node_pool,
  machine_type, chips, chip_seconds) used by the control API's `GET /billing`.
- Other services follow the same shape: `routes()`, `resources()`, `dump()`, `load()`; `app.py`
  serves `google_api_app(world, service.routes())` for each on its own port. `POST /reset` calls
  every service's `load()` with the `dump()` it gave right after construction, so `load()` must
  also tear down what the state no longer holds (servers, timers, tasks).
- The emulator never knows about the DAG or tests: no code path looks at who is calling or what a
  test wants. It must not import the product's code (`plugins/saxml_gke`): it models GKE's and
  Google's own rules, independently of the code under test.
- Tests drive the emulator with the real client libraries over HTTP on loopback (no
  monkeypatching of clients). A pytest fixture that starts the emulator (in a subprocess via
  `python -m emulator serve --ready-file ...`) lives in `tests/emulator/conftest.py`:
  `emulator` (the ready-file dict, one emulator per session), `fresh_world` (`POST /reset`
  first), `control`, `credentials`, `api`, `gcs`, `issue_key`, and helpers (`RunningEmulator`,
  `credentials_for`, `operator_key`, `discovery_client`, `storage_client`, `api_error`).
"""
