"""Search on a big catalog, with hostile queries: archiver's search beside
SQLite FTS5 given the query's words as typed (what archiver did before it
folded repeated words), on bench/store.py's synthetic archive (default
100,000 captures: 10,000 URLs x 10, one current text each).

Each query is timed over several runs (median); the FTS5 peer is stopped at
--cap seconds (SQLite's progress handler), so a quadratic query costs the
bench that long and no more. Target (#27): a 3 KB repeated-word query
answers or is refused within 2 s.

    python bench/search.py
    python bench/search.py --captures 20000 --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from store import WORDS, synthetic_archive  # noqa: E402

from archiver import Archive  # noqa: E402
from archiver.errors import StoreError  # noqa: E402
from archiver.archive.catalog import Catalog  # noqa: E402


def fts_as_typed(catalog: Catalog, query: str, limit: int, cap: float) -> str:
    """FTS5 MATCH of every word as given (quoted), ranked: the query archiver ran before."""
    match = " ".join('"' + w.replace('"', '""') + '"' for w in query.split())
    deadline = time.perf_counter() + cap
    catalog.db.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)
    try:
        rows = catalog.db.execute("SELECT rowid FROM search WHERE search MATCH ? ORDER BY bm25(search) LIMIT ?",
                                  (match, limit)).fetchall()
        return f"{len(rows)} hits"
    except Exception as exc:
        return "stopped at the cap" if time.perf_counter() > deadline else f"error: {exc}"
    finally:
        catalog.db.set_progress_handler(None, 0)


def timed(fn, runs: int) -> tuple[float, str]:
    times, said = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        try:
            said = fn()
        except StoreError as exc:
            said = f"refused: {exc}"
        times.append(time.perf_counter() - t0)
    return statistics.median(times), said


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cap", type=float, default=30.0, help="seconds the FTS5 peer may take per query")
    args = ap.parse_args()
    word = WORDS[0]
    queries = {
        f"'{word}'": word,
        f"'{word}' x 500 (3 KB)": " ".join([word] * 500),
        f"{len(WORDS)} different words": " ".join(WORDS),
        "4 words, each x 100": " ".join(WORDS[:4] * 100),
    }
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        t0 = time.perf_counter()
        synthetic_archive(work, args.captures)
        print(f"{args.captures:,} synthetic captures built in {time.perf_counter() - t0:.1f} s\n")
        archive = Archive(work)
        catalog = Catalog(work / "catalog.sqlite", readonly=True)
        print(f"{'query':<26}{'archiver.search':>18}  {'':<34}{'FTS5 as typed':>16}  result")
        for name, q in queries.items():
            ours, said = timed(lambda: f"{len(archive.search(q, 20))} hits", args.runs)
            peer, peer_said = timed(lambda: fts_as_typed(catalog, q, 20, args.cap), 1 if len(q) > 200 else args.runs)
            print(f"{name:<26}{ours * 1000:>15.1f} ms  {said[:34]:<34}{peer * 1000:>13.1f} ms  {peer_said}")
        catalog.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
