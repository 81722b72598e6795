"""The ``tandemq`` command line: nouns, then verbs, then flags; every command is one call into
the Inspector (or the daemon, for ``run``). ``python -m tandemq`` is the same command.

Exit codes: 0 done; 1 not found (queue, task) or refused (the task's state does not allow
the action, the queue is not empty); 2 usage or configuration (a bad flag, a bad
environment value); 3 Redis unreachable.

Commands are loaded on use from COMMANDS; a new one (``tandemq dashboard``) is a module of
its own plus one line there.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from tandemq.common.errors import BrokerUnavailable, ConfigError, InvalidRequest, TandemqError

from ._app import LazyGroup, failure

__all__ = ["COMMANDS", "cli", "main"]

COMMANDS: dict[str, str] = {
    "queues": "tandemq.cli.queues:queues",
    "queue": "tandemq.cli.queues:queue",
    "tasks": "tandemq.cli.tasks:tasks",
    "processors": "tandemq.cli.processors:processors",
    "stats": "tandemq.cli.stats:stats",
    "run": "tandemq.cli.run:run",
    "dashboard": "tandemq.cli.dashboard:dashboard",
    "metrics": "tandemq.cli.metrics:metrics",
    "outbox": "tandemq.cli.outbox:outbox",
    "cron": "tandemq.cli.cron:cron",
}


@click.group(cls=LazyGroup, commands=COMMANDS)
@click.version_option(package_name="tandemq", prog_name="tandemq")
def cli() -> None:
    """Operate tandemq: queues, tasks, processors, and the processor daemon itself.

    Reads REDIS_URL and TANDEMQ_PREFIX (and the other TANDEMQ_* settings) from the
    environment. Exit codes: 0 done, 1 not found or refused, 2 usage or configuration,
    3 Redis unreachable.
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and ":" in args[0] and not args[0].startswith("-"):
        args.insert(0, "run")  # `tandemq module:attr`, as before the CLI had subcommands
    try:
        result = cli.main(args, prog_name="tandemq", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except (ConfigError, InvalidRequest) as exc:
        return failure(exc, 2)
    except BrokerUnavailable as exc:
        return failure(exc, 3)
    except TandemqError as exc:
        return failure(exc, 1)
    return result if isinstance(result, int) else 0
