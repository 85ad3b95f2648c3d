"""Capture throughput: archiver (fetch, WARC, clean, store) vs `wget --warc-file`
(fetch and WARC only), the same pages in the same run.

Serves the 131 real pages of ../shared/data/aeb (gzip, as sites send them)
under N URLs from H loopback hosts (127.0.0.1 .. 127.0.0.H), each response
held back a fixed delay (a site that far away), from a process of its own.
Each tool runs as a subprocess. Reported per tool: wall time, pages/s, the
machine's CPU seconds spent on the run (all of the tool's processes: /proc/stat
busy time, less the page server's own), CPU per page and peak RSS of the
tool's main process. Beside them, with a turn of its own in each round (the
machine's speed drifts during a run: measured once, minutes apart, it gave
14.9 and 23.2 ms a page): `archiver.clean` alone over the same pages in this
process, warm (its CPU is this process's time: the CPU cleaning needs),
and plain httpx fetching and gunzipping the same URLs in this process (what
every capture must do besides cleaning): with the cleaning, the floor of a
capture's CPU.

    python bench/capture.py                          # 300 pages, 10 hosts, 20 ms; then 100 ms; then 2,000 queued (its ratios too)
    python bench/capture.py --pages 300 --delay 0.02 --no-extra
    python bench/capture.py --no-extra --only "archiver capture" --only dask --rounds 9   # an A/B of two tools
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pageserver import start_server  # noqa: E402
from quality import DATA  # noqa: E402


def aeb_pages(data: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((data / "html").glob("*.html.gz"))]  # gzip already


def compile_archiver() -> None:
    """Byte-compile archiver's modules first, as `pip install` does: an
    editable checkout under PYTHONDONTWRITEBYTECODE (set on some machines)
    would otherwise compile every module at every start, ~0.1 s a run that no
    installed copy pays."""
    import archiver

    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(archiver.__file__).parent)], check=True)


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def measure(cmd: list[str], cwd: Path, server_pid: int, stdout: Any = subprocess.DEVNULL, *,
            pss: bool = False) -> dict[str, float]:
    """Run `cmd`: wall time, CPU of everything it ran (machine busy time less
    the page server's and this process's own: its sampling is not the
    tool's), and peak RSS sampled every 100 ms (sampling a process
    tree costs CPU the tools would otherwise have): of its main process,
    and of all its processes together (worker processes included). `pss`:
    the tree's figure is PSS instead (shared pages counted once, as a
    browser's many processes share most of theirs)."""
    import psutil  # comes with dask[distributed]

    busy0, server0, own0 = busy_seconds(), process_cpu(server_pid), time.process_time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    main = psutil.Process(proc.pid)
    peak_main = peak_tree = 0.0
    while proc.poll() is None:
        try:
            tree = [main, *main.children(recursive=True)]
            sizes = [p.memory_info().rss for p in tree[:1]]
            sizes += [(p.memory_full_info().pss if pss else p.memory_info().rss) for p in tree[1:]]
        except psutil.Error:
            sizes = []
        if sizes:
            peak_main = max(peak_main, sizes[0] / 2**20)
            peak_tree = max(peak_tree, sum(sizes) / 2**20)
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    time.sleep(0.3)  # let worker processes that outlive it by a moment finish counting
    cpu = busy_seconds() - busy0 - (process_cpu(server_pid) - server0) - (time.process_time() - own0)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    code = proc.returncode
    if code not in (0, 8):  # wget says 8 for "some server error", none expected here
        print(f"{cmd[0]} exited {code}: {err[-2000:]}", file=sys.stderr)
    return {"wall": wall, "cpu": cpu, "rss_mb": peak_main, "tree_rss_mb": peak_tree}


def verdicts(archive: Path) -> dict[str, int]:
    import sqlite3

    if not (archive / "catalog.sqlite").exists():
        return {}
    with sqlite3.connect(archive / "catalog.sqlite") as db:
        return dict(db.execute("SELECT verdict, count(*) FROM captures GROUP BY verdict").fetchall())


IN_PROCESS = "archiver.clean, in this process"


def cleaning_alone(bodies: list[bytes], urls: list[str]) -> dict[str, float]:
    """archiver.clean over the same pages in this process, warm: its wall
    and CPU seconds (a round of its own beside the tools', so that the
    machine's drift during a run hits it alike)."""
    from archiver.cleaning.snapshot import clean_page

    pages = [gzip.decompress(b) for b in bodies]
    clean_page(pages[0], urls[0])  # rules loaded, imports warm
    t0, c0 = time.perf_counter(), time.process_time()
    for i, url in enumerate(urls):
        clean_page(pages[i % len(pages)], url)
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_mb": 0.0, "tree_rss_mb": 0.0}


FETCH_ALONE = "httpx fetch+gunzip, in process"


def fetching_alone(urls: list[str], per_host: int = 2) -> dict[str, float]:
    """What every capture must do besides cleaning, with nothing of
    archiver's: plain httpx fetching the same URLs (a client per host with
    `per_host` connections, as archiver's politeness allows; bodies streamed
    raw with a SHA-1, as a WARC needs) and gunzipping each body (cleaning
    needs its text). Its CPU is this process's time: with the cleaning
    alone, the least a capture's CPU can be before WARC records, the
    catalog and the processes' start."""
    import asyncio
    import hashlib
    import ssl
    import zlib

    import httpx

    no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # plain HTTP: no CA bundle to load

    async def run() -> None:
        clients: dict[str, httpx.AsyncClient] = {}
        gates: dict[str, asyncio.Semaphore] = {}

        async def one(url: str) -> None:
            host = url.split("/")[2]
            if host not in clients:
                clients[host] = httpx.AsyncClient(
                    headers={"Accept-Encoding": "gzip, deflate"}, trust_env=False, verify=no_tls,
                    limits=httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host))
                gates[host] = asyncio.Semaphore(per_host)
            client = clients[host]
            async with gates[host]:
                response = await client.send(client.build_request("GET", url), stream=True)
                sha1, parts = hashlib.sha1(), []
                async for chunk in response.aiter_raw():
                    sha1.update(chunk)
                    parts.append(chunk)
                await response.aclose()
            zlib.decompress(b"".join(parts), 16 + zlib.MAX_WBITS)

        await asyncio.gather(*(one(u) for u in urls))
        for client in clients.values():
            await client.aclose()

    t0, c0 = time.perf_counter(), time.process_time()
    asyncio.run(run())
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "rss_mb": 0.0, "tree_rss_mb": 0.0}


def start_up_costs() -> dict[str, float]:
    """CPU seconds a capture spends before its first page, whatever the
    number of pages (medians of 5, each in a fresh interpreter): the
    interpreter's start, loading the capture path's modules, and loading
    the cleaner and cleaning a first page (each cleaning process's zygote
    does so; warm in-process cleaning has it done before it is timed)."""
    import resource

    def cpu_of(code: str) -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return float(out) if out.strip() else after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    timed = "import time; c = time.process_time(); {}; print(time.process_time() - c)"
    return {
        "interpreter": statistics.median(cpu_of("pass") for _ in range(5)),
        "capture's modules": statistics.median(cpu_of(timed.format(
            "import archiver.cli, archiver.archive.archive, archiver.capture.run, archiver.capture.fetch, archiver.capture.recorder,"
            " archiver.capture.warc, archiver.workers.pool")) for _ in range(5)),
        "the cleaner, warm": statistics.median(cpu_of(timed.format(
            "from archiver.capture.jobs import warm_up; warm_up()")) for _ in range(5)),
    }


def run_set(args: argparse.Namespace, bodies: list[bytes], pages: int, delay: float, tools: list[str],
            title: str) -> dict[str, dict[str, float]]:
    """Each tool `args.rounds` times, interleaved (A B C, A B C, ...) so that
    machine noise hits all alike; the medians."""
    server = start_server(bodies, args.hosts, args.port, delay)
    work = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    try:
        urls = [f"http://127.0.0.{i % args.hosts + 1}:{args.port}/p/{i}" for i in range(pages)]
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        exe = str(Path(sys.executable).parent / "archiver")
        wget = shutil.which("wget")

        def command(name: str, out: Path) -> list[str] | None:
            base = [exe, "capture", "-i", str(work / "urls.txt"), "--json", "--delay", "0", "--retries", "0",
                    "--archive", str(out)]
            if name == "archiver capture":
                return base
            if name == "archiver capture --dask local":
                return [*base, "--dask", "local"]
            if name == "archiver capture --workers 0":
                return [*base, "--workers", "0"]
            if name == "archiver clean (cleaning alone)":
                # The same pages, cleaned in one process, start-up included: the
                # CPU the cleaning itself needs, measured the way the captures are.
                pages_dir = work / "pages"
                if not pages_dir.exists():
                    pages_dir.mkdir()
                    for i, body in enumerate(bodies):
                        (pages_dir / f"{i}.html.gz").write_bytes(body)
                files = [str(pages_dir / f"{i % len(bodies)}.html.gz") for i in range(pages)]
                return [exe, "clean", "--format", "json", *files]
            if name == "wget --warc-file" and wget:
                return [wget, "-q", "--warc-file", str(out / "out"), "--no-warc-keep-log", "--delete-after",
                        "-P", str(out / "files"), "-i", str(work / "urls.txt")]
            return None

        print(f"\n{title}: {pages} pages over {args.hosts} hosts, {delay * 1000:.0f} ms per response,"
              f" median of {args.rounds} interleaved rounds\n")
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
        seen: dict[str, dict[str, int]] = {}
        for r in range(args.rounds):
            for name in tools:
                if name == IN_PROCESS:
                    runs[name].append(cleaning_alone(bodies, urls))
                    continue
                if name == FETCH_ALONE:
                    runs[name].append(fetching_alone(urls))
                    continue
                out = work / f"out-{r}-{tools.index(name)}"
                out.mkdir()
                cmd = command(name, out)
                if cmd is None:
                    continue
                runs[name].append(measure(cmd, work, server.pid))
                seen[name] = verdicts(out)
                shutil.rmtree(out, ignore_errors=True)
        print(f"{'tool':<32}{'wall s':>8}{'pages/s':>9}{'CPU s':>8}{'CPU ms/page':>13}{'peak RSS MB':>13}"
              f"{'all procs MB':>14}  verdicts")
        results = {}
        for name in tools:
            if not runs[name]:
                print(f"{name:<32} (not available)")
                continue
            m = {k: statistics.median(x[k] for x in runs[name]) for k in ("wall", "cpu", "rss_mb", "tree_rss_mb")}
            results[name] = m
            v = seen.get(name)
            print(f"{name:<32}{m['wall']:>8.2f}{pages / m['wall']:>9.1f}{m['cpu']:>8.1f}"
                  f"{1000 * m['cpu'] / pages:>13.1f}{m['rss_mb']:>13.0f}{m['tree_rss_mb']:>14.0f}  {json.dumps(v) if v else ''}")
        return results
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=300)
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--delay", type=float, default=0.02, help="seconds added to every response")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--no-extra", action="store_true", help="only the first set-up")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", action="append", default=[], metavar="TEXT",
                    help="run only the tools of set-up 1 named TEXT, or whose name contains TEXT (repeatable)")
    args = ap.parse_args()
    compile_archiver()
    bodies = aeb_pages(args.data)
    all_tools = ["wget --warc-file", "archiver capture", "archiver capture --dask local", "archiver capture --workers 0",
                 "archiver clean (cleaning alone)", IN_PROCESS, FETCH_ALONE]
    # A tool's full name picks that tool alone; any other text, every tool whose name contains it.
    tools = [t for t in all_tools if not args.only or any(o == t or (o in t and o not in all_tools) for o in args.only)]
    results = run_set(args, bodies, args.pages, args.delay, tools, "set-up 1")
    report(results, args.pages, start_up=True)
    if args.no_extra:
        return
    run_set(args, bodies, args.pages, 0.1, ["wget --warc-file", "archiver capture"], "set-up 2 (a far-away site)")
    # The same ratios where the start-up is spread over 2,000 pages.
    report(run_set(args, bodies, 2000, args.delay, ["archiver capture", IN_PROCESS, FETCH_ALONE],
                   "set-up 3 (2,000 pages queued at once)"), 2000)


def report(results: dict[str, dict[str, float]], pages: int, *, start_up: bool = False) -> None:
    """The targets' ratios, from the tools a set-up ran."""
    wget, ours, dask = (results.get(k) for k in ("wget --warc-file", "archiver capture",
                                                 "archiver capture --dask local"))
    cleaning, alone = results.get("archiver clean (cleaning alone)"), results.get(IN_PROCESS)
    if ours and (wget or alone or cleaning):
        print("\narchiver capture: " + "; ".join(part for part in (
            f"{wget['wall'] / ours['wall']:.2f}x wget's pages/s" if wget else "",
            f"CPU per page {ours['cpu'] / alone['cpu']:.2f}x warm in-process cleaning" if alone else "",
            f"{ours['cpu'] / cleaning['cpu']:.2f}x `archiver clean` of the same pages" if cleaning else "") if part))
    fetch = results.get(FETCH_ALONE)
    if ours and alone and fetch:
        # No capture costs less than its cleaning plus its fetching: the
        # target's budget (1.25x) against what is left for everything else.
        floor = alone["cpu"] + fetch["cpu"]
        print(f"the floor (warm cleaning + plain httpx fetch and gunzip, nothing else): {floor / alone['cpu']:.2f}x"
              f" warm in-process cleaning; capture's CPU beyond it: {1000 * (ours['cpu'] - floor) / pages:.1f}"
              f" ms a page (WARC records, catalog, snapshot files, processes' start, the pool's messages)")
        if start_up:
            costs = start_up_costs()
            print("start-up, whatever the pages: " + ", ".join(f"{k} {v:.2f} s" for k, v in costs.items())
                  + f": {1000 * sum(costs.values()) / pages:.1f} ms a page at {pages} pages")
    if ours and dask:
        print(f"--dask local: {ours['wall'] / dask['wall']:.2f}x the default's pages/s")

if __name__ == "__main__":
    main()
