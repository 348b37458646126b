"""Stop signals: Ctrl-C (SIGINT), SIGTERM (docker stop, Slurm, Kubernetes, torchrun) and SIGHUP
(a closed terminal) all ask a long command to stop cleanly at its next step; a second one of any
of them aborts at once (KeyboardInterrupt), as a second Ctrl-C does."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)


def _abort(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def stop_on_signals(first: Callable[[str], None]) -> Iterator[None]:
    """While inside: the first stop signal calls ``first(name)`` (e.g. 'Ctrl-C', 'SIGTERM'); any later
    one raises KeyboardInterrupt. The previous handlers come back on the way out."""

    def on_signal(signum, frame):
        for s in STOP_SIGNALS:
            signal.signal(s, _abort)
        first("Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
