"""The `model-load-failure` scenario: loading a model fails inside the model server.

What a device OOM or a broken compilation looks like on GKE: the model server logs `Internal
error during loading. model_key: ..., model_path: ..., error: ...`, keeps the model FAILED and
stays busy with it until it is unpublished; the admin does not retry elsewhere. The scenario
adds a method fault on `saxml.models.load/<model key>` that model servers take at each load, so
`DELETE /faults` ends it like any other fault.
"""

from typing import Any

from emulator.core.faults import Fault, Faults

SCENARIO = "model-load-failure"
# What XLA reports when a model does not fit in HBM.
DEFAULT_ERROR = (
    "RESOURCE_EXHAUSTED: Error loading program: Attempting to reserve 12.50G at the bottom of "
    "memory. That was not possible. There are 9.81G free, 0B reserved, and 9.81G reservable."
)


def load_method(model_key: str) -> str:
    """The method id a model server's load of `model_key` takes faults from."""
    return f"saxml.models.load/{model_key}"


def register_faults(faults: Faults) -> None:
    """Make the scenario known to the control API (once per world)."""

    def apply(params: dict[str, Any]) -> dict[str, Any]:
        model = params.get("model")
        if not isinstance(model, str) or not model.startswith("/sax/"):
            raise ValueError("model-load-failure needs `model`, a model key like /sax/test/spmd")
        times = params.get("times")
        fault = Fault(
            method=load_method(model),
            status=500,
            message=str(params.get("error") or DEFAULT_ERROR),
            times=None if times is None else int(times),
        )
        faults.add(fault)
        return {"method": fault.method, "times": fault.times, "error": fault.message}

    faults.register_scenario(SCENARIO, apply)
