"""How long a command takes to get going: when this process started, and the
named phases of its start-up (the imports, the spec, the data, the model), so
that a run can say where the seconds before its first step went.

Times are wall-clock (``time.time()``) seconds, so that a timestamp taken in
one process (an event's) can be compared with another's (a bench's launch).
"""

from __future__ import annotations

import os
import time

_IMPORTED = time.time()   # the fallback where the process's own start cannot be read


def process_started() -> float:
    """When this process started, as ``time.time()`` would have said then. On
    Linux from the kernel's record of the process (to about 20 ms: ``/proc``
    counts in clock ticks); elsewhere, when this module was first imported."""
    try:
        with open("/proc/self/stat") as f:
            stat = f.read()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        # Fields after the command's name, which is in parentheses and may hold spaces: field 22 is the start.
        started_after_boot = int(stat[stat.rindex(")") + 2:].split()[19]) / ticks
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED
    return time.time() - max(0.0, uptime - started_after_boot)


class Phases:
    """A start-up's phases in the order they ended: ``mark("spec")`` closes the
    phase that began at the last mark (or at ``began``)."""

    def __init__(self, began: float | None = None):
        self.began = time.time() if began is None else began
        self._last = self.began
        self.parts: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.time()
        self.parts.append((name, max(0.0, now - self._last)))
        self._last = now

    def since_began(self, at: float | None = None) -> float:
        """Seconds from ``began`` to ``at`` (now)."""
        return max(0.0, (time.time() if at is None else at) - self.began)

    def words(self) -> str:
        """The phases in words: "imports 2.71 s, spec 0.12 s, data 0.31 s"."""
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.parts)
