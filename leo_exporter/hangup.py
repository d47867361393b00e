"""SIGHUP ignored until a handler is ready: its default action ends the process.

The front and the worker install their handlers (pass it on, reload the config) only once their
event loops run, after a second or more of imports and, in the worker, the config; a SIGHUP in
that window killed them (the front 0.1 s after launch, a worker in its first 1.3 s). The command's
entry point (launch.py) ignores it first thing; an ignored signal stays ignored across exec, so
the front starts its workers with it ignored (front.py); removing a handler restores the default,
so whoever removes one ignores the signal again.
"""

from __future__ import annotations

import signal
import threading


def ignore_sighup() -> None:
    """SIGHUP ignored (in the main thread only: elsewhere signals cannot be set)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
