"""Processes of this machine: whether one still exists, and the machine's name
as records write it (run.json, a sweep trial's worker, a temporary file's name),
so that what a killed process left can be told from what a live one holds."""

from __future__ import annotations

import os
import socket


def host() -> str:
    """This machine's name."""
    return socket.gethostname()


def gone(pid: int) -> bool:
    """Whether no process ``pid`` exists on this machine. This process is never gone; another
    user's live process and a number that cannot be a pid are not known to be gone."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False
