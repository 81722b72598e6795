"""``tandemq cron ls`` and ``tandemq tasks cancel``, run for real in a subprocess against the
test Redis: the listing's table and JSON, cancel's exit codes and its effect in Redis."""

from __future__ import annotations

import json
from datetime import timedelta

from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.task import TaskState
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector
from tests.cron_seed import register_entries

from .support import Result, tandemq
from .test_commands import Mail


async def _run(env: dict[str, str], *args: str) -> Result:
    return await tandemq(*args, **env)


async def test_cron_ls_shows_entries_with_last_and_next_run(
    redis_env: dict[str, str], prefix: str, broker: Broker, redis: Redis
) -> None:
    empty = await _run(redis_env, "cron", "ls")
    assert empty.code == 0 and "no periodic entries" in empty.out
    await register_entries(broker, redis, prefix)
    result = await _run(redis_env, "cron", "ls")
    assert result.code == 0, result.err
    assert "\x1b[" not in result.out  # piped: no colour
    for header in ("entry", "spec/interval", "tz", "queue", "type", "last run", "next run"):
        assert header in result.out
    report = next(line for line in result.out.splitlines() if "report" in line)
    for cell in ("*/5 * * * *", "Europe/Riga", "low", "tests.report"):
        assert cell in report
    assert "2025-12-29 09:20:00.000Z" in report and "2025-12-29 09:25:00.000Z" in report
    sync = next(line for line in result.out.splitlines() if "sync" in line)
    assert "every 0:15:00" in sync and "tests.sync" in sync


async def test_cron_ls_json_is_the_inspectors_entries(
    redis_env: dict[str, str], prefix: str, broker: Broker, redis: Redis, inspector: Inspector
) -> None:
    await register_entries(broker, redis, prefix)
    result = await _run(redis_env, "cron", "ls", "--json")
    assert result.code == 0, result.err
    expected = [e.model_dump(mode="json") for e in await inspector.cron_entries()]
    assert json.loads(result.out) == expected
    assert [e["id"] for e in expected] == ["report", "sync"]
    assert expected[0]["next_run"] is not None and expected[1]["last_run"] is None


async def test_tasks_cancel_cancels_a_scheduled_task_and_exits_0(
    redis_env: dict[str, str], distributor: Distributor, inspector: Inspector
) -> None:
    info = await distributor.send(Mail(to="a"), queue="mail", process_in=timedelta(hours=1))
    result = await _run(redis_env, "tasks", "cancel", "mail", info.id)
    assert result.code == 0, result.err
    assert f"canceled task {info.id}" in result.out
    assert (await inspector.get_task("mail", info.id)).state is TaskState.CANCELED
    again = await _run(redis_env, "tasks", "cancel", "mail", info.id)
    assert again.code == 0 and "already finished" in again.out


async def test_tasks_cancel_of_an_unknown_task_exits_1(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    result = await _run(redis_env, "tasks", "cancel", "mail", "no-such-task")
    assert result.code == 1
    assert result.err.startswith("tandemq: ") and "no-such-task" in result.err
