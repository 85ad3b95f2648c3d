"""Error stubs and bot walls: how many of a corpus of families are flagged,
and how many articles are wrongly flagged, with the rule files alone (the
named families) and with detection by signal (archiver/cleaning/stubs.py), same run.

The corpus is the tests' own (tests/fixtures/stubs/corpus.py: stubs of 45
families in fourteen languages, and articles that quote error messages);
false positives are also counted on the 131 aeb article pages.

    python bench/stubs.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "stubs"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import CORPUS, HELD_OUT  # noqa: E402
from quality import DATA, load  # noqa: E402

from archiver import CleanOptions  # noqa: E402
from archiver.cleaning.snapshot import clean_page  # noqa: E402


def verdict(html: str, headers: dict[str, str], options: CleanOptions) -> str:
    snap = clean_page(html, "https://www.example.org/some/page", options=options, status_code=200,
                      headers=list(headers.items()))
    if snap.status == "error_stub":
        return snap.error_kind or "error"
    return "ok" if snap.status == "ok" else snap.status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--misses", action="store_true", help="list what each mode gets wrong")
    args = ap.parse_args()
    articles = load(args.data) if (args.data / "ground-truth.json").exists() else []
    modes = {"rule files only": CleanOptions(stub_signals=False), "rules + signals": CleanOptions()}
    stubs = [c for c in CORPUS if c[1] != "ok"]
    oks = [c for c in CORPUS if c[1] == "ok"]
    print(f"corpus: {len(stubs)} stubs and walls, {len(oks)} articles that quote errors; {len(articles)} aeb articles\n")
    print(f"{'mode':<18}{'stubs flagged':>15}{'recall':>8}{'right kind':>12}{'corpus FP':>11}{'aeb FP':>8}{'precision':>11}")
    for name, options in modes.items():
        got = [(c, verdict(c[2], c[3], options)) for c in CORPUS]
        flagged = [(c, v) for c, v in got if c[1] != "ok" and v in ("error", "wall")]
        kind = sum(1 for c, v in flagged if v == c[1])
        corpus_fp = [(c, v) for c, v in got if c[1] == "ok" and v != "ok"]
        aeb_fp = [pid for pid, url, html, _ in articles
                  if clean_page(html, url or None, options=options, status_code=200).status == "error_stub"]
        true_pos = len(flagged)
        precision = true_pos / (true_pos + len(corpus_fp) + len(aeb_fp)) if true_pos else 0.0
        print(f"{name:<18}{true_pos:>9}/{len(stubs):<5}{true_pos / len(stubs):>8.2f}{kind:>8}/{true_pos:<3}"
              f"{len(corpus_fp):>11}{len(aeb_fp):>8}{precision:>11.3f}")
        held = [(c, verdict(c[2], c[3], options)) for c in HELD_OUT]
        held_hit = sum(1 for c, v in held if v in ("error", "wall"))
        print(f"{'':<18}held-out stubs (written after the detector was frozen): {held_hit}/{len(held)}"
              f" flagged, {sum(1 for c, v in held if v == c[1])} of the right kind")
        if args.misses:
            for c, v in held:
                if v != c[1]:
                    print(f"    held out {c[0]}: expected {c[1]}, got {v}")
            for c, v in got:
                if (c[1] == "ok") != (v == "ok") or (c[1] != "ok" and v != c[1]):
                    print(f"    {c[0]}: expected {c[1]}, got {v}")


if __name__ == "__main__":
    main()
