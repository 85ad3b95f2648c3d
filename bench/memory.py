"""Memory and time of cleaning very large pages, and of capturing one.

Each measurement runs in a fresh child process, which reports its own peak
RSS (ru_maxrss) above what it had after importing everything, and its time.
Pages are synthetic articles of distinct paragraphs, the worst case for the
extractor (every byte is text it must keep). The peer is plain
`trafilatura.extract` on the same bytes, in the same run; it is skipped
above `--peer-max` MB, where it takes minutes.

    python bench/memory.py                 # 0.1, 1, 10, 50 MB pages
    python bench/memory.py --sizes 1 50 --peer-max 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
size_mb, mode = float(sys.argv[1]), sys.argv[2]
para = "<p>Paragraph {} of a very long page, with words enough to count as text and a <a href='/x'>link</a>.</p>\n"
count = int(size_mb * 1024 * 1024 / len(para))
html = ("<html><head><title>A very long report</title></head><body><article>"
        + "".join(para.format(i) for i in range(count)) + "</article></body></html>").encode()
import trafilatura
if mode != "trafilatura":  # the peer runs as it comes: archiver's cleaner gives trafilatura faster XPath evaluators
    from archiver.cleaning.snapshot import clean_page
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if mode == "archiver":
    words = clean_page(html).word_count
elif mode == "trafilatura":
    words = len((trafilatura.extract(html) or "").split())
else:  # capture: fetch, WARC, clean and store, from a local server
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html))); self.end_headers(); self.wfile.write(html)
    server = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from archiver import Archive, FetchOptions
    [c] = Archive(sys.argv[3], fetch_options=FetchOptions(host_delay=0, max_body=200 * 1024 * 1024)).capture(
        [f"http://127.0.0.1:{server.server_port}/big.html"])
    words = c.word_count
    del html
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "base_mb": base / 1024, "words": words}))
"""


def measure(size: float, mode: str, timeout: float) -> dict[str, float] | None:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            out = subprocess.run([sys.executable, "-c", CHILD, str(size), mode, str(Path(tmp) / "arch")],
                                 capture_output=True, text=True, timeout=timeout, check=True).stdout
        except subprocess.TimeoutExpired:
            return None
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=float, nargs="+", default=[0.1, 1, 10, 50])
    ap.add_argument("--peer-max", type=float, default=2.0, help="largest page (MB) given to plain trafilatura")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    print(f"{'page':>8}  {'tool':<28} {'seconds':>8} {'peak RSS MB':>12} {'+ over base':>12} {'words':>10}")
    for size in args.sizes:
        modes = ["archiver", "capture"] + (["trafilatura"] if size <= args.peer_max else [])
        for mode in modes:
            r = measure(size, mode, args.timeout)
            label = {"archiver": "archiver.clean", "capture": "archiver capture (whole)",
                     "trafilatura": "trafilatura.extract"}[mode]
            if r is None:
                print(f"{size:>6g}MB  {label:<28} {'timeout':>8}")
                continue
            print(f"{size:>6g}MB  {label:<28} {r['seconds']:>8.2f} {r['peak_mb']:>12.0f} "
                  f"{r['peak_mb'] - r['base_mb']:>12.0f} {r['words']:>10}")
        if size > args.peer_max:
            print(f"{size:>6g}MB  {'trafilatura.extract':<28} {'skipped (slower than quadratic: --peer-max)':>40}")


if __name__ == "__main__":
    main()
