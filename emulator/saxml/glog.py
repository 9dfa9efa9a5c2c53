"""Log lines in the format Saxml's processes write them: glog (Go) and absl (Python).

Both use `Lmmdd hh:mm:ss.uuuuuu THREAD file:line] message`; `kubectl logs` shows them as the
container wrote them, so users grep the message part (`Successfully loaded model for key: ...`).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

GO_THREAD = 1  # glog prints the process id's goroutine thread; a container's main process is 1
PYTHON_THREAD = 139_872_153_446_208  # absl prints the thread ident of the main thread


class LineSink(Protocol):
    """Where lines go: a container context (`ctx.log`)."""

    def log(self, line: str) -> None: ...


def format_line(level: str, instant: float, thread: int, source: str, message: str) -> str:
    moment = datetime.fromtimestamp(instant, UTC)
    stamp = f"{moment:%m%d %H:%M:%S}.{moment.microsecond:06d}"
    return f"{level}{stamp} {thread:>7} {source}] {message}"


class Glog:
    """A process's logger: `log.info("admin.go:120", "Loaded manager state")`."""

    def __init__(self, sink: LineSink, now: Callable[[], float], thread: int = GO_THREAD) -> None:
        self._sink = sink
        self._now = now
        self._thread = thread

    def info(self, source: str, message: str) -> None:
        self._write("I", source, message)

    def warning(self, source: str, message: str) -> None:
        self._write("W", source, message)

    def error(self, source: str, message: str) -> None:
        self._write("E", source, message)

    def fatal(self, source: str, message: str) -> None:
        """glog's Fatal line; the caller then exits the process (glog exits with status 255)."""
        self._write("F", source, message)

    def raw(self, line: str) -> None:
        """A line written as is (a Python traceback, a shell's message)."""
        self._sink.log(line)

    def _write(self, level: str, source: str, message: str) -> None:
        self._sink.log(format_line(level, self._now(), self._thread, source, message))


FATAL_EXIT_CODE = 255  # glog's Fatal and absl's fatal both end the process with 255
