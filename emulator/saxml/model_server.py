"""The model server's RPCs (saxml/server/model_service_base.py) on the primary host of a slice.

Load validates the request (a path the registry lacks, or a checkpoint a non-test class cannot
use, is an `Invalid load request`), tells the secondary hosts (`Received load: <key>`), takes
the modelled time to initialise and compile, then logs `loading completed.` and `Successfully
loaded model for key: <key>`. Any other failure (an injected `model-load-failure`, a checkpoint
the pod may not read) is an `Internal error during loading`. A failed model stays FAILED on the
server until it is unloaded.
"""

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from emulator.core.faults import Fault, Faults
from emulator.kube.workload_identity import BucketAccessError
from emulator.saxml import generation, registry
from emulator.saxml.cellfs import Files, Root
from emulator.saxml.faults import load_method
from emulator.saxml.glog import Glog
from emulator.saxml.processes import JaxWorld
from emulator.saxml.rpc import FAILED, LOADED, LOADING, ModelServerApi, ModelStatus, Samples
from emulator.saxml.status import SaxError, wrapped

SOURCE = "model_service_base.py"
SECONDS_PER_TOKEN = 0.017  # lm_cloud's 175B docstring: 17 ms per output token
COMPILE_SHARE = 0.6  # of a load, what XLA compilation takes (the rest initialises weights)
_STEP_DIRECTORY = re.compile(r"checkpoint_\d{8}/?$")

Sleep = Callable[[float], Awaitable[bool]]  # a modelled wait; False when the container stops


class InvalidLoad(ValueError):
    """A ValueError while loading: Saxml's `Invalid load request`."""


@dataclass
class Entry:
    model_path: str
    status: str
    error: str = ""


class ModelServer(ModelServerApi):
    """Process 0 of a slice, as the admin and clients reach it at `IP:port`."""

    def __init__(
        self, log: Glog, world: JaxWorld, files: Files, faults: Faults, sleep: Sleep
    ) -> None:
        self.log = log
        self.world = world
        self.files = files
        self.faults = faults
        self.sleep = sleep
        self.models: dict[str, Entry] = {}

    def get_status(self) -> dict[str, ModelStatus]:
        return {key: ModelStatus(entry.status, entry.error) for key, entry in self.models.items()}

    async def load(self, model_key: str, model_path: str, checkpoint: str) -> None:
        existing = self.models.get(model_key)
        if existing is not None:
            if existing.status == LOADED and existing.model_path == model_path:
                return
            raise wrapped("AlreadyExists", f"model {model_key} is {existing.status.lower()}")
        entry = self.models[model_key] = Entry(model_path, LOADING)
        self.log.info(f"{SOURCE}:1012", f"Loading model for key: {model_key}")
        try:
            model = self._validate(model_path, checkpoint)
            for host in self.world.secondaries():
                host.log.info(f"{SOURCE}:1704", f"Received load: {model_key}")
            await self._initialise(model, checkpoint, self.faults.take(load_method(model_key)))
        except InvalidLoad as error:
            self.log.error(
                f"{SOURCE}:1052",
                f"Invalid load request. model_key: {model_key}, model_path: {model_path}, "
                f"error: {error}",
            )
            entry.status, entry.error = FAILED, str(error)
            raise wrapped("InvalidArgument", str(error)) from None
        except (RuntimeError, BucketAccessError) as error:
            self._internal_error(model_key, model_path, entry, str(error))
            raise SaxError("Internal", str(error)) from None
        if self.models.get(model_key) is not entry:
            raise wrapped("Aborted", f"model {model_key} was unloaded while loading")
        self.log.info("servable_model.py:353", "loading completed.")
        self.log.info(f"{SOURCE}:1078", f"Successfully loaded model for key: {model_key}")
        entry.status = LOADED

    async def unload(self, model_key: str) -> None:
        if self.models.pop(model_key, None) is None:
            raise wrapped("NotFound", f"model {model_key} not found")
        for host in self.world.secondaries():
            host.log.info(f"{SOURCE}:1704", f"Received unload: {model_key}")
        self.log.info(f"{SOURCE}:1115", f"Successfully unloaded model for key: {model_key}")

    async def generate(self, model_key: str, query: str, extra: dict[str, float]) -> Samples:
        entry = self.models.get(model_key)
        if entry is None or entry.status != LOADED:
            raise wrapped("NotFound", f"model {model_key} not found")
        model = registry.find(entry.model_path)
        assert model is not None  # only registered models load
        used = {key: value for key, value in extra.items() if key in model.extra_inputs}
        steps = int(used.get("per_example_max_decode_steps", model.max_decode_steps))
        steps = max(1, min(steps, model.max_decode_steps))
        if not await self.sleep(steps * SECONDS_PER_TOKEN):
            raise wrapped("Unavailable", "the model server is shutting down")
        return generation.generate(model.path, query, used, model.num_samples, steps)

    def _validate(self, model_path: str, checkpoint: str) -> registry.ModelClass:
        model = registry.find(model_path)
        if model is None:
            known = ", ".join(repr(name) for name in registry.registered_names())
            raise InvalidLoad(f"Could not find servable model {model_path} in dict_keys([{known}])")
        if model.test_mode:
            return model
        if checkpoint == "None" or not checkpoint:
            raise InvalidLoad(f"Invalid checkpoint path {checkpoint}. Must be a directory.")
        if not _STEP_DIRECTORY.search(checkpoint):
            raise InvalidLoad(
                f"Invalid checkpoint path {checkpoint}. Expected a step directory, e.g., "
                "/some/path/checkpoint_00100000"
            )
        root = Root(checkpoint.rstrip("/"))  # a finalized Paxml step holds commit_success.txt
        if self.files.read(root.bucket, f"{root.prefix}/commit_success.txt") is None:
            raise InvalidLoad(
                f"Invalid checkpoint path {checkpoint}. The checkpoint is not finalized: "
                f"{root.url}/commit_success.txt does not exist"
            )
        return model

    async def _initialise(
        self, model: registry.ModelClass, checkpoint: str, fault: Fault | None
    ) -> None:
        """Initialise (or restore) the weights, then compile every method."""
        if model.test_mode:
            self.log.info(
                "servable_model.py:180", f"Ignoring checkpoint_path {checkpoint} in test mode."
            )
        initialise = model.load_seconds * (1 - COMPILE_SHARE) + (fault.delay if fault else 0.0)
        if not await self.sleep(initialise):
            raise RuntimeError("the model server is shutting down")
        if fault is not None and fault.status is not None:
            raise RuntimeError(fault.message)  # device memory runs out before compilation ends
        compile_seconds = model.load_seconds * COMPILE_SHARE
        if not await self.sleep(compile_seconds):
            raise RuntimeError("the model server is shutting down")
        self.log.info(
            "pjit.py:1258",
            f"Finished XLA compilation of pjit(_wrapped_fn) in {compile_seconds / 8:.1f} sec",
        )

    def _internal_error(self, model_key: str, model_path: str, entry: Entry, error: str) -> None:
        self.log.error(
            f"{SOURCE}:1060",
            f"Internal error during loading. model_key: {model_key}, model_path: {model_path}, "
            f"error: {error}",
        )
        for host in self.world.secondaries():
            host.log.error(
                f"{SOURCE}:1731", f"Error occurred during loading: {model_key}, error: {error}"
            )
        entry.status, entry.error = FAILED, error
