"""Which signals ``Processor.run()`` takes over: the daemon's choice, or only those nobody
else handles, so a processor embedded in a web server leaves the server's own alone."""

from __future__ import annotations

import asyncio
import signal
import threading


def signals_to_handle(install: bool | None) -> list[signal.Signals]:
    """The signals run() takes over: all, none, or (None) those still at Python's default
    disposition in the main thread: a host that set its own keeps it."""
    if install is False or threading.current_thread() is not threading.main_thread():
        return []
    defaults = {signal.SIGTERM: signal.SIG_DFL, signal.SIGINT: signal.default_int_handler}
    if install:
        return list(defaults)
    return [sig for sig, default in defaults.items() if _is_default(signal.getsignal(sig), default)]


def _is_default(handler: object, default: object) -> bool:
    # asyncio.run() puts its own SIGINT handler in place of Python's default (it cancels the
    # main task): that is no host's choice, so run() may still take SIGINT over.
    return handler is default or isinstance(getattr(handler, "__self__", None), asyncio.Runner)
