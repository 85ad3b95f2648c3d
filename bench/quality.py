"""Cleaning quality on ../shared/data/aeb: archiver.clean vs plain trafilatura.

The metric is the benchmark's own (see its README): 4-token shingles of
`\\w+` tokens, per-page precision and recall averaged over pages, F1 of the
averages. All extractors run on the same pages in the same run.

    python bench/quality.py                  # the table
    python bench/quality.py --worst 10       # archiver's ten worst pages
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import trafilatura

import archiver

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "aeb"
TOKEN = re.compile(r"\w+")


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(text or "")
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


EXTRACTORS = {
    "archiver.clean": lambda html, url: archiver.clean(html, url or None).text,
    "trafilatura favor_precision": lambda html, url: trafilatura.extract(
        html, url=url or None, favor_precision=True, include_comments=False) or "",
    "trafilatura defaults": lambda html, url: trafilatura.extract(html, url=url or None) or "",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--worst", type=int, default=0, help="list archiver's N worst pages")
    args = ap.parse_args()
    if not (args.data / "ground-truth.json").exists():
        sys.exit(f"no benchmark data at {args.data}")
    pages = load(args.data)
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
