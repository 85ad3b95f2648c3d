"""Browser capture against plain capture, same pages, same run.

50 local pages (half built by a script after load, half static; gzip as
sites send them) from tests/jssite.py, served by a process of their own;
`archiver capture` and `archiver capture --browser` of all 50, in
interleaved rounds. Printed per tool: wall time, pages/s, CPU seconds (the
machine's busy time less the page server's), peak RSS of the main process
and of all its processes (Chromium's included; PSS, so the libraries its
processes share count once), and the verdicts: plain
capture keeps the script-built half as empty shells, the browser gets
their text.

    python bench/browser.py
    python bench/browser.py --pages 100 --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from capture import measure, verdicts  # noqa: E402

SERVER = ("import sys, time; sys.path.insert(0, {tests!r}); from jssite import JsServer; "
          "s = JsServer().start(); print(s.server_address[1], flush=True); time.sleep(1e9)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "archiver")
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(tests=str(HERE.parent / "tests"))],
                              stdout=subprocess.PIPE, text=True)
    work = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    try:
        port = int(server.stdout.readline())
        urls = [f"http://127.0.0.1:{port}/bench/{'js' if i % 2 else 'static'}/{i}" for i in range(args.pages)]
        url_file = work / "urls.txt"
        url_file.write_text("\n".join(urls) + "\n")
        tools = {
            "archiver capture (plain HTTP)": [exe, "capture", "-i", str(url_file), "--delay", "0", "--json"],
            "archiver capture --browser": [exe, "capture", "--browser", "-i", str(url_file), "--delay", "0", "--json"],
        }
        results: dict[str, list[dict[str, float]]] = {name: [] for name in tools}
        seen: dict[str, dict[str, int]] = {}
        for r in range(args.rounds):
            for name, cmd in tools.items():
                arch = work / f"arch-{r}-{len(results[name])}-{name.split()[-1].strip('-')}"
                results[name].append(measure([*cmd, "--archive", str(arch)], work, server.pid, pss=True))
                seen[name] = verdicts(arch)
                shutil.rmtree(arch, ignore_errors=True)
        print(f"{args.pages} local pages (half built by scripts), {args.rounds} interleaved rounds, medians\n")
        print(f"{'tool':<32}{'wall s':>8}{'pages/s':>9}{'CPU s':>8}{'RSS MB':>8}{'all PSS':>8}  verdicts")
        for name, runs in results.items():
            wall = statistics.median(x["wall"] for x in runs)
            cpu = statistics.median(x["cpu"] for x in runs)
            rss = statistics.median(x["rss_mb"] for x in runs)
            tree = statistics.median(x["tree_rss_mb"] for x in runs)
            counts = ", ".join(f"{v} {k}" for k, v in sorted(seen[name].items()))
            print(f"{name:<32}{wall:>8.2f}{args.pages / wall:>9.1f}{cpu:>8.1f}{rss:>8.0f}{tree:>8.0f}  {counts}")
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
