"""The archive's costs: bytes per recapture, and read latency at scale.

1. Bytes a recapture adds to the archive (WARC, snapshot files, catalog),
   for a ~40 KB page served from a local server: the same bytes again (a
   revisit), new bytes with the same clean text (an ad changed), and a real
   change. Target: unchanged under 2 KB plus the response headers.
2. `history`, `show`, `search`, `diff` latency (median of repeated calls,
   through the Python API the CLI calls) on a catalog of N synthetic
   captures (default 100,000: 10,000 URLs x 10 captures, 3 distinct texts
   each; --cjk-share of the URLs in Chinese). Target: under 100 ms each.
3. What the Chinese/Japanese/Korean pair index adds to the catalog, beside
   an FTS5 trigram index of the same pages.

    python bench/store.py
    python bench/store.py --captures 20000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from siteserver import SiteServer  # noqa: E402

from archiver import Archive, FetchOptions, Verdict  # noqa: E402
from archiver.models import Capture  # noqa: E402
from archiver.archive.catalog import Catalog  # noqa: E402

WORDS = "river ferry council budget archive record bridge library harbor report vote weather".split()
# Two-character "words" over 600 Han characters: 3,000 of them, Zipf-ish in
# use below, so a word is on some pages and not others, as in real text.
_HAN = [chr(0x4E00 + 11 * i) for i in range(600)]
ZH_WORDS = [a + b for a, b in zip(random.Random(5).choices(_HAN, k=3000), random.Random(6).choices(_HAN, k=3000))]
_ZH_WEIGHTS = [1 / (i + 1) for i in range(len(ZH_WORDS))]


def article(seed: int, ad: int, words: int = 6000) -> bytes:
    rnd = random.Random(seed)
    paras = "".join("<p>" + " ".join(rnd.choice(WORDS) for _ in range(60)) + ".</p>" for _ in range(words // 60))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Story {seed}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>Story {seed}</h1>{paras}</article>"
            f"<div class='advertisement'>ad #{ad}</div></body></html>").encode()


def sizes(arch: Path) -> dict[str, int]:
    warc = sum(p.stat().st_size for p in (arch / "warc").glob("*.warc.gz"))
    texts = sum(p.stat().st_size for p in (arch / "texts").rglob("*.json")) if (arch / "texts").exists() else 0
    cat = Catalog(arch / "catalog.sqlite")
    cat.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cat.close()
    catalog = (arch / "catalog.sqlite").stat().st_size
    return {"warc": warc, "texts": texts, "catalog": catalog}


def breakdown(arch: Path, url: str) -> list[tuple[str, int]]:
    """Sizes of the records in the newest WARC file: this URL's, and the run's own."""
    from warcio.archiveiterator import ArchiveIterator

    newest = sorted((arch / "warc").glob("*.warc.gz"))[-1]
    rows, page_total, run_total = [], 0, 0
    with open(newest, "rb") as f:
        it = ArchiveIterator(f)
        for record in it:
            it.read_to_end(record)
            size = it.get_record_length()
            target = record.rec_headers.get_header("WARC-Target-URI") or ""
            mine = target == url
            rows.append((f"{record.rec_type} ({'this page' if mine else 'once per run: ' + (target.rsplit('/', 1)[-1] or 'file header')})", size))
            page_total += size if mine else 0
            run_total += 0 if mine else size
    rows.append(("= per capture of this page", page_total))
    rows.append(("= per run (file header, robots.txt)", run_total))
    return rows


def recapture_costs() -> None:
    server = SiteServer().start()
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    clock_now = [datetime(2026, 1, 1)]

    def clock() -> datetime:
        clock_now[0] += timedelta(microseconds=1)
        return clock_now[0]

    try:
        url = server.url("/page/story")
        archive = Archive(work / "arch", fetch_options=FetchOptions(host_delay=0), clock=clock)
        steps = [("first capture", article(1, 1)), ("same bytes again", article(1, 1)),
                 ("new bytes, same text (ad changed)", article(1, 2)), ("text changed", article(2, 2))]
        print(f"page: {len(steps[0][1]) / 1000:.0f} KB of HTML\n")
        print(f"{'recapture':<36}{'verdict':>10}{'WARC B':>9}{'texts B':>9}{'catalog B':>11}{'total B':>9}")
        before = None
        for name, body in steps:
            server.state.pages["/page/story"] = body
            clock_now[0] += timedelta(hours=1)
            [c] = archive.capture([url])
            now = sizes(work / "arch")
            if before is not None:
                d = {k: now[k] - before[k] for k in now}
                print(f"{name:<36}{c.verdict.value:>10}{d['warc']:>9}{d['texts']:>9}{d['catalog']:>11}{sum(d.values()):>9}")
            else:
                print(f"{name:<36}{c.verdict.value:>10}{now['warc']:>9}{now['texts']:>9}{now['catalog']:>11}{sum(now.values()):>9}")
            before = now
            if name == "same bytes again":
                revisit_breakdown = breakdown(work / "arch", url)
        print("\n(the catalog grows in 4 KB SQLite pages, so a single capture shows 0 or 4096)")
        print("\n'same bytes again', record by record (gzip bytes in the WARC):")
        for label, size in revisit_breakdown:
            print(f"  {label:<48}{size:>6}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def synthetic_text(rnd: random.Random, u: int, version: int, chinese: bool) -> str:
    if chinese:
        return "\n\n".join("".join(rnd.choices(ZH_WORDS, _ZH_WEIGHTS, k=60)) + f"。第{u}篇{version}" for _ in range(8))
    return "\n\n".join(" ".join(rnd.choice(WORDS) for _ in range(40)) + f" story{u} v{version}." for _ in range(8))


def synthetic_archive(path: Path, n: int, per_url: int = 10, texts_per_url: int = 3,
                      cjk_share: float = 0.0) -> dict[str, str]:
    """url -> its first capture's timestamp. `cjk_share` of the URLs are in Chinese."""
    catalog = Catalog(path / "catalog.sqlite")
    urls = [f"https://news{u % 50}.example.org/story/{u}" for u in range(n // per_url)]
    first: dict[str, str] = {}
    rnd = random.Random(1)
    start = datetime(2024, 1, 1)
    with catalog.transaction():
        for u, url in enumerate(urls):
            prev = None
            for k in range(per_url):
                when = start + timedelta(hours=6 * k, seconds=u)
                ts = when.strftime("%Y%m%d%H%M%S")
                first.setdefault(url, ts)
                version = min(k * texts_per_url // per_url, texts_per_url - 1)
                text = synthetic_text(rnd, u, version, (u * 7919) % 100 < cjk_share * 100)
                sha = hashlib.sha256(f"{u}-{version}".encode()).hexdigest()
                rel = f"texts/{sha[:2]}/{sha}.json"
                if catalog.text_path(sha) is None:
                    # plain writes: fsync per file (as the archive does) would make set-up take minutes
                    (path / rel).parent.mkdir(parents=True, exist_ok=True)
                    (path / rel).write_text(json.dumps({"title": f"Story {u}", "text": text, "authors": [], "word_count": 320}))
                    catalog.add_text(sha, rel, title=f"Story {u}", word_count=320, url=url, timestamp=ts)
                verdict = Verdict.NEW if prev is None else (Verdict.UNCHANGED if prev == sha else Verdict.CHANGED)
                cap = Capture(url=url, final_url=url, status_code=200, verdict=verdict, timestamp=ts,
                              captured_at=when.isoformat() + "Z", title=f"Story {u}", word_count=320,
                              text_sha256=sha, snapshot_file=rel, warc_file="warc/x.warc.gz")
                catalog.add_capture(cap, record_id=None)
                if verdict is not Verdict.UNCHANGED:
                    catalog.set_current(url, sha256=sha, timestamp=ts, title=f"Story {u}", text=text)
                prev = sha
    catalog.close()
    return first


def _db_bytes(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("VACUUM")
    conn.close()
    return db.stat().st_size


def cjk_index_costs(work: Path) -> None:
    """What the pair index (search_cjk) adds to the catalog, beside an FTS5
    trigram index of the same pages as the peer (which cannot find a
    two-character word: its terms are three characters)."""
    import sqlite3

    db = work / "catalog.sqlite"
    base = work / "without.sqlite"
    shutil.copy(db, base)
    conn = sqlite3.connect(base)
    conn.execute("DROP TABLE search_cjk")
    conn.commit()
    conn.close()
    full, without = _db_bytes(db), _db_bytes(base)
    tri = work / "trigram.sqlite"
    shutil.copy(base, tri)
    conn = sqlite3.connect(tri)
    conn.execute("CREATE VIRTUAL TABLE search_tri USING fts5(title, text, tokenize = 'trigram')")
    conn.execute("INSERT INTO search_tri (rowid, title, text) SELECT rowid, title, text FROM search"
                 " WHERE text GLOB '*[一-鿿]*'")
    conn.commit()
    pages = conn.execute("SELECT count(*) FROM search_tri").fetchone()[0]
    rnd = random.Random(3)
    queries = [rnd.choices(ZH_WORDS, _ZH_WEIGHTS)[0] for _ in range(50)]

    def timed(db_path: Path, sql: str, make: Any) -> tuple[float, float, float]:
        c = sqlite3.connect(db_path)
        times, hits = [], []
        for q in queries:
            t = time.perf_counter()
            hits.append(c.execute(sql, (make(q),)).fetchone()[0])
            times.append(1000 * (time.perf_counter() - t))
        c.close()
        times.sort()
        return statistics.median(times), times[int(len(times) * 0.95)], statistics.mean(hits)

    conn.close()
    pairs_2 = timed(db, "SELECT count(*) FROM search_cjk WHERE search_cjk MATCH ?", lambda q: f'"{q}"')
    tri_3 = timed(tri, "SELECT count(*) FROM search_tri WHERE search_tri MATCH ?", lambda q: f'"{q}{q[0]}"')
    # (LIKE on a trigram table finds nothing for two characters in SQLite 3.40: a plain scan instead)
    tri_2 = timed(tri, "SELECT count(*) FROM search_tri WHERE instr(text, ?) > 0", lambda q: q)
    conn.close()
    trigram = _db_bytes(tri)
    print(f"\nCJK index, {pages:,} current pages in Chinese:")
    print(f"{'index':<44}{'adds to catalog':>16}{'2-char word?':>14}")
    print(f"{'archiver search_cjk (character pairs)':<44}{(full - without) / 1e6:>13.1f} MB{'yes':>14}")
    print(f"{'FTS5 trigram (peer)':<44}{(trigram - without) / 1e6:>13.1f} MB{'no (scan)':>14}")
    print(f"catalog without either: {without / 1e6:.1f} MB")
    print(f"{'every match of a query (count)':<44}{'median ms':>11}{'p95 ms':>9}{'pages':>8}")
    for name, (med, p95, hits) in (("pairs: 2-char word, MATCH", pairs_2), ("trigram: 3 chars, MATCH", tri_3),
                                   ("trigram table: 2-char word, scan", tri_2)):
        print(f"{name:<44}{med:>11.2f}{p95:>9.2f}{hits:>8.1f}")


def latency(n: int, cjk_share: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        t0 = time.perf_counter()
        first = synthetic_archive(work, n, cjk_share=cjk_share)
        urls = list(first)
        print(f"\n{n:,} synthetic captures of {len(urls):,} URLs ({cjk_share:.0%} in Chinese)"
              f" built in {time.perf_counter() - t0:.1f} s")
        archive = Archive(work)
        rnd = random.Random(2)
        calls = {
            "history": lambda: archive.history(rnd.choice(urls)),
            "show": lambda: archive.show(rnd.choice(urls)),
            "show --at (prefix)": lambda: (lambda u: archive.show(u, first[u][:12]))(rnd.choice(urls)),
            "search": lambda: archive.search(rnd.choice(WORDS) + " " + rnd.choice(WORDS), 20),
            "search (2-char zh)": lambda: archive.search(rnd.choice(ZH_WORDS), 20),
            "search (zh + zh)": lambda: archive.search(rnd.choice(ZH_WORDS) + " " + rnd.choice(ZH_WORDS), 20),
            "diff": lambda: archive.diff(rnd.choice(urls)),
        }
        print(f"{'call':<22}{'median ms':>11}{'p95 ms':>9}")
        for name, fn in calls.items():
            times = []
            for _ in range(50):
                t = time.perf_counter()
                fn()
                times.append(1000 * (time.perf_counter() - t))
            times.sort()
            print(f"{name:<22}{statistics.median(times):>11.2f}{times[int(len(times) * 0.95)]:>9.2f}")
        if cjk_share:
            cjk_index_costs(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", type=int, default=100_000)
    ap.add_argument("--cjk-share", type=float, default=0.2, help="share of the URLs whose pages are in Chinese")
    ap.add_argument("--skip-recapture", action="store_true", help="only the latency and index figures")
    args = ap.parse_args()
    if not args.skip_recapture:
        recapture_costs()
    latency(args.captures, args.cjk_share)


if __name__ == "__main__":
    main()
