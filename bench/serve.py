"""archiver serve on a big archive, and under load while a capture writes.

1. Latency of every interface page and API call on bench/store.py's
   synthetic archive (default 100,000 captures: 10,000 URLs x 10), through
   a real `archiver serve` process over HTTP: median and p95 of repeated
   requests. Target: every page under 100 ms.
2. Load: 50 concurrent clients for 30 s over a mix of dashboard (one in
   three filtered or sorted otherwise), timeline, diff, search and API requests, while one `archiver capture` writes into
   the same archive throughout (a new page every ~50 ms). Requests/s,
   p50/p99 latency (overall and per kind of request), errors. Target (#30): no
   errors, p99 under 300 ms on 2 cores. The clients are plain asyncio
   HTTP/1.1 connections (`--httpx` for httpx clients, which cost the shared
   machine ~30x the CPU per request: 4.9 vs 0.16 ms).

    python bench/serve.py
    python bench/serve.py --captures 20000 --clients 20 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from store import WORDS, synthetic_archive  # noqa: E402


WRITE_EVERY = 0.05  # seconds between the writing capture's requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(archive: Path, port: int) -> subprocess.Popen[bytes]:
    exe = str(Path(sys.executable).parent / "archiver")
    proc = subprocess.Popen([exe, "serve", "--archive", str(archive), "--port", str(port), "--no-replay"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("archiver serve did not start")


def requests_for(urls: list[str], rnd: random.Random) -> dict[str, callable]:
    def q(path: str, **params: str) -> str:
        return f"{path}?{urlencode(params)}" if params else path

    return {
        "dashboard": lambda: q("/"),
        "dashboard page 50": lambda: q("/", p="50"),
        # a filter or an order other than the default: what a person narrowing the list asks for
        "dashboard filtered": lambda: q("/", **rnd.choice([
            {"find": f"story/{rnd.randrange(100)}"}, {"host": f"news{rnd.randrange(50)}.example.org"},
            {"verdict": rnd.choice(["changed", "unchanged"])}, {"since": "2024-01-02"}, {"sort": "url"},
            {"sort": "captured"}, {"sort": "stale"}])),
        "timeline": lambda: q("/timeline", url=rnd.choice(urls)),
        "snapshot": lambda: q("/snapshot", url=rnd.choice(urls)),
        "diff": lambda: q("/diff", url=rnd.choice(urls)),
        "search": lambda: q("/search", q=f"{rnd.choice(WORDS)} {rnd.choice(WORDS)}"),
        "feed.atom": lambda: q("/feed.atom"),
        "api/captures": lambda: q("/api/captures", url=rnd.choice(urls)),
        "api/snapshot": lambda: q("/api/snapshot", url=rnd.choice(urls)),
        "api/diff": lambda: q("/api/diff", url=rnd.choice(urls)),
        "api/search": lambda: q("/api/search", q=rnd.choice(WORDS)),
        "api/watches": lambda: q("/api/watches"),
    }


def latency(base: str, urls: list[str], repeats: int) -> None:
    rnd = random.Random(7)
    print(f"{'page':<22}{'median ms':>11}{'p95 ms':>9}")
    with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
        for name, make in requests_for(urls, rnd).items():
            times = []
            for _ in range(repeats):
                path = make()
                t = time.perf_counter()
                r = client.get(path)
                times.append(1000 * (time.perf_counter() - t))
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: HTTP {r.status_code}")
            times.sort()
            print(f"{name:<22}{statistics.median(times):>11.1f}{times[int(len(times) * 0.95)]:>9.1f}")


class RawConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams, for the load.
    The load generator shares this machine with the server: httpx spent ~5 ms
    of CPU per request (43% of the 2 cores went to the client measured), this
    a fraction of that, so the server gets the CPU a remote client would leave it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        try:
            self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            headers = {k.strip().lower(): v.strip().lower() for k, v in headers.items()}
            if b"content-length" in headers:
                body = await self.reader.readexactly(int(headers[b"content-length"]))
            elif headers.get(b"transfer-encoding") == b"chunked":
                parts = []
                while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    parts.append(await self.reader.readexactly(size))
                    await self.reader.readexactly(2)
                await self.reader.readuntil(b"\r\n")
                body = b"".join(parts)
            else:
                body = await self.reader.read()
            if headers.get(b"connection") == b"close" or not body and b"content-length" not in headers:
                await self.close()
            return status, body
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self.close()
            raise

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


async def load(base: str, urls: list[str], clients: int, seconds: float, *, use_httpx: bool = False
               ) -> tuple[list[float], int, int, dict[str, list[float]]]:
    rnd = random.Random(11)
    makers = requests_for(urls, rnd)
    mix = ["dashboard"] * 2 + ["dashboard filtered"] + ["timeline"] * 3 + ["diff"] * 2 + ["search"] * 2 + [
        "snapshot", "api/captures", "api/diff", "api/search"]
    times: list[float] = []
    by_kind: dict[str, list[float]] = {}
    errors = 0
    done = 0
    kinds: dict[str, int] = {}
    end = time.monotonic() + seconds
    host, port = base.removeprefix("http://").rsplit(":", 1)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30, limits=limits) as client:
        async def one() -> None:
            nonlocal errors, done
            raw = RawConnection(host, int(port))
            while time.monotonic() < end:
                kind = rnd.choice(mix)
                path = makers[kind]()
                t = time.perf_counter()
                try:
                    if use_httpx:
                        r = await client.get(path)
                        status, body = r.status_code, r.content
                    else:
                        status, body = await asyncio.wait_for(raw.get(path), 30)
                    if status != 200:
                        errors += 1
                        kinds[f"HTTP {status} {path.split('?')[0]}: {body[:120]!r}"] = 1
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                    errors += 1
                    kinds[f"{type(exc).__name__} {path.split('?')[0]}"] = 1
                times.append(1000 * (time.perf_counter() - t))
                by_kind.setdefault(kind, []).append(times[-1])
                done += 1
            await raw.close()

        await asyncio.gather(*(one() for _ in range(clients)))
    for kind in kinds:
        print("error:", kind)
    return times, errors, done, by_kind


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--archive", type=Path, help="an archive built by an earlier run of this bench (its urls.txt"
                    " lists the URLs), to skip building one; captures are added to it")
    ap.add_argument("--httpx", action="store_true",
                    help="load with httpx clients (as before 2026-11-29: they took ~40%% of a 2-core machine's CPU)")
    args = ap.parse_args()
    work = args.archive or Path(tempfile.mkdtemp(prefix="bench-serve-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if args.archive and (args.archive / "urls.txt").exists():
            urls = (args.archive / "urls.txt").read_text().split()
            print(f"the archive at {args.archive} ({len(urls):,} synthetic URLs)")
        else:
            t0 = time.perf_counter()
            urls = list(synthetic_archive(work, args.captures))
            (work / "urls.txt").write_text("\n".join(urls) + "\n")
            print(f"{args.captures:,} synthetic captures of {len(urls):,} URLs built in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        procs.append(start_server(work, port))
        base = f"http://127.0.0.1:{port}"
        print("\n1. one request at a time")
        latency(base, urls, args.repeats)

        # A capture writing into the same archive the whole time: one
        # `archiver capture` of many pages, paced by its per-host delay so that
        # it writes a capture every ~50 ms for longer than the load lasts
        # (each a new text: WARC records, a snapshot file, catalog rows).
        from siteserver import SiteServer

        site = SiteServer().start()
        n = max(20, int(args.seconds / WRITE_EVERY) + 200)
        pages = [site.url(f"/page/load-{i}") for i in range(n)]
        for i in range(n):
            site.state.pages[f"/page/load-{i}"] = (f"<html><head><title>Load {i}</title></head><body><article>"
                                                   + "<p>" + " ".join(random.choice(WORDS) for _ in range(300))
                                                   + "</p></article></body></html>").encode()
        url_file = work / "load-urls.txt"
        url_file.write_text("\n".join(pages) + "\n")
        exe = str(Path(sys.executable).parent / "archiver")
        writer = subprocess.Popen([exe, "capture", "--archive", str(work), "--delay", str(WRITE_EVERY), "--workers", "1",
                                   "-i", str(url_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(writer)
        time.sleep(2)
        print(f"\n2. {args.clients} clients for {args.seconds:g} s, a capture writing meanwhile")
        times, errors, done, by_kind = asyncio.run(load(base, urls, args.clients, args.seconds, use_httpx=args.httpx))
        times.sort()
        print(f"{'request':<22}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}")
        for kind, ts in sorted(by_kind.items()):
            ts.sort()
            print(f"{kind:<22}{len(ts):>7}{statistics.median(ts):>9.0f}{ts[int(len(ts) * 0.99)]:>9.0f}")
        with __import__("sqlite3").connect(work / "catalog.sqlite") as db:
            written = db.execute("SELECT count(*) FROM captures WHERE url LIKE '%/page/load-%'").fetchone()[0]
        print(f"requests {done:,}, {done / args.seconds:.0f}/s, errors {errors}, "
              f"p50 {statistics.median(times):.0f} ms, p99 {times[int(len(times) * 0.99)]:.0f} ms; "
              f"{written} captures written meanwhile")
        site.stop()
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.archive:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
