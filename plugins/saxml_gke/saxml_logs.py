"""What a model server's log says about loading a model: loaded, failed, or not yet.

Saxml's `active_replicas` counts servers assigned a model, loaded or not, so the log line is the
only reliable signal; its failure lines are the only diagnostics a user gets (a mesh mismatch is
logged once at start-up and nowhere else).
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadState:
    loaded: bool
    failure: str | None  # the failure line, verbatim


def loaded_line(model_key: str) -> str:
    return f"Successfully loaded model for key: {model_key}"


def scan(lines: Iterable[str], model_key: str, model_path: str) -> LoadState:
    """The state the lines show; a failure wins over a load (a later reload may fail again)."""
    failure_markers = (
        f"Skipping unsupported model {model_path}",
        f"Invalid load request. model_key: {model_key},",
        f"Internal error during loading. model_key: {model_key},",
        f"Error occurred during loading: {model_key},",
    )
    loaded = False
    for line in lines:
        if any(marker in line for marker in failure_markers):
            return LoadState(loaded=False, failure=line.strip())
        if line.rstrip().endswith(loaded_line(model_key)):
            loaded = True
    return LoadState(loaded=loaded, failure=None)
