"""Where pages are cleaned: the batching executor in front of Dask, and the
local Dask cluster's processes (started apart from the archiver, gone with it)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
from procutil import still_running

from archiver.workers.cluster import Batching, dask_executor

from archiver.workers.pool import ForkedPool, cleaning_pool

from archiver.workers.processes import WorkerLost
from archiver.errors import ConfigError


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


def stuck_in_c() -> int:
    """Hours in C where no signal is looked at (sum's loop over a range;
    the regex engine, by contrast, looks every few thousand steps)."""
    return sum(range(10**14))


def test_a_call_past_the_time_limit_has_its_worker_stopped_and_the_rest_go_on():
    started = time.monotonic()
    with cleaning_pool(2, time_limit=1.5) as pool:
        stuck = pool.submit(stuck_in_c)
        quick = [pool.submit(square, i) for i in range(6)]
        with pytest.raises(WorkerLost, match="cleaning took longer than 1.5 s; its worker process was stopped"):
            stuck.result(timeout=30)
        assert [f.result(timeout=30) for f in quick] == [i * i for i in range(6)]
        assert pool.submit(square, 7).result(timeout=30) == 49  # the other worker goes on
        assert _whole_again(pool) and pool.replaced == 1  # and another takes the stopped one's place
    assert time.monotonic() - started < 20


def test_a_call_past_the_time_limit_in_python_stops_itself_and_its_worker_goes_on():
    """A call still running at the time limit in Python (a PDF's layout is
    Python through and through) is interrupted there and fails; its worker
    answers the next call. Before, every call past the limit cost the pool
    its worker, and two slow pages left a capture with no cleaning at all."""
    with cleaning_pool(1, time_limit=1.5) as pool:
        pid = pool.submit(os.getpid).result(timeout=30)
        started = time.monotonic()
        slow = pool.submit(whoami, 600)
        with pytest.raises(TimeoutError, match="cleaning took longer than 1.5 s; it was stopped"):
            slow.result(timeout=30)
        assert time.monotonic() - started < 20  # a TimeoutError, not WorkerLost: it stopped itself, at the limit
        assert pool.submit(os.getpid).result(timeout=30) == pid and pool.whole
        assert pool.submit(whoami, 0.5).result(timeout=30)[0] == pid  # a call within the limit is left alone


def allocate(n: int) -> int:
    return len(bytearray(n))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the ceiling is Linux's RLIMIT_DATA")
def test_a_call_past_the_memory_ceiling_fails_alone_and_its_worker_goes_on():
    """A few bytes of input can make a parser allocate without end (a PDF
    font's character map of one range of 2^28 codes: under a kilobyte); the
    worker grew until the system's OOM killer ended it, or another process.
    A cleaning worker now holds what it held at the start plus the limit
    while a call runs: past it the call fails (MemoryError), and the worker,
    what the call held let go, cleans the next page."""
    from pdfs import character_map_bomb_pdf

    from archiver.config import CleanOptions
    from archiver.capture.jobs import CleanJob, clean_job

    with cleaning_pool(1, memory_limit=150 << 20) as pool:
        pid = pool.submit(os.getpid).result(timeout=30)
        with pytest.raises(MemoryError, match="more than the 150 MB of memory a cleaning process may add"):
            pool.submit(allocate, 1 << 30).result(timeout=30)
        assert pool.submit(allocate, 100 << 20).result(timeout=30) == 100 << 20  # within it: as before

        bomb = CleanJob(url="https://example.org/minutes.pdf", body=character_map_bomb_pdf("0FFFFFFF"), kind="pdf",
                        content_type="application/pdf")
        started = time.monotonic()
        cleaned = pool.submit(clean_job, bomb, CleanOptions()).result(timeout=120)
        assert cleaned.snapshot.status == "not_html" and "memory" in cleaned.snapshot.error
        assert time.monotonic() - started < 60
        page = CleanJob(url="https://example.org/a", body=b"<html><head><title>Harbour</title></head><body><article><p>"
                        + b"The board met on a Monday and agreed the tolls. " * 20 + b"</p></article></body></html>")
        assert pool.submit(clean_job, page, CleanOptions()).result(timeout=30).snapshot.status == "ok"
        assert pool.submit(os.getpid).result(timeout=30) == pid and pool.whole  # the same worker, still there


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


def _run_script(path, source: str, *, timeout: float, cwd=None) -> str:
    """Write `source` (dedented) to `path`, run it in a Python of its own,
    check that it succeeded, and return what it printed."""
    path.write_text(textwrap.dedent(source))
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_local_cluster_keeps_dask_out_of_the_capturing_process(tmp_path):
    """Its scheduler and its client both run in the cluster's process: the
    process that fetches never loads Dask (memory, and event loops
    competing with fetching for the interpreter)."""
    printed = _run_script(tmp_path / "local.py", """
        import sys
        from archiver.workers.cluster import dask_executor

        with dask_executor("local", workers=1) as executor:
            assert executor.submit(abs, -3).result(timeout=120) == 3
            assert executor.submit(divmod, 7, 2).result(timeout=120) == (3, 1)
            print(sorted(m for m in ("dask", "distributed") if m in sys.modules))
    """, timeout=180)
    assert printed.strip() == "[]"


def test_local_cluster_reports_each_calls_own_error():
    with dask_executor("local", workers=1) as executor:
        good, bad = executor.submit(square, 4), executor.submit(square, -1)
        assert good.result(timeout=120) == 16
        with pytest.raises(ValueError, match="negative: -1"):
            bad.result(timeout=120)


def a_lock():
    import threading

    return threading.Lock()  # neither pickle nor cloudpickle can send it


@pytest.mark.parametrize("opening", [lambda: cleaning_pool(1), lambda: dask_executor("local", workers=1)],
                         ids=["pool", "dask-local"])
def test_a_result_that_cannot_travel_back_fails_its_call_only(opening):
    """On Dask such a task was never settled (Dask logs the failure): its
    caller waited for ever."""
    with opening() as executor:
        bad, good = executor.submit(a_lock), executor.submit(square, 5)
        with pytest.raises(RuntimeError, match="cannot send the result back"):
            bad.result(timeout=120)
        assert good.result(timeout=120) == 25


def test_local_cluster_fails_pending_calls_when_its_process_ends():
    before = _descendants()
    with dask_executor("local", workers=1) as executor:
        assert executor.submit(square, 2).result(timeout=120) == 4
        stuck = executor.submit(whoami, 60)
        time.sleep(0.5)
        cluster = [p for p in psutil.Process().children() if p.pid in _descendants() - before]
        assert len(cluster) == 1
        cluster[0].kill()
        with pytest.raises(WorkerLost, match="process ended"):
            stuck.result(timeout=30)
        later = executor.submit(square, 3)
        with pytest.raises(WorkerLost):
            later.result(timeout=5)
    deadline = time.monotonic() + 30
    while _descendants() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (_descendants() - before)  # its workers end once their parent is gone


def test_local_cluster_that_cannot_start_fails_every_call_with_the_reason(monkeypatch, tmp_path):
    # A worker preload that raises (Dask's own configuration, read from the
    # environment by the cluster's process): its worker cannot start.
    preload = tmp_path / "refuse.py"
    preload.write_text('raise OSError("no port to listen on")\n')
    monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__PRELOAD", json.dumps([str(preload)]))
    with dask_executor("local", workers=1) as executor:
        first = executor.submit(square, 2)
        with pytest.raises(ConfigError, match="did not start: RuntimeError: Nanny failed to start"):
            first.result(timeout=120)
        with pytest.raises(ConfigError, match="did not start"):
            executor.submit(square, 3).result(timeout=5)


def test_local_cluster_that_hangs_starting_fails_every_call_in_time(monkeypatch, tmp_path):
    """A cluster that never comes up (here its worker's preload never
    returns) fails the calls once `start_timeout` has passed, instead of
    keeping them, and the capture, waiting for ever; nothing is left running."""
    preload = tmp_path / "hang.py"
    preload.write_text("import time\ntime.sleep(3600)\n")
    monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__PRELOAD", json.dumps([str(preload)]))
    before = _descendants()
    started = time.monotonic()
    with dask_executor("local", workers=1, start_timeout=3) as executor:
        first = executor.submit(square, 2)
        with pytest.raises(ConfigError, match="did not start within 3 s"):
            first.result(timeout=60)
        assert time.monotonic() - started < 30
        with pytest.raises(ConfigError, match="did not start within 3 s"):
            executor.submit(square, 3).result(timeout=5)
    assert not still_running(_descendants() - before, within=30)


def test_helpers_fork_from_a_caller_with_one_thread_and_start_fresh_beside_others(tmp_path):
    """Forked (warm, cheaper) only when the caller runs no other thread;
    with one, from a fresh interpreter, and it works the same."""
    printed = _run_script(tmp_path / "how.py", """
        import threading, time
        import psutil
        from archiver.workers.cluster import dask_executor
        from archiver.workers.pool import cleaning_pool

        def helpers():
            return ["_helper_main" in " ".join(p.cmdline()) for p in psutil.Process().children()]

        for opening in (lambda: cleaning_pool(1), lambda: dask_executor("local", workers=1)):
            with opening() as executor:
                print(helpers(), executor.submit(abs, -3).result(timeout=120))
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
        for opening in (lambda: cleaning_pool(1), lambda: dask_executor("local", workers=1)):
            with opening() as executor:
                print(helpers(), executor.submit(abs, -3).result(timeout=120))
    """, timeout=300)
    assert printed.split("\n")[:4] == ["[False] 3", "[False] 3", "[True] 3", "[True] 3"]


def test_a_helper_started_fresh_ignores_modules_in_the_working_directory(tmp_path):
    """`python -c` puts the working directory first on the path: a stray
    json.py there was imported by the helper instead of the real one."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "json.py").write_text('raise SystemExit("the json.py of the working directory")\n')
    # The script's own folder is on its path, not the working directory.
    printed = _run_script(tmp_path / "threads.py", """
        import threading, time
        from archiver.workers.pool import cleaning_pool

        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()  # so the helper starts fresh
        with cleaning_pool(1) as pool:
            print(pool.submit(abs, -4).result(timeout=120))
    """, timeout=180, cwd=work)
    assert printed.strip() == "4"


@pytest.mark.parametrize("opening", ['cleaning_pool(2)', 'dask_executor("local", workers=1)'])
def test_helpers_start_while_another_thread_is_stuck_writing(tmp_path, opening):
    """The caller may have threads of its own. One stuck writing to stderr
    (a full pipe) holds stderr's lock: a helper forked from the caller got
    that lock held, for ever, and hung at its first flush (the Dask
    cluster's did, at once: Dask flushes before it forks a worker)."""
    printed = _run_script(tmp_path / "stuck.py", f"""
        import io, os, sys, threading, time
        from archiver.workers.cluster import dask_executor
        from archiver.workers.pool import cleaning_pool

        r, w = os.pipe()  # nobody reads r: the writer blocks once the pipe is full
        sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(w, "w"), 1 << 16))

        def write():
            sys.stderr.write("x" * (1 << 20))
            sys.stderr.flush()

        threading.Thread(target=write, daemon=True).start()
        time.sleep(0.3)  # it is blocked, holding the lock
        with {opening} as executor:
            print(executor.submit(abs, -3).result(timeout=120), flush=True)
        os._exit(0)  # the stuck writer would hold up the interpreter's exit
    """, timeout=200)
    assert printed.strip() == "3"


def _killed_holder_leaves_no_process(tmp_path, opening: str, at_least: int, busy: str = "") -> list[int]:
    """Run a script that opens `opening` (a with-statement giving `executor`),
    makes one call, waits until it has `at_least` descendants (a pool's
    workers fork one after another: the first may answer before the last
    exists), makes the `busy` statement, prints them and sleeps; SIGKILL it
    (no chance to shut anything down); every descendant must end by itself.
    Returns the descendants it had."""
    script = tmp_path / "hold.py"
    script.write_text(textwrap.dedent(f"""
        import time
        import psutil
        from archiver.workers.cluster import dask_executor
        from archiver.workers.pool import cleaning_pool

        with {opening} as executor:
            assert executor.submit(abs, -3).result(timeout=120) == 3
            {busy}
            deadline = time.monotonic() + 60
            while True:
                kids = [p.pid for p in psutil.Process().children(recursive=True)]
                if len(kids) >= {at_least} or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            print(" ".join(map(str, kids)), flush=True)
            time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        kids = [int(x) for x in proc.stdout.readline().split()]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        alive = still_running(kids, within=30)
        assert not alive, f"still running after their archiver was killed: {alive}"
        return kids
    finally:
        if proc.poll() is None:
            proc.kill()


def test_local_cluster_ends_when_its_archiver_is_killed(tmp_path):
    kids = _killed_holder_leaves_no_process(tmp_path, 'dask_executor("local", workers=1)', 2)
    assert len(kids) >= 2  # the cluster's process and its worker (and its nanny's)


def whoami(delay: float = 0.0) -> tuple[int, bool]:
    time.sleep(delay)
    return os.getpid(), "archiver.cleaning.snapshot" in sys.modules


def test_forked_pool_workers_start_warm_and_share_the_calls():
    before = "archiver.cleaning.snapshot" in sys.modules
    with cleaning_pool(2) as pool:
        answers = [f.result(timeout=60) for f in [pool.submit(whoami, 0.2) for _ in range(6)]]
    assert all(warm for _, warm in answers)  # the cleaner was loaded before the first page
    assert len({pid for pid, _ in answers}) == 2  # both workers got calls
    assert os.getpid() not in {pid for pid, _ in answers}
    assert ("archiver.cleaning.snapshot" in sys.modules) == before  # loaded there, not here


def test_forked_pool_reports_each_calls_own_error():
    with cleaning_pool(2) as pool:
        ok, bad = pool.submit(square, 4), pool.submit(square, -2)
        assert ok.result(timeout=60) == 16
        with pytest.raises(ValueError, match="negative: -2"):
            bad.result(timeout=60)


def test_a_killed_worker_fails_only_the_page_in_its_hands():
    pool = ForkedPool(2)
    try:
        pid, _ = pool.submit(whoami).result(timeout=60)
        # Round the two workers: the killed one holds one call in its hands
        # and one queued behind it.
        busy = [pool.submit(whoami, 1.0) for _ in range(4)]
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        outcomes = []
        for f in busy:
            try:
                outcomes.append(f.result(timeout=60)[0])
            except WorkerLost:
                outcomes.append("lost")
        assert outcomes.count("lost") == 1, outcomes  # only the call it was working on
        assert pid not in outcomes  # the rest went to the other worker, or the new one
        # A worker forked in its place: two calls at once run in two live processes.
        assert _whole_again(pool) and pool.replaced == 1
        pids = {f.result(timeout=60)[0] for f in [pool.submit(whoami, 0.5) for _ in range(2)]}
        assert len(pids) == 2 and pid not in pids
    finally:
        pool.shutdown(wait=True)


def _whole_again(pool: ForkedPool) -> bool:
    deadline = time.monotonic() + 30
    while not pool.whole and time.monotonic() < deadline:
        time.sleep(0.05)
    return pool.whole


def _workers(before: set[int]) -> list[psutil.Process]:
    """A pool's workers, zombies included: the processes started since
    `before` that are not this process's own children (the zygote is)."""
    return [p for p in psutil.Process().children(recursive=True)
            if p.pid not in before and p.ppid() != os.getpid()]


def test_a_pool_stays_its_size_however_many_workers_it_loses():
    """A `run --loop` keeps one pool for days: each worker lost (killed,
    out of memory, stopped at the time limit) is replaced by the zygote,
    which reaps the ended ones; the calls they held fail, none other."""
    before = _descendants()
    with cleaning_pool(2) as pool:
        for lost in range(4):
            pids = {f.result(timeout=60)[0] for f in [pool.submit(whoami, 0.3) for _ in range(2)]}
            assert len(pids) == 2
            victim = pids.pop()
            busy = pool.submit(whoami, 5.0)
            time.sleep(0.2)
            os.kill(victim, signal.SIGKILL)
            try:
                assert busy.result(timeout=60)[0] != victim
            except WorkerLost:
                pass  # it was the killed one's
            assert _whole_again(pool), lost
            assert all(f.result(timeout=60) == i * i for i, f in enumerate([pool.submit(square, i) for i in range(8)]))
        assert pool.replaced == 4
        deadline = time.monotonic() + 10
        while len(workers := _workers(before)) > 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2, workers  # the four killed ones reaped: no zombie left behind
        assert all(p.status() != psutil.STATUS_ZOMBIE for p in workers)
    deadline = time.monotonic() + 30
    while _descendants() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (_descendants() - before)


def test_shutdown_cancels_calls_not_yet_sent():
    pool = ForkedPool(1)
    running = pool.submit(whoami, 0.5)
    time.sleep(0.2)
    queued = [pool.submit(square, i) for i in range(5)]
    pool.shutdown(wait=True, cancel_futures=True)
    assert running.result(timeout=1)[1]  # the call in hand is answered
    assert any(f.cancelled() for f in queued)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(square, 1)


def test_pool_workers_end_when_their_archiver_is_killed(tmp_path):
    kids = _killed_holder_leaves_no_process(tmp_path, "cleaning_pool(2)", 3)
    assert len(kids) == 3  # the zygote and two workers


def test_a_worker_busy_with_a_page_ends_when_its_archiver_is_killed(tmp_path):
    """Between pages a worker ends when its pipe closes; in the middle of
    one that takes hours (here a sleep) it outlived its archiver."""
    kids = _killed_holder_leaves_no_process(tmp_path, "cleaning_pool(1)", 2,
                                            busy="executor.submit(time.sleep, 600); time.sleep(0.5)")
    assert len(kids) == 2  # the zygote and its worker, busy


def test_a_pool_with_no_worker_left_refuses_calls_clearly():
    """With its zygote gone (killed), a pool can replace no worker: once
    its last one has ended too, every call fails, saying so."""
    pool = ForkedPool(1)
    try:
        pid, _ = pool.submit(whoami).result(timeout=60)
        os.kill(psutil.Process(pid).ppid(), signal.SIGKILL)  # the zygote; its workers end with it
        # A worker asked for meanwhile (the zygote's threads end one by one:
        # its pipe may still take the request) fails before it has started.
        deadline = time.monotonic() + 30
        with pytest.raises(WorkerLost, match="every cleaning worker"):
            while time.monotonic() < deadline:
                future = pool.submit(square, 2)  # raises once the pool knows it has none
                with contextlib.suppress(WorkerLost):
                    future.result(timeout=30)
                time.sleep(0.1)
        assert pool.replaced <= 1
    finally:
        pool.shutdown(wait=True)


def test_batching_says_a_cancelled_task_was_lost():
    class Cancelling(ThreadPoolExecutor):
        """A real pool whose tasks are cancelled before they run, as Dask
        cancels what a scheduler that went away held."""

        def submit(self, fn, /, *args, **kwargs):
            from concurrent.futures import Future

            future = Future()
            future.cancel()
            return future

    with Cancelling(max_workers=1) as pool:
        batching = Batching(pool, size=1)
        with pytest.raises(WorkerLost, match="Dask cluster cancelled it"):
            batching.submit(square, 2).result(timeout=5)
