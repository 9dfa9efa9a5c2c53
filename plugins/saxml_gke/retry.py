"""Bounded retries with exponential back-off, driven by the error policy in `errors.py`."""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from saxml_gke.errors import DeploymentError, ErrorKind

T = TypeVar("T")
ATTEMPTS = 8
log = logging.getLogger(__name__)


def with_retries(
    call: Callable[[], T],
    describe: Callable[[Exception], tuple[ErrorKind, str] | None],
    *,
    what: str,
    attempts: int = ATTEMPTS,
    first_delay: float = 1.0,
    max_delay: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`; retry transient errors, raise DeploymentError for the rest.

    `describe` maps an exception to its kind and a message, or None for exceptions that are not
    remote errors (bugs), which propagate untouched.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as error:
            described = describe(error)
            if described is None:
                raise
            kind, message = described
            if kind is not ErrorKind.TRANSIENT:
                raise DeploymentError(kind, f"{what}: {message}") from error
            if attempt == attempts:
                raise DeploymentError(
                    kind, f"{what}: still failing after {attempts} attempts: {message}"
                ) from error
            log.warning("%s: %s; retrying in %.0f s (attempt %d/%d)", what, message, delay,
                        attempt, attempts)  # fmt: skip
            sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")
