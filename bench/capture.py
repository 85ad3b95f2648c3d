"""Capture throughput: archiver vs `wget --warc-file`, same pages, same run.

Serves N generated pages (~40 KB of HTML each, gzip with a fixed mtime) from
H loopback hosts (127.0.0.1 .. 127.0.0.H, one server thread pool each, in a
separate process), then captures them all with each tool in a subprocess and
reports wall time, pages/s, CPU ms per page and peak RSS (from wait4).

    python bench/capture.py                 # 2,000 pages over 20 hosts
    python bench/capture.py --pages 200     # a quick look

Both tools fetch with no politeness delay here (the hosts are ours); archiver
keeps its per-host limit of 2 connections, wget fetches one URL at a time.
"""

from __future__ import annotations

import argparse
import gzip
import io
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pageserver import serve_bodies

WORDS = ("archive capture page web record digest history change article text source evidence "
         "policy human rights report county budget council meeting minutes library research").split()


def make_page(i: int, size: int) -> bytes:
    rnd = random.Random(i)
    paras = []
    total = 0
    while total < size:
        p = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(40, 120)))
        paras.append(f"<p>{p}.</p>")
        total += len(p) + 7
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Page {i}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>Page {i}</h1>{''.join(paras)}</article></body></html>")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(html.encode())
    return buf.getvalue()


def serve(hosts: int, pages: int, size: int, port: int, ready: multiprocessing.Event) -> None:  # type: ignore[valid-type]
    serve_bodies([make_page(i, size) for i in range(pages)], hosts=hosts, port=port, gzipped=True)
    ready.set()
    while True:
        time.sleep(3600)


def start_server(hosts: int, pages: int, size: int, port: int) -> multiprocessing.Process:
    """The page server in a process of its own (it must not share our CPU time)."""
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(hosts, pages, size, port, ready), daemon=True)
    server.start()
    if not ready.wait(120):
        raise SystemExit("the page server did not start")
    return server


def measure(cmd: list[str], cwd: Path, stdout: Any = subprocess.DEVNULL) -> dict[str, float]:
    """Run `cmd`; its wall time, CPU seconds and peak RSS (from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 8):  # wget says 8 for "some server error", none expected here
        print(f"{cmd[0]} exited {code}: {err[-2000:]}", file=sys.stderr)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--size", type=int, default=40_000, help="HTML bytes per page before gzip")
    ap.add_argument("--port", type=int, default=18080)
    args = ap.parse_args()

    server = start_server(args.hosts, args.pages, args.size, args.port)
    work = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    try:
        urls = [f"http://127.0.0.{i % args.hosts + 1}:{args.port}/p/{i}" for i in range(args.pages)]
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        archiver = str(Path(sys.executable).parent / "archiver")
        wget = shutil.which("wget")
        runs = {
            "archiver": [archiver, "--archive", str(work / "arch"), "capture", "-i", str(work / "urls.txt"),
                         "--json", "--delay", "0", "--retries", "0"],
        }
        if wget:
            (work / "wget").mkdir()
            runs["wget --warc-file"] = [wget, "-q", "--warc-file", str(work / "wget" / "out"), "--no-warc-keep-log",
                                        "--delete-after", "-P", str(work / "wget" / "files"), "-i", str(work / "urls.txt")]
        else:
            print("wget not found: peer skipped", file=sys.stderr)
        print(f"{args.pages} pages (~{args.size // 1000} KB HTML each, gzip) over {args.hosts} hosts\n")
        print(f"{'tool':<20}{'wall s':>9}{'pages/s':>10}{'CPU ms/page':>13}{'peak RSS MB':>13}{'WARC MB':>9}")
        for name, cmd in runs.items():
            m = measure(cmd, work)
            out = work / ("arch" if name == "archiver" else "wget")
            warc_mb = sum(p.stat().st_size for p in out.rglob("*.warc.gz")) / 2**20
            print(f"{name:<20}{m['wall']:>9.2f}{args.pages / m['wall']:>10.1f}{1000 * m['cpu'] / args.pages:>13.2f}"
                  f"{m['rss_mb']:>13.1f}{warc_mb:>9.1f}")
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
