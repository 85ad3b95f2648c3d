"""Cleaning quality on ../shared/data/aeb: archiver.clean vs plain trafilatura.

The metric is the benchmark's own (see its README): 4-token shingles of
`\\w+` tokens, per-page precision and recall averaged over pages, F1 of the
averages. All extractors run on the same pages in the same run.

    python bench/quality.py                  # the table
    python bench/quality.py --worst 10       # archiver's ten worst pages
    python bench/quality.py --folds 5        # out-of-fold: tuned on 4 folds, scored on the 5th

The k-fold mode is the honest measure: archiver's tuned settings (the word
ratio below which readability gets a go, and how many times as many words
it must find) are chosen on the other folds and scored on the held-out one,
repeated over several shuffles. Every fold is scored for plain trafilatura
too.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trafilatura

import archiver

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "aeb"
TOKEN = re.compile(r"\w+")
# An ordered list's item labels ("1. The attorney general...", "b. if ...",
# "iv. ...": the list's type="a"/"i" kinds) are formatting the ground truth
# leaves out; archiver keeps them, as a reader sees them. Scored without
# them, on every side alike. (A single letter or a small roman numeral at the
# start of a line, then a dot: "Mr. Smith" or "Dr." are left alone.)
LIST_LABEL = re.compile(r"(?m)^\s*(?:[-*•]\s*)?(?:\d{1,3}|[a-zA-Z]|[ivx]{2,5}|[IVX]{2,5})[.)]\s+")


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(LIST_LABEL.sub("", text or ""))
    if len(tokens) < 4:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


def page_scores(pred: str, truth: str) -> tuple[float | None, float | None]:
    p, t = shingles(pred), shingles(truth)
    tp = sum((p & t).values())
    fp = sum(p.values()) - tp
    fn = sum(t.values()) - tp
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return precision, recall


def summarise(scores: list[tuple[float | None, float | None]]) -> tuple[float, float, float]:
    ps = [p for p, _ in scores if p is not None]
    rs = [r for _, r in scores if r is not None]
    p = sum(ps) / len(ps) if ps else 0.0
    r = sum(rs) / len(rs) if rs else 0.0
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def load(data: Path) -> list[tuple[str, str, str, str]]:
    truth = json.loads((data / "ground-truth.json").read_text())
    pages = []
    for pid, item in sorted(truth.items()):
        path = data / "html" / f"{pid}.html.gz"
        if path.exists():
            html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
            pages.append((pid, item.get("url") or "", html, item["articleBody"]))
    return pages


RATIOS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)  # the fallback settings k-fold chooses among
FACTORS = (1.5, 2.0)
SETTINGS = [(r, f) for r in RATIOS for f in FACTORS]

def as_written(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` run on trafilatura as it comes: loading archiver's cleaner gives
    trafilatura's modules faster evaluators of the same XPath expressions
    (archiver/cleaning/attrpaths.py) and a parser that picks element classes in C
    (archiver/cleaning/speedups.py), which a peer measured in this process must not
    get."""
    def run(*args: Any, **kwargs: Any) -> Any:
        from archiver.cleaning.attrpaths import as_written
        from archiver.cleaning.speedups import TRAFILATURA_CHANGES

        with as_written(TRAFILATURA_CHANGES):
            return fn(*args, **kwargs)
    return run


EXTRACTORS = {
    "archiver.clean": lambda html, url: archiver.clean(html, url or None).text,
    # the same with trafilatura as it comes (speedups.py off): the speed-ups must not move a score
    "archiver.clean (speed-ups off)": as_written(lambda html, url: archiver.clean(html, url or None).text),
    "trafilatura favor_precision": as_written(lambda html, url: trafilatura.extract(
        html, url=url or None, favor_precision=True, include_comments=False) or ""),
    "trafilatura defaults": as_written(lambda html, url: trafilatura.extract(html, url=url or None) or ""),
}


def f1_of(score: tuple[float | None, float | None]) -> float:
    p, r = score
    return 2 * p * r / (p + r) if p and r else 0.0


def kfold(pages: list[tuple[str, str, str, str]], folds: int, repeats: int, losers: int) -> None:
    from archiver import CleanOptions
    from archiver.cleaning.snapshot import clean_page

    print(f"{len(pages)} pages, {folds} folds x {repeats} shuffles; computing outputs ...", flush=True)
    truths = [truth for *_, truth in pages]

    def scores_of(fn) -> list[tuple[float | None, float | None]]:
        return [page_scores(fn(html, url or None), t) for (_, url, html, _), t in zip(pages, truths)]

    tuned = {(r, f): scores_of(lambda h, u, r=r, f=f: clean_page(
        h, u, options=CleanOptions(fallback_ratio=r, fallback_factor=f)).text) for r, f in SETTINGS}
    peers = {
        "trafilatura favor_precision": scores_of(EXTRACTORS["trafilatura favor_precision"]),
        "trafilatura defaults": scores_of(EXTRACTORS["trafilatura defaults"]),
    }
    base = "trafilatura favor_precision"
    results: dict[str, list[float]] = {"archiver (default, tuned out of fold)": [], **{k: [] for k in peers}}
    oof_page: dict[int, list[float]] = {}  # page -> its out-of-fold F1s (default)
    chosen: list[tuple[float, float]] = []
    import random
    import statistics

    for seed in range(repeats):
        order = sorted(range(len(pages)), key=lambda i: pages[i][0])
        random.Random(seed).shuffle(order)
        parts = [order[k::folds] for k in range(folds)]
        for k, held in enumerate(parts):
            train = [i for j, part in enumerate(parts) if j != k for i in part]
            ratio = max(SETTINGS, key=lambda s: summarise([tuned[s][i] for i in train])[0])
            chosen.append(ratio)
            results["archiver (default, tuned out of fold)"].append(summarise([tuned[ratio][i] for i in held])[0])
            for i in held:
                oof_page.setdefault(i, []).append(f1_of(tuned[ratio][i]))
            for name, sc in peers.items():
                results[name].append(summarise([sc[i] for i in held])[0])
    ref = results[base]
    print(f"\n{'extractor':<40}{'mean F1':>9}{'stdev':>8}{'min':>8}{'vs ' + base[:18]:>26}{'folds worse':>13}")
    for name, vals in results.items():
        diffs = [a - b for a, b in zip(vals, ref)]
        worse = sum(1 for d in diffs if d < -1e-9)
        print(f"{name:<40}{statistics.mean(vals):>9.4f}{statistics.stdev(vals):>8.4f}{min(vals):>8.4f}"
              f"{statistics.mean(diffs):>+17.4f} (min {min(diffs):+.4f}){worse:>6}/{len(diffs)}")
    print("\nfallback (ratio, factor) chosen on the training folds: "
          + ", ".join(f"({r:g}, {f:g}) x{chosen.count((r, f))}" for r, f in SETTINGS if chosen.count((r, f))))
    if losers:
        print(f"\npages where archiver loses most to {base} (out-of-fold F1 / {base}):")
        rows = []
        for i, vals in oof_page.items():
            mine = statistics.mean(vals)
            theirs = f1_of(peers[base][i])
            rows.append((mine - theirs, mine, theirs, pages[i][0][:12], pages[i][1]))
        for d, mine, theirs, pid, url in sorted(rows)[:losers]:
            print(f"  {d:+.3f}  {mine:.3f} / {theirs:.3f}  {pid}  {url[:70]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--worst", type=int, default=0, help="list archiver's N worst pages")
    ap.add_argument("--folds", type=int, default=0, help="k-fold mode: this many folds")
    ap.add_argument("--repeats", type=int, default=5, help="k-fold mode: this many shuffles")
    ap.add_argument("--losers", type=int, default=8, help="k-fold mode: list this many pages archiver loses most on")
    args = ap.parse_args()
    if not (args.data / "ground-truth.json").exists():
        sys.exit(f"no benchmark data at {args.data}")
    pages = load(args.data)
    if args.folds:
        kfold(pages, args.folds, args.repeats, args.losers)
        return
    print(f"{len(pages)} pages from {args.data}\n")
    print(f"{'extractor':<30}{'F1':>8}{'precision':>11}{'recall':>9}{'pages/s':>10}")
    per_page: dict[str, list[tuple[float | None, float | None]]] = {}
    for name, fn in EXTRACTORS.items():
        fn(pages[0][2], pages[0][1])  # warm up imports and caches
        scores = []
        t0 = time.perf_counter()
        outputs = [fn(html, url) for _, url, html, _ in pages]
        elapsed = time.perf_counter() - t0
        for out, (_, _, _, truth) in zip(outputs, pages):
            scores.append(page_scores(out, truth))
        per_page[name] = scores
        f1, p, r = summarise(scores)
        print(f"{name:<30}{f1:>8.3f}{p:>11.3f}{r:>9.3f}{len(pages) / elapsed:>10.1f}")
    if args.worst:
        print(f"\narchiver's {args.worst} worst pages (F1 archiver / trafilatura favor_precision):")
        rows = []
        for i, (pid, url, _, _) in enumerate(pages):
            p, r = per_page["archiver.clean"][i]
            tp, tr = per_page["trafilatura favor_precision"][i]
            f = 2 * p * r / (p + r) if p and r else 0.0
            tf = 2 * tp * tr / (tp + tr) if tp and tr else 0.0
            rows.append((f, tf, p or 0, r or 0, pid[:12], url))
        for f, tf, p, r, pid, url in sorted(rows)[: args.worst]:
            print(f"  {f:.3f} / {tf:.3f}  P={p:.2f} R={r:.2f}  {pid}  {url[:70]}")


if __name__ == "__main__":
    main()
