"""One trigger for every wait: run a named probe until it is done, fails or runs out of time.

The probes (saxml_gke.waits) are synchronous client calls, so each poll runs in a thread and the
triggerer's event loop never blocks. The deadline is enforced here, not only by Airflow's
deferral timeout, so a timed-out wait ends with what it was waiting for and the last state seen.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from saxml_gke.errors import DeploymentError


class PollTrigger(BaseTrigger):
    def __init__(
        self,
        probe: str,
        arguments: dict[str, Any],
        poll_seconds: float,
        deadline: float,
        description: str,
        resume: dict[str, Any],
        first_delay: float = 0.0,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.resume = resume
        self.first_delay = first_delay
        self.probe = probe
        self.arguments = arguments
        self.poll_seconds = poll_seconds
        self.deadline = deadline
        self.description = description
        self.state = state or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "probe": self.probe,
                "arguments": self.arguments,
                "poll_seconds": self.poll_seconds,
                "deadline": self.deadline,
                "description": self.description,
                "resume": self.resume,
                "first_delay": self.first_delay,
                "state": self.state,
            },
        )

    def _event(self, status: str, **fields: Any) -> TriggerEvent:
        """The event carries what the task resumes with (`then`, `carry`), so resuming needs
        no deferral kwargs (which `dag.test()` drops in Airflow 3.3)."""
        return TriggerEvent({"status": status, **fields, **self.resume})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from saxml_gke.waits import PROBES

        probe = PROBES[self.probe]
        state = dict(self.state)
        last_progress = None
        await asyncio.sleep(self.first_delay)
        while True:
            try:
                poll = await asyncio.to_thread(probe, self.arguments, state)
            except DeploymentError as error:
                yield self._event("failed", message=str(error))
                return
            except Exception as error:  # a bug must fail the task with its cause, not hang it
                self.log.exception("%s: probe %s failed", self.description, self.probe)
                yield self._event("failed", message=f"{type(error).__name__}: {error}")
                return
            state = poll.state or state
            if poll.progress != last_progress:
                self.log.info("%s: %s", self.description, poll.progress)
                last_progress = poll.progress
            if poll.failure:
                yield self._event("failed", message=poll.failure)
                return
            if poll.done:
                yield self._event("done", result=poll.result)
                return
            if time.time() >= self.deadline:
                yield self._event(
                    "failed",
                    message=f"timed out waiting for {self.description}; last seen: {last_progress}",
                )
                return
            await asyncio.sleep(self.poll_seconds)
