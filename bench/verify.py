"""`archiver verify` throughput next to `sha256sum` and `warcio check` on
the same WARC files, in the same run.

Builds an archive of about --gb gigabytes of WARC data from the real pages
in ../shared/data/aeb (served gzip-encoded, as most servers do, and stored
as received), with a catalog row for every record, then times:

- `archiver verify` with one worker process per core, and with one;
- `sha256sum` of the same files (one process: the floor for hashing alone);
- `warcio check` of the same files (one process: record digests only).

    python bench/verify.py            # about 1 GB
    python bench/verify.py --gb 0.2
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from archiver.config import WarcOptions
from archiver.evidence.fixity import append_manifest
from archiver.models import Exchange
from archiver.archive.catalog import Catalog
from archiver.evidence.verify import verify_archive
from archiver.capture.warc import WarcWriter

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "aeb" / "html"


def _b32(data: bytes) -> str:
    import base64

    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def build(root: Path, gigabytes: float) -> tuple[int, int]:
    """Write the archive; (WARC files, bytes)."""
    pages = [gzip.decompress(p.read_bytes()) for p in sorted(DATA.glob("*.html.gz"))]
    if not pages:
        sys.exit(f"no pages in {DATA}")
    bodies = [gzip.compress(p, 6, mtime=0) for p in pages]
    start = datetime(2026, 1, 1)
    clock_at = [start]

    def clock() -> datetime:
        clock_at[0] += timedelta(microseconds=7)
        return clock_at[0]

    warc_dir = root / "warc"
    catalog = Catalog(root / "catalog.sqlite")

    def closed(name: str, sha: str, size: int) -> None:
        append_manifest(root, f"warc/{name}", sha)
        catalog.add_warc_file(name, sha, size, None)

    writer = WarcWriter(warc_dir, WarcOptions(max_size=256 * 1024 * 1024), clock=clock, on_close=closed)
    target = int(gigabytes * 1e9)
    written, n = 0, 0
    with catalog.transaction():
        while written < target:
            body = bodies[n % len(bodies)]
            url = f"https://site{n % 50}.example/page/{n}"
            ex = Exchange(url=url, method="GET", request_target=f"/page/{n}",
                          request_headers=[("Host", f"site{n % 50}.example"), ("User-Agent", "bench")],
                          started=clock(), http_version="HTTP/1.1", status_code=200, reason="OK",
                          response_headers=[("Content-Type", "text/html; charset=utf-8"),
                                            ("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))],
                          body=io.BytesIO(body), body_length=len(body), payload_digest=_b32(body))
            writer.begin()
            _request, response = writer.write_exchange(ex)
            catalog.add_record(response, url=url, timestamp=ex.started.strftime("%Y%m%d%H%M%S"), status_code=200,
                               content_type="text/html", payload_digest=ex.payload_digest)
            written += len(body) + 900
            n += 1
        writer.close()
    catalog.close()
    files = sorted(warc_dir.glob("*.warc.gz"))
    return len(files), sum(p.stat().st_size for p in files)


def timed(label: str, fn) -> float:
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--keep", help="build (or reuse) the archive in this folder")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="verify-bench-"))
    try:
        if not (root / "catalog.sqlite").exists():
            t0 = time.perf_counter()
            nfiles, size = build(root, args.gb)
            print(f"built {nfiles} WARC files, {size / 1e6:.0f} MB, in {time.perf_counter() - t0:.0f} s")
        files = sorted((root / "warc").glob("*.warc.gz"))
        size = sum(p.stat().st_size for p in files)
        mb = size / 1e6
        cores = os.cpu_count() or 1
        # Read every file once first, so each tool below meets the same (warm) page cache.
        for p in files:
            with open(p, "rb") as f:
                while f.read(1 << 24):
                    pass
        rows = []
        results = {}

        def run_verify(workers: int) -> None:
            report = verify_archive(root, "catalog.sqlite", workers=workers)
            assert report.ok, [str(p) for p in report.problems[:5]]
            results[workers] = report

        for label, fn in [
            (f"archiver verify ({cores} workers)", lambda: run_verify(cores)),
            ("archiver verify (1 worker)", lambda: run_verify(1)),
            ("sha256sum (1 process)", lambda: subprocess.run(["sha256sum", *map(str, files)], check=True,
                                                             stdout=subprocess.DEVNULL)),
            ("warcio check (1 process)", lambda: subprocess.run(
                [str(Path(sys.executable).parent / "warcio"), "check", *map(str, files)], check=True,
                stdout=subprocess.DEVNULL)),
        ]:
            wall = timed(label, fn)
            rows.append((label, wall, mb / wall))
        report = results[cores]
        print(f"\n{len(files)} WARC files, {mb:.0f} MB, {report.records} records, {report.catalog_rows} catalog rows;"
              f" {cores} cores")
        print(f"{'tool':<34} {'wall s':>8} {'MB/s':>8}")
        for label, wall, rate in rows:
            print(f"{label:<34} {wall:>8.1f} {rate:>8.0f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: this process {peak:.0f} MB, largest child {kids:.0f} MB (files are 256 MB each)")
        print("verify checks more than either peer: the file's SHA-256 against the manifest, every gzip member,"
              " block and payload digests, and every catalog row")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
