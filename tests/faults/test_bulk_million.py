"""Bulk actions on 1,000,000 tasks through the real CLI: each finishes, moves every task, keeps
the command's memory flat (it holds counts, not ids) and every script call short (chunks),
as Redis's own SLOWLOG shows. Prints the figures (docs/OPERATIONS.md quotes them)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from tandemq.inspector import Inspector
from tests.faults.harness import scenario
from tests.support import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
TANDEMQ = Path(sys.executable).with_name("tandemq")
N = 1_000_000
SEED_CHUNK = 50_000
# A script call slower than this lands in the SLOWLOG; every call of the run is kept.
SLOW_US = 20_000


class Bulk(BaseModel):
    tandemq_type: ClassVar[str] = "tests.bulk"
    n: int


def _cli(url: str, prefix: str, *args: str) -> tuple[int, float, int, str]:
    """Run ``tandemq ARGS``; its exit code, seconds, peak RSS (MB) and output.

    The peak is the process's own VmHWM, read while it runs: getrusage's ru_maxrss would
    count this test process's memory too (it carries over a fork and exec)."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            [str(TANDEMQ), *args],
            cwd=ROOT,
            env=subprocess_env(REDIS_URL=url, TANDEMQ_PREFIX=prefix),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(proc.pid))
            time.sleep(0.02)
        output.seek(0)
        out = output.read().decode()
    return proc.returncode, time.monotonic() - started, peak_kb // 1024, out


def _high_water_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it just ended
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def _slowest_script_ms(client: Redis) -> float:
    entries = await client.slowlog_get(100_000)
    await client.slowlog_reset()
    durations = [e["duration"] for e in entries if b"EVALSHA" in e["command"][:10].upper()]
    return max(durations, default=0) / 1000


@pytest.mark.faults
@pytest.mark.timeout(1200)
async def test_bulk_actions_on_a_million_tasks_stay_bounded() -> None:
    async with scenario(
        "--slowlog-log-slower-than", str(SLOW_US), "--slowlog-max-len", "100000"
    ) as (run, client, distributor):
        for start in range(0, N, SEED_CHUNK):
            await distributor.send_many(
                [Bulk(n=i) for i in range(start, start + SEED_CHUNK)], queue="bulk"
            )
        await client.slowlog_reset()
        figures = []
        steps = (
            (("tasks", "archive", "bulk", "--all", "pending"), "archived 1000000 pending"),
            (("tasks", "run", "bulk", "--all", "archived"), "ran 1000000 archived"),
            (("queue", "delete", "bulk", "--force"), "deleted queue bulk and its 1000000"),
        )
        for args, expected in steps:
            code, seconds, rss_mb, out = await asyncio.to_thread(_cli, run.url, run.prefix, *args)
            assert code == 0, out
            assert expected in out
            slowest = await _slowest_script_ms(client)
            figures.append((args[1] if args[0] == "tasks" else "delete queue", seconds, rss_mb,
                            slowest))  # fmt: skip
            # An unchunked script over a million tasks runs for seconds; a chunk of 1,000 for
            # milliseconds. A generous bound: this catches the former, not a busy machine.
            assert slowest < 1000, f"a script call ran {slowest:.0f} ms"
            # Holding a million ids would take well over 100 MB; the command holds counts.
            assert rss_mb < 120, f"{args} peaked at {rss_mb} MB"
        async with Inspector(redis_url=run.url, prefix=run.prefix) as inspector:
            assert "bulk" not in await inspector.queue_names()
        assert await client.dbsize() == 0
        for action, seconds, rss_mb, slowest in figures:
            print(
                f"FAULTS bulk {action}: n={N} seconds={seconds:.1f} rate={N / seconds:,.0f}/s"
                f" peak_rss_mb={rss_mb} slowest_script_ms={slowest:.1f}"
            )
