"""Where pages are cleaned: the batching executor in front of Dask, and the
local Dask cluster's processes (started apart from the archiver, gone with it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from archiver.distributed import Batching, dask_executor


class CountingPool(ThreadPoolExecutor):
    """A real thread pool that remembers how many tasks it was given."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.tasks = 0

    def submit(self, fn, /, *args, **kwargs):
        self.tasks += 1
        return super().submit(fn, *args, **kwargs)


def square(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


def test_batching_keeps_calls_until_an_executor_is_attached():
    batching = Batching(None, size=3, wait=0.01)
    futures = [batching.submit(square, i) for i in range(5)]
    time.sleep(0.1)
    assert not any(f.done() for f in futures)  # nothing to run them on yet
    with CountingPool() as pool:
        batching.attach(pool)
        assert [f.result(timeout=10) for f in futures] == [0, 1, 4, 9, 16]
        assert pool.tasks == 2  # kept calls still go a batch at a time: 3 + 2
        later = [batching.submit(square, i) for i in (5, 6)]
        assert [f.result(timeout=10) for f in later] == [25, 36]  # the timer sends a short batch
        assert pool.tasks == 3


def test_batching_reports_each_calls_own_error():
    with CountingPool() as pool:
        batching = Batching(pool, size=2, wait=0.01)
        ok, bad = batching.submit(square, 3), batching.submit(square, -1)
        assert ok.result(timeout=10) == 9
        with pytest.raises(ValueError, match="negative: -1"):
            bad.result(timeout=10)


def test_batching_without_an_executor_to_come_fails_every_call():
    batching = Batching(None, size=4)
    kept = batching.submit(square, 2)
    batching.fail(RuntimeError("the cluster did not start"))
    later = batching.submit(square, 3)
    for future in (kept, later):
        with pytest.raises(RuntimeError, match="did not start"):
            future.result(timeout=1)


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_local_cluster_runs_apart_and_leaves_nothing_behind():
    before = _descendants()
    with dask_executor("local", workers=1) as executor:
        assert executor.submit(square, 7).result(timeout=120) == 49
        from distributed import Scheduler

        # The scheduler runs in a process of its own, not in this one: its
        # event loop would compete with fetching for this interpreter.
        assert not list(Scheduler._instances)
        assert len(_descendants() - before) >= 2  # the cluster's process and its worker
    deadline = time.monotonic() + 30
    while _descendants() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (_descendants() - before)


def test_local_cluster_ends_when_its_archiver_is_killed(tmp_path):
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        import psutil
        from archiver.distributed import dask_executor

        with dask_executor("local", workers=1) as executor:
            assert executor.submit(abs, -3).result(timeout=120) == 3
            kids = [p.pid for p in psutil.Process().children(recursive=True)]
            print(" ".join(map(str, kids)), flush=True)
            time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        kids = [int(x) for x in line.split()]
        assert len(kids) >= 2, line
        os.kill(proc.pid, signal.SIGKILL)  # no chance to shut the cluster down
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        alive = kids
        while alive and time.monotonic() < deadline:
            alive = [k for k in kids if psutil.pid_exists(k) and psutil.Process(k).status() != psutil.STATUS_ZOMBIE]
            time.sleep(0.2)
        assert not alive, f"still running after their archiver was killed: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
