"""Cleaning speed: archiver.clean vs plain trafilatura.extract, same pages.

Runs the extractors in turn over all of ../shared/data/aeb, several rounds,
interleaved (A B C, A B C, ...) so that machine noise hits all alike, and
reports the median pages/s of each, plus where archiver's time goes
(pruning, extraction, normalisation).

    python bench/speed.py              # 5 rounds
    python bench/speed.py --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import DATA, as_written, load  # noqa: E402

from archiver.cleaning.snapshot import clean_page  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    pages = [(url or None, html) for _, url, html, _ in load(args.data)]
    split: dict[str, float] = {}
    runners = {
        "archiver.clean": lambda: [clean_page(h, u, timings=split) for u, h in pages],
        # the same, with trafilatura as it comes (archiver/cleaning/speedups.py off)
        "archiver.clean (speed-ups off)": as_written(lambda: [clean_page(h, u) for u, h in pages]),
        # trafilatura as it comes (not with archiver's evaluators of its expressions)
        "trafilatura.extract (defaults)": as_written(lambda: [trafilatura.extract(h, url=u) for u, h in pages]),
        "trafilatura.extract (favor_precision)": as_written(lambda: [
            trafilatura.extract(h, url=u, favor_precision=True, include_comments=False) for u, h in pages]),
        "trafilatura.extract (with_metadata)": as_written(
            lambda: [trafilatura.extract(h, url=u, with_metadata=True) for u, h in pages]),
    }
    for fn in runners.values():  # warm-up: imports, caches
        fn()
    split.clear()
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            rates[name].append(len(pages) / (time.perf_counter() - t0))
    base = statistics.median(rates["trafilatura.extract (defaults)"])
    print(f"{len(pages)} pages, {args.rounds} interleaved rounds, median pages/s\n")
    print(f"{'extractor':<40}{'pages/s':>9}{'vs plain':>10}")
    for name, values in rates.items():
        med = statistics.median(values)
        print(f"{name:<40}{med:>9.1f}{med / base:>9.2f}x")
    total = sum(split.values())
    print("\narchiver.clean time split: " + ", ".join(
        f"{stage} {100 * t / total:.0f}% ({1000 * t / (len(pages) * args.rounds):.2f} ms/page)"
        for stage, t in split.items()))


if __name__ == "__main__":
    main()
