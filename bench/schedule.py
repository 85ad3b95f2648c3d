"""Scheduled archiving at scale.

1. One `archiver run` over N watches (default 5,000) spread over H local
   hosts (default 50: 127.0.0.1 .. 127.0.0.50), all due, with the default
   per-host politeness in force (2 connections, 1 s between request starts
   to one host), full pipeline (fetch, WARC, clean, store). Reports wall
   time, pages/s and CPU, beside the floor politeness alone sets
   (pages per host x delay).
2. The CPU an idle `archiver run --loop` burns with N watches none of which
   is due (it should sleep until the next due time): measured over a real
   interval in a subprocess.

    python bench/schedule.py                    # 5,000 watches, 50 hosts
    python bench/schedule.py --watches 500 --hosts 10 --idle 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture import measure  # noqa: E402
from pageserver import start_server, synthetic_page  # noqa: E402

from archiver import Archive  # noqa: E402
from archiver.schedule.runner import add_watch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--watches", type=int, default=5000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--idle", type=float, default=60.0, help="seconds to watch the idle loop")
    ap.add_argument("--port", type=int, default=18090)
    args = ap.parse_args()

    server = start_server([synthetic_page(i, 20_000) for i in range(500)], args.hosts, args.port)
    work = Path(tempfile.mkdtemp(prefix="bench-schedule-"))
    exe = str(Path(sys.executable).parent / "archiver")
    try:
        archive = Archive(work / "arch")
        t0 = time.perf_counter()
        for i in range(args.watches):
            add_watch(archive, f"http://127.0.0.{i % args.hosts + 1}:{args.port}/p/{i}", every="1d")
        print(f"{args.watches:,} watches over {args.hosts} hosts added in {time.perf_counter() - t0:.1f} s")

        with open(work / "run.json", "wb") as sink:  # a file, not a pipe: the summary is large
            m = measure([exe, "--archive", str(work / "arch"), "run", "--json"], work, server.pid, stdout=sink)
        wall, cpu = m["wall"], m["cpu"]
        out = (work / "run.json").read_text()

        summary = json.loads(out.splitlines()[-1]) if out.strip() else {}
        per_host = args.watches / args.hosts
        print(f"\none run, all due: {summary.get('captured', 0):,} captured ({summary.get('new', 0):,} new,"
              f" {summary.get('errors', 0)} errors)")
        print(f"{'':<34}{'wall s':>9}{'pages/s':>10}")
        print(f"{'archiver run (politeness 2 conn, 1 s)':<34}{wall:>9.1f}{args.watches / wall:>10.1f}")
        print(f"{'floor set by politeness alone':<34}{per_host * 1.0:>9.1f}{args.watches / (per_host * 1.0):>10.1f}")
        print(f"CPU {cpu:.1f} s ({1000 * cpu / args.watches:.1f} ms per page, cleaning included),"
              f" peak RSS {m['rss_mb']:.0f} MB")

        loop = subprocess.Popen([exe, "--archive", str(work / "arch"), "run", "--loop", "--json"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(args.idle)
        loop.send_signal(signal.SIGINT)
        _, _, usage = os.wait4(loop.pid, 0)
        idle_cpu = usage.ru_utime + usage.ru_stime
        print(f"\nidle --loop with {args.watches:,} watches not due, {args.idle:.0f} s: CPU {idle_cpu:.2f} s"
              f" (start-up included; {100 * idle_cpu / args.idle:.2f}% of one core)")
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
