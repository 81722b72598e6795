"""The ``tandemq`` command, run for real in a subprocess against the test Redis: JSON for
scripts, tables for people (no colour off a terminal), exit codes 0 / 1 / 2 / 3, progress
bars and ``stats --watch`` drawn on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime, timedelta
from typing import ClassVar

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.common.broker import Broker
from tandemq.common.envelope import is_envelope
from tandemq.common.keys import Keys
from tandemq.common.task import TaskState
from tandemq.distributor import Distributor
from tandemq.inspector import Inspector, queues_payload
from tandemq.processor import TaskContext
from tests.conftest import ProcessorFactory
from tests.support import eventually, free_port, subprocess_env

from .support import ROOT, TANDEMQ, Result, Terminal, tandemq


class Mail(BaseModel):
    tandemq_type: ClassVar[str] = "tests.mail"
    to: str


async def _run(env: dict[str, str], *args: str) -> Result:
    return await tandemq(*args, **env)


async def test_help_lists_every_command() -> None:
    result = await tandemq("--help")
    assert result.code == 0
    for command in ("queues", "queue", "tasks", "processors", "stats", "run"):
        assert f"  {command} " in result.out
    for args in (("tasks", "--help"), ("queue", "--help")):
        sub = await tandemq(*args)
        assert sub.code == 0
    assert all(verb in sub.out for verb in ("pause", "unpause", "delete"))


async def test_queues_json_is_the_inspectors_objects(
    redis_env: dict[str, str], distributor: Distributor, inspector: Inspector
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    await distributor.send(Mail(to="b"), queue="mail", process_in=timedelta(hours=1))
    await distributor.send(Mail(to="c"), queue="low")
    result = await _run(redis_env, "queues", "--json")
    assert result.code == 0, result.err
    listed = json.loads(result.out)
    assert [q["queue"] for q in listed] == ["low", "mail"]
    mail = listed[1]
    assert (mail["pending"], mail["scheduled"], mail["paused"]) == (1, 1, False)
    expected = queues_payload(await inspector.queues())
    drop = {"oldest_pending_age"}  # moves with the clock
    assert [{k: v for k, v in q.items() if k not in drop} for q in listed] == [
        {k: v for k, v in q.items() if k not in drop} for q in expected
    ]


async def test_queues_table_shows_paused_without_colour_when_piped(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    assert (await _run(redis_env, "queue", "pause", "mail")).code == 0
    result = await _run(redis_env, "queues")
    assert result.code == 0
    assert "mail (paused)" in result.out
    assert "\x1b[" not in result.out  # piped: no colour, no cursor codes
    assert (await _run(redis_env, "queue", "unpause", "mail")).code == 0
    listed = json.loads((await _run(redis_env, "queues", "--json")).out)
    assert listed[0]["paused"] is False


async def test_tasks_ls_and_show(redis_env: dict[str, str], distributor: Distributor) -> None:
    sent = [(await distributor.send(Mail(to=f"u{i}"), queue="mail")).id for i in range(3)]
    result = await _run(redis_env, "tasks", "ls", "mail", "pending", "--limit", "2", "--json")
    assert result.code == 0, result.err
    assert [t["id"] for t in json.loads(result.out)] == sent[:2]
    table = await _run(redis_env, "tasks", "ls", "mail", "pending")
    assert all(task_id in table.out for task_id in sent)
    assert "1-3 of 3" in table.out
    shown = await _run(redis_env, "tasks", "show", "mail", sent[0], "--json")
    detail = json.loads(shown.out)
    assert (detail["id"], detail["state"], detail["payload"]) == (sent[0], "pending", {"to": "u0"})
    assert detail["enqueued_at"] is not None and detail["attempts"] == 0
    human = await _run(redis_env, "tasks", "show", "mail", sent[0])
    assert "tests.mail" in human.out and '"to": "u0"' in human.out


@pytest.mark.wire  # envelopes are only sent over the pipelining connection
async def test_tasks_ls_show_and_cancel_an_envelope_task(
    redis_env: dict[str, str], prefix: str, distributor: Distributor, redis: Redis
) -> None:
    own = await distributor.send(Mail(to="own"), queue="mail", task_id="own-id")
    sent = await distributor.send(Mail(to="env"), queue="mail", max_retry=3)
    pending = await redis.lrange(Keys(prefix).queue("mail").pending, 0, -1)
    assert [is_envelope(e) for e in pending] == [True, False]  # newest first: sent, own
    listed = json.loads((await _run(redis_env, "tasks", "ls", "mail", "pending", "--json")).out)
    shown = [(t["id"], t["type"], t["payload_preview"], t["max_retry"]) for t in listed]
    assert shown == [
        ("own-id", "tests.mail", '{"to":"own"}', own.max_retry),
        (sent.id, "tests.mail", '{"to":"env"}', 3),
    ]
    assert datetime.fromisoformat(listed[1]["enqueued_at"]) == sent.enqueued_at
    table = await _run(redis_env, "tasks", "ls", "mail", "pending")
    assert sent.id in table.out and "1-2 of 2" in table.out
    detail = json.loads((await _run(redis_env, "tasks", "show", "mail", sent.id, "--json")).out)
    assert (detail["state"], detail["payload"], detail["attempts"]) == ("pending", {"to": "env"}, 0)
    canceled = await _run(redis_env, "tasks", "cancel", "mail", sent.id)
    assert canceled.code == 0 and f"canceled task {sent.id}" in canceled.out
    again = json.loads((await _run(redis_env, "tasks", "show", "mail", sent.id, "--json")).out)
    assert (again["state"], again["payload"]) == ("canceled", {"to": "env"})


async def test_show_prints_the_traceback_of_an_archived_task(
    redis_env: dict[str, str], distributor: Distributor, broker: Broker
) -> None:
    info = await distributor.send(Mail(to="x"), queue="mail", max_retry=0)
    await broker.dequeue({"mail": 1}, "cli-test", 60_000)
    trace = 'Traceback (most recent call last):\n  File "h.py", line 3\nValueError: bounced'
    await broker.archive("mail", info.id, "cli-test", trace)
    shown = await _run(redis_env, "tasks", "show", "mail", info.id)
    assert shown.code == 0
    assert trace in shown.out
    listed = await _run(redis_env, "tasks", "ls", "mail", "archived", "--json")
    assert json.loads(listed.out)[0]["error"] == "ValueError: bounced"


async def test_exit_codes_mean_not_found_usage_and_unreachable(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    info = await distributor.send(Mail(to="a"), queue="mail")
    missing_task = await _run(redis_env, "tasks", "show", "mail", "nope")
    assert missing_task.code == 1 and "no task 'nope'" in missing_task.err
    missing_queue = await _run(redis_env, "tasks", "ls", "nope", "pending")
    assert missing_queue.code == 1 and "no queue named 'nope'" in missing_queue.err
    refused = await _run(redis_env, "tasks", "run", "mail", info.id)
    assert refused.code == 1 and "already pending" in refused.err
    assert (await _run(redis_env, "tasks", "ls", "mail", "sleeping")).code == 2
    both = await _run(redis_env, "tasks", "run", "mail", info.id, "--all", "retry")
    assert both.code == 2 and "either TASK_ID or --all STATE" in both.err
    assert (await _run(redis_env, "no-such-command")).code == 2
    bad_env = await tandemq("queues", **{**redis_env, "TANDEMQ_PREFIX": "{x}"})
    assert bad_env.code == 2 and "TANDEMQ_PREFIX" in bad_env.err
    down = await tandemq(
        "queues", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", TANDEMQ_REDIS_RETRIES="0"
    )
    assert down.code == 3 and "Redis unreachable" in down.err


async def test_a_cluster_none_of_whose_nodes_answers_is_unreachable() -> None:
    """redis-py's cluster client reports it as a RedisClusterException (no ConnectionError):
    still exit code 3 and one line, not a traceback."""
    nodes = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    down = await tandemq("queues", TANDEMQ_CLUSTER_NODES=nodes, TANDEMQ_REDIS_RETRIES="0")
    assert down.code == 3 and "Redis unreachable" in down.err
    assert "Traceback" not in down.err and len(down.err.splitlines()) == 1


async def test_one_task_run_archive_delete(
    redis_env: dict[str, str], distributor: Distributor, inspector: Inspector
) -> None:
    info = await distributor.send(Mail(to="a"), queue="mail")
    archived = await _run(redis_env, "tasks", "archive", "mail", info.id)
    assert archived.code == 0 and "was pending" in archived.out
    assert (await inspector.get_task("mail", info.id)).state is TaskState.ARCHIVED
    assert (await _run(redis_env, "tasks", "run", "mail", info.id)).code == 0
    assert (await inspector.get_task("mail", info.id)).state is TaskState.PENDING
    assert (await _run(redis_env, "tasks", "delete", "mail", info.id)).code == 0
    assert (await _run(redis_env, "tasks", "show", "mail", info.id)).code == 1


async def test_bulk_action_piped_prints_only_the_result(
    redis_env: dict[str, str], distributor: Distributor, inspector: Inspector
) -> None:
    await distributor.send_many([Mail(to=str(i)) for i in range(250)], queue="mail")
    result = await _run(redis_env, "tasks", "archive", "mail", "--all", "pending", "--chunk", "100")
    assert result.code == 0
    assert result.out.strip() == "archived 250 pending tasks of mail"
    assert result.err == ""  # no progress bar off a terminal
    stats = await inspector.queue("mail")
    assert (stats.pending, stats.archived) == (0, 250)


async def test_bulk_action_draws_a_progress_bar_on_a_terminal(
    redis_env: dict[str, str], distributor: Distributor, inspector: Inspector
) -> None:
    await distributor.send_many([Mail(to=str(i)) for i in range(3000)], queue="mail")
    term = Terminal("tasks", "delete", "mail", "--all", "pending", "--chunk", "50",
                    **redis_env)  # fmt: skip
    try:
        code = await asyncio.to_thread(term.wait)
    finally:
        term.close()
    screen = term.screen.decode(errors="replace")
    assert code == 0, screen
    assert "delete pending tasks of mail" in screen
    assert "3000/3000" in screen
    assert "deleted 3000 pending tasks of mail" in screen
    assert (await inspector.queue("mail")).size == 0


async def test_queue_delete_refuses_then_forces(
    redis_env: dict[str, str], distributor: Distributor, inspector: Inspector
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    refused = await _run(redis_env, "queue", "delete", "mail")
    assert refused.code == 1 and "--force" in refused.err
    forced = await _run(redis_env, "queue", "delete", "mail", "--force")
    assert forced.code == 0 and "and its 1 tasks" in forced.out
    assert await inspector.queue_names() == []
    assert (await _run(redis_env, "queue", "delete", "mail")).code == 1


async def test_processors_lists_a_live_processor(
    redis_env: dict[str, str],
    make_processor: ProcessorFactory,
    distributor: Distributor,
) -> None:
    p = await make_processor(queues={"mail": 2, "low": 1}, concurrency=3)
    release = asyncio.Event()
    started = asyncio.Event()

    @p.handler(Mail)
    async def mail(task: Mail, ctx: TaskContext) -> None:
        started.set()
        await release.wait()

    async with p:
        try:
            info = await distributor.send(Mail(to="a"), queue="mail")
            await started.wait()
            result = await eventually(  # the record shows the task from the next heartbeat on
                lambda: _run(redis_env, "processors", "--json"),
                lambda r: '"busy": 1' in r.out,
                timeout=20,
            )
            (listed,) = json.loads(result.out)
            assert listed["id"] == p.id
            assert listed["queues"] == {"mail": 2, "low": 1} and listed["concurrency"] == 3
            table = await _run(redis_env, "processors")
            assert "mail=2,low=1" in table.out and "1 live" in table.out
        finally:
            release.set()
    assert [r["id"] for r in listed["running"]] == [info.id]


async def test_stats_prints_totals_and_queues(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    result = await _run(redis_env, "stats")
    assert result.code == 0
    assert "totals" in result.out and "mail" in result.out


async def test_stats_watch_redraws_in_place_until_ctrl_c(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    term = Terminal("stats", "--watch", "--interval", "0.2", **redis_env)
    try:
        # a redraw moves the cursor up over the previous frame ("\x1b[<n>A")
        await asyncio.to_thread(
            term.read_until, lambda s: s.count("totals") >= 2 and "\x1b[1A" in s
        )
        await distributor.send(Mail(to="b"), queue="fresh")
        await asyncio.to_thread(term.read_until, lambda s: "fresh" in s)
        term.interrupt()
        code = await asyncio.to_thread(term.wait)
    finally:
        term.close()
    assert code == 0


async def test_python_dash_m_tandemq_is_the_same_command(
    redis_env: dict[str, str], distributor: Distributor
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tandemq", "queues", "--json",
        env=subprocess_env(**redis_env),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    script = await _run(redis_env, "queues", "--json")
    strip = lambda text: [  # noqa: E731
        {k: v for k, v in q.items() if k != "oldest_pending_age"} for q in json.loads(text)
    ]
    assert strip(out.decode()) == strip(script.out)


async def test_run_with_workers_starts_processors_that_leave_on_sigterm(
    redis_env: dict[str, str], inspector: Inspector
) -> None:
    """``tandemq run --workers 2``: the supervisor's workers (each ``tandemq run``) show up as
    two live processors, and a SIGTERM stops both cleanly, removing their records."""
    proc = await asyncio.create_subprocess_exec(
        str(TANDEMQ), "run", "tests.apps:ledger", "--workers", "2",
        cwd=ROOT,
        env=subprocess_env(**redis_env, TANDEMQ_QUEUES="mail=2,low=1"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        listed = await eventually(inspector.processors, lambda ps: len(ps) == 2, timeout=60)
        assert {p.queues["mail"] for p in listed} == {2}
        assert proc.pid not in {p.pid for p in listed}  # the workers, not the supervisor
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        assert await inspector.processors() == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_colour_on_a_terminal_unless_no_color(
    redis_env: dict[str, str], distributor: Distributor, inspector: Inspector
) -> None:
    await distributor.send(Mail(to="a"), queue="mail")
    await inspector.pause("mail")
    screens = {}
    for no_color in ("", "1"):
        env = {**redis_env, **({"NO_COLOR": no_color} if no_color else {})}
        term = Terminal("queues", **env)
        try:
            assert await asyncio.to_thread(term.wait) == 0
        finally:
            term.close()
        screens[no_color] = term.screen.decode(errors="replace")
    assert "33m (paused)" in screens[""]  # in yellow (bold: the queue column's style)
    assert "(paused)" in screens["1"] and "33m" not in screens["1"]


async def test_show_prints_the_result_of_a_completed_task(
    redis_env: dict[str, str],
    make_processor: ProcessorFactory,
    distributor: Distributor,
    inspector: Inspector,
) -> None:
    p = await make_processor(queues={"mail": 1})

    @p.handler(Mail)
    async def mail(task: Mail, ctx: TaskContext) -> dict[str, int]:
        return {"sent": 1}

    async with p:
        info = await distributor.send(Mail(to="a"), queue="mail")
        await eventually(
            lambda: inspector.get_task("mail", info.id), lambda t: t.state == "completed"
        )
    shown = await _run(redis_env, "tasks", "show", "mail", info.id)
    assert shown.code == 0
    assert "result" in shown.out and '"sent": 1' in shown.out
    as_json = json.loads((await _run(redis_env, "tasks", "show", "mail", info.id, "--json")).out)
    assert as_json["result"] == {"sent": 1} and as_json["attempts"] == 1
