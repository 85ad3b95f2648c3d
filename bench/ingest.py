"""Ingest throughput: the default pool, one process, and `--dask local`, same WARC.

Serves the 131 real pages of ../shared/data/aeb from a local server under N
URLs (default 2,000), captures them with `wget --warc-file` (another tool's
WARC), then ingests that WARC into fresh archives: with the default pool of
cleaning processes, with cleaning in the ingesting process, and on a Dask
LocalCluster of 2 worker processes. Reports records
and pages per second for each, measured in the same run.

    python bench/ingest.py
    python bench/ingest.py --pages 300
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pageserver import serve_bodies  # noqa: E402
from quality import DATA  # noqa: E402

from archiver import Archive  # noqa: E402
from archiver.workers.cluster import dask_executor  # noqa: E402
from archiver.capture.ingest import ingest_warcs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    wget = shutil.which("wget")
    if not wget:
        sys.exit("wget is needed to write the input WARC")
    html = [gzip.decompress(p.read_bytes()) for p in sorted((args.data / "html").glob("*.html.gz"))]
    [server] = serve_bodies(html)
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
        print(f"{'ingest':<38}{'wall s':>8}{'records/s':>11}{'pages/s':>9}")
        for name, address, workers in (("default (a process per core)", None, None),
                                       ("--workers 0 (cleaning in this process)", None, 0),
                                       ("--dask local (2 workers)", "local", None)):
            archive = Archive(work / f"arch-{address or workers}", workers=workers)
            with dask_executor(address, workers=2) as executor:
                t0 = time.perf_counter()  # cluster start-up not counted
                report = ingest_warcs(archive, [str(src)], executor=executor)
                wall = time.perf_counter() - t0
            print(f"{name:<38}{wall:>8.1f}{report.records / wall:>11.1f}{len(report.captures) / wall:>9.1f}")
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
