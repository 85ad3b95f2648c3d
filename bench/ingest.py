"""Ingest throughput: one process vs `--dask local` (2 workers), same WARC.

Serves the 131 real pages of ../shared/data/aeb from a local server under N
URLs (default 2,000), captures them with `wget --warc-file` (another tool's
WARC), then ingests that WARC into two fresh archives: in one process, and
with cleaning on a Dask LocalCluster of 2 worker processes. Reports records
and pages per second for each, measured in the same run.

    python bench/ingest.py
    python bench/ingest.py --pages 300
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import DATA  # noqa: E402

from archiver import Archive  # noqa: E402
from archiver.distributed import dask_executor  # noqa: E402
from archiver.ingest import ingest_warcs  # noqa: E402


def serve_pages(pages: list[bytes]) -> socketserver.TCPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/p/"):
                body = pages[int(self.path[3:]) % len(pages)]
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
            else:
                body = b"not found"
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    wget = shutil.which("wget")
    if not wget:
        sys.exit("wget is needed to write the input WARC")
    html = [gzip.decompress(p.read_bytes()) for p in sorted((args.data / "html").glob("*.html.gz"))]
    server = serve_pages(html)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        port = server.server_address[1]
        (work / "urls.txt").write_text("".join(f"http://127.0.0.1:{port}/p/{i}\n" for i in range(args.pages)))
        t0 = time.perf_counter()
        subprocess.run([wget, "-q", "--warc-file", str(work / "input"), "--no-warc-keep-log", "--delete-after",
                        "-P", str(work / "files"), "-i", str(work / "urls.txt")], check=False)
        src = work / "input.warc.gz"
        print(f"{args.pages} pages ({len(html)} distinct real pages) captured by wget in {time.perf_counter() - t0:.1f} s:"
              f" {src.stat().st_size / 2**20:.0f} MB WARC\n")
        print(f"{'ingest':<34}{'wall s':>8}{'records/s':>11}{'pages/s':>9}")
        for name, address in (("one process", None), ("--dask local (2 workers)", "local")):
            archive = Archive(work / f"arch-{address or 'single'}")
            with dask_executor(address, workers=2) as executor:
                t0 = time.perf_counter()  # cluster start-up not counted
                report = ingest_warcs(archive, [str(src)], executor=executor)
                wall = time.perf_counter() - t0
            print(f"{name:<34}{wall:>8.1f}{report.records / wall:>11.1f}{len(report.captures) / wall:>9.1f}")
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
