"""Daemon entry: ``tandemq run module:attribute`` (the command line is tandemq/cli; this
module keeps the run logic, ``run_target``, and ``python -m tandemq.processor`` works too).

The attribute is a Processor, or a function returning one. Runs on uvloop until SIGTERM or
SIGINT, then shuts down gracefully. Exit codes: 0 after a clean shutdown, 2 for a bad
configuration or target, 1 for anything unexpected.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import signal
import sys
import threading
from collections.abc import Sequence

from tandemq.common.errors import ConfigError, TandemqError
from tandemq.common.logging import configure, get_logger
from tandemq.common.settings import Settings

from .processor import Processor
from .supervisor import Supervisor

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
    uvloop = None  # type: ignore[assignment]


def load_target(target: str) -> Processor:
    """Import ``module:attribute`` (the current directory is importable) and get the Processor."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"target must look like module:attribute, got {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from exc
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no attribute {attribute!r}") from None
    if inspect.isfunction(obj) or inspect.ismethod(obj):
        obj = obj()
    if not isinstance(obj, Processor):
        raise ConfigError(f"{target} is a {type(obj).__name__}, not a tandemq Processor")
    return obj


def _exit_now(signum: int, frame: object) -> None:
    sys.exit(0)  # nothing is held yet: stopping before the processor runs is a clean stop


def run_target(target: str, workers: int | None = None) -> int:
    """Run the Processor that ``target`` names until SIGTERM/SIGINT; returns the exit code.

    ``workers`` (default TANDEMQ_WORKERS) above 1 runs that many processes under a
    supervisor. ``tandemq run`` (tandemq/cli/run.py) calls this.
    """
    # Until Processor.run() installs its graceful handlers, SIGTERM/SIGINT simply exit 0.
    signal.signal(signal.SIGTERM, _exit_now)
    signal.signal(signal.SIGINT, _exit_now)
    try:
        settings = Settings.load()
        configure(settings.log_format, settings.log_level)
        processor = load_target(target)  # also checked here with --workers: fail fast
        count = settings.workers if workers is None else workers
        if count < 1:
            raise ConfigError(f"--workers must be at least 1, got {count}")
    except ConfigError as exc:
        print(f"tandemq: {exc}", file=sys.stderr)
        return 2
    if count > 1:
        return Supervisor(target, count).run()
    try:
        if uvloop is not None:
            uvloop.run(processor.run(install_signal_handlers=True))
        else:  # pragma: no cover
            asyncio.run(processor.run(install_signal_handlers=True))
    except ConfigError as exc:  # refused login, missing ACL permission, evicting Redis
        get_logger("tandemq.processor").error("processor.config_error", error=str(exc))
        print(f"tandemq: {exc}", file=sys.stderr)
        return 2
    except TandemqError as exc:
        get_logger("tandemq.processor").error("processor.failed", error=str(exc))
        return 1
    _abandon_stuck_threads()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tandemq.processor TARGET [--workers N]``: the same as ``tandemq run``."""
    from tandemq.cli import main as cli_main  # noqa: PLC0415 - the CLI imports this module

    args = list(sys.argv[1:] if argv is None else argv)
    return cli_main(args if args[:1] == ["run"] else ["run", *args])


def _abandon_stuck_threads() -> None:
    """Exit now if a plain ``def`` handler is still running in a thread (it ran past its
    timeout, and threads cannot be cancelled): its task was already failed or given back to
    pending, and Python would otherwise wait for the thread at exit, for as long as it runs."""
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if not stuck:
        return
    get_logger("tandemq.processor").warning("processor.threads_abandoned", threads=len(stuck))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
