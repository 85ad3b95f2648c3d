"""Change detection: is a second capture `changed` when the article changed, and only then?

For each development page (../shared/data/aeb), second versions are made
from the page and its ground truth, deterministically (a page's seed is
its id), in two families:

- chrome only (the article's text is the same): link lists outside the
  article rotated and one headline replaced; digits changed in the text
  outside the article (counters, dates, times); markup churn (every class
  replaced by a random hash, data attributes added, a script nonce); a
  consent banner inserted before the article; chrome inserted between the
  article's paragraphs (an ad slot, share counts, a newsletter box);
- article edits: a paragraph added at the end, a paragraph removed from
  the middle, one word changed, one number changed.

The article is the smallest element holding most of the ground truth's
paragraphs. Both versions of every variant are captured through
`Archive.capture` from a local server (the real path: WARC, cleaning,
catalog; the verdict is the catalog's), beside two peers judging the same
pairs: whole-page visible text differs, and plain trafilatura
(favor_precision, as it comes) text differs.

    python bench/changes.py                # every page
    python bench/changes.py --pages 40     # the first 40
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import lxml.html
import trafilatura
from lxml import etree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pageserver import serve_bodies  # noqa: E402
from quality import DATA, as_written, load  # noqa: E402

from archiver import Archive, FetchOptions, Verdict  # noqa: E402
from archiver.archive.diff import render_unified  # noqa: E402

CHROME = ["links rotated", "digits outside", "hashed classes", "hashes redrawn", "banner before", "chrome between"]
EDITS = ["paragraph added", "paragraph removed", "word changed", "number changed"]
BLOCKS = {"div", "article", "main", "section", "td", "body", "form", "span", "center"}
NUMBER = re.compile(r"\d+")


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _generated_name(rnd: random.Random) -> str:
    """A class name as CSS-in-JS and CSS modules generate them: emotion's
    css-1q2w3e, styled-components' sc-bdVaJa, a module's _3xX2a_ or a bare hash."""
    style = rnd.randrange(4)
    if style == 0:
        return "css-" + "".join(rnd.choice(_ALNUM[:26].lower() + "0123456789") for _ in range(6))
    if style == 1:
        return "sc-" + "".join(rnd.choice(_ALNUM[:52]) for _ in range(6))
    if style == 2:
        return "_" + "".join(rnd.choice(_ALNUM) for _ in range(5)) + "_"
    return "".join(rnd.choice("0123456789abcdef") for _ in range(8))


def _norm(text: str) -> str:
    return " ".join(text.split())


def article_element(tree: lxml.html.HtmlElement, truth: str) -> lxml.html.HtmlElement | None:
    """The smallest block element whose text holds 80% of the truth's paragraphs."""
    paras = [_norm(p)[:60] for p in truth.split("\n") if len(_norm(p)) >= 40]
    if not paras:
        return None
    best, best_len = None, None
    for el in tree.iter():
        if not isinstance(el.tag, str) or el.tag not in BLOCKS:
            continue
        text = _norm(el.text_content())
        found = sum(1 for p in paras if p in text)
        if found >= 0.8 * len(paras) and (best_len is None or len(text) < best_len):
            best, best_len = el, len(text)
    return best


def _inside(el: etree._Element, ancestor: etree._Element) -> bool:
    while el is not None:
        if el is ancestor:
            return True
        el = el.getparent()
    return False


def _article_paragraphs(art: lxml.html.HtmlElement, truth: str) -> list[lxml.html.HtmlElement]:
    text = _norm(truth)
    return [p for p in art.iter("p") if len(_norm(p.text_content())) >= 40 and _norm(p.text_content())[:50] in text]


# The chrome inserted, in the wording the rules were written beside ("dev") and in wording held out
# from them ("alt": other words, other markup, other languages), to see whether the rules hold for
# the family of chrome or only for these examples.
BANNERS = {
    "dev": '<div class="consent-banner" role="dialog"><p>We use cookies to improve your experience and to show'
           ' you personalised advertising. By continuing to browse you agree to our use of cookies.</p>'
           '<button>Accept all</button> <button>Manage settings</button></div>',
    "alt": '<div class="gdpr-layer"><div><strong>Ihre Privatsphäre ist uns wichtig</strong></div><div>Wir und unsere'
           ' Partner speichern Informationen auf Ihrem Gerät, etwa Cookies, und verarbeiten personenbezogene'
           ' Daten für Anzeigen und Analysen.</div><span>Zustimmen</span> <span>Einstellungen</span></div>',
}
BOXES = {
    "dev": ['<div class="ad-slot"><span>Advertisement</span></div>',
            '<div class="share-bar"><a href="#">Share</a> <span>1,204 shares</span> <a href="#">Tweet</a></div>',
            '<aside class="newsletter"><h4>Get our newsletter</h4><p>Sign up for the morning briefing,'
            ' delivered to your inbox every weekday.</p><button>Subscribe</button></aside>'],
    "alt": ['<div class="dfp-unit"><small>Publicidad</small></div>',
            '<div class="engagement"><span>87 comentários</span> <a href="#">Compartilhar</a></div>',
            '<div class="promo-box"><p>Don\'t miss a story: our free daily email brings you the top stories'
            ' each morning.</p><a href="/email">Join now</a></div>'],
}


def variant(html: str, truth: str, kind: str, rnd: random.Random, others: list[str], wording: str = "dev") -> str | None:
    """The page's second version of this kind, or None when the page has nothing to change that way."""
    tree = lxml.html.fromstring(html)
    art = article_element(tree, truth)
    if art is None:
        return None
    paras = _article_paragraphs(art, truth)
    if kind == "links rotated":
        lists = [ul for ul in tree.iter("ul", "ol", "nav") if not _inside(ul, art) and not _inside(art, ul)
                 and len(list(ul.iter("a"))) >= 3]
        if not lists:
            return None
        for ul in lists:
            items = [c for c in ul if isinstance(c.tag, str)]
            if len(items) >= 2:
                first = items[0]
                ul.remove(first)
                items[-1].addnext(first)
        links = list(lists[0].iter("a"))
        links[rnd.randrange(len(links))].text = rnd.choice(others)
    elif kind == "digits outside":
        def bump(value: str) -> str:
            return NUMBER.sub(lambda m: str((int(m.group()) + 7) % 10 ** len(m.group())).zfill(len(m.group())), value)

        # Outside the article: outside its element, and not in the ground truth either (the element
        # holds most of the article, and a page may keep some of it elsewhere, a caption or a footer).
        # The headline and the standfirst are the article's too, wherever the page prints them.
        heads = [_norm(t) for t in tree.xpath("//title/text() | //h1//text() | //meta[@property='og:title' or"
                                              " @name='description' or @property='og:description']/@content")]
        article_text = _norm(truth) + " " + " ".join(heads)

        def outside(el: etree._Element) -> bool:
            if _inside(el, art) or el.tag in ("title", "h1", "meta"):
                return False
            own = _norm(el.text_content())
            return len(own) < 15 or own not in article_text

        changed = False
        for el in tree.iter():
            if not isinstance(el.tag, str) or el.tag in ("script", "style"):
                continue
            if el.text and NUMBER.search(el.text) and outside(el):
                el.text, changed = bump(el.text), True
            parent = el.getparent()  # a tail is its parent's text
            if el.tail and parent is not None and NUMBER.search(el.tail) and outside(parent):
                el.tail, changed = bump(el.tail), True
        if not changed:
            return None
    elif kind in ("hashed classes", "hashes redrawn"):
        for el in tree.iter():
            if not isinstance(el.tag, str):
                continue
            if el.get("class") is not None or rnd.random() < 0.5:
                el.set("class", f"{el.get('class') or ''} {_generated_name(rnd)}".strip())
            el.set(f"data-v-{rnd.getrandbits(16):04x}", "")
            if el.tag == "script":
                el.set("nonce", f"{rnd.getrandbits(64):016x}")
    elif kind == "banner before":
        banner = lxml.html.fragment_fromstring(BANNERS[wording])
        art.addprevious(banner)
    elif kind == "chrome between":
        if len(paras) < 3:
            return None
        boxes = BOXES[wording]
        for i, box in enumerate(boxes):
            paras[(i + 1) * len(paras) // 4].addnext(lxml.html.fragment_fromstring(box))
    elif kind == "paragraph added":
        if not paras:
            return None
        new = lxml.html.fragment_fromstring(
            "<p>Update: this article was amended after publication to correct the figures given for the second"
            " quarter and to add a response from the ministry, which disputes the findings.</p>")
        # At the end of the article's body: after the last paragraph of the element holding most of
        # them (the last paragraph of all may sit in a box of its own, a disclaimer or a credit line).
        parents: dict[etree._Element, int] = defaultdict(int)
        for para in paras:
            parents[para.getparent()] += 1
        body = max(parents, key=lambda el: parents[el])
        [p for p in paras if p.getparent() is body][-1].addnext(new)
    elif kind == "paragraph removed":
        if len(paras) < 3:
            return None
        victim = paras[len(paras) // 2]
        tail = victim.tail
        parent = victim.getparent()
        prev = victim.getprevious()
        parent.remove(victim)
        if tail:  # keep the text that followed it
            if prev is not None:
                prev.tail = (prev.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail
    elif kind == "word changed":
        candidates = [(p, w) for p in paras for w in re.findall(r"\b[a-zA-Z]{6,}\b", p.text or "")]
        if not candidates:
            return None
        p, word = candidates[rnd.randrange(len(candidates))]
        p.text = p.text.replace(word, "differently", 1)
    elif kind == "number changed":
        candidates = [p for p in paras if p.text and NUMBER.search(p.text)]
        if not candidates:
            return None
        p = candidates[rnd.randrange(len(candidates))]
        p.text = NUMBER.sub(lambda m: str(int(m.group()) + 1), p.text, count=1)
    else:
        raise ValueError(kind)
    return lxml.html.tostring(tree, encoding="unicode", doctype="<!DOCTYPE html>")


def visible_text(html: str) -> str:
    tree = lxml.html.fromstring(html)
    for bad in tree.xpath("//script|//style|//noscript"):
        bad.drop_tree()
    return _norm(tree.text_content())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--pages", type=int, default=0, help="only the first N pages (0: all)")
    ap.add_argument("--show", action="append", default=[], metavar="KIND",
                    help="print the diff of each pair of this kind that archiver got wrong (repeatable)")
    ap.add_argument("--kinds", default="", help="only these kinds, comma-separated")
    ap.add_argument("--wording", choices=sorted(BANNERS), default="dev",
                    help="the chrome's wording: the one the rules were written beside, or one held out from them")
    args = ap.parse_args()
    pages = load(args.data)
    if args.pages:
        pages = pages[: args.pages]
    titles = [t.split("\n")[0][:80] for *_, t in pages]
    kinds = [k for k in CHROME + EDITS if not args.kinds or k in args.kinds.split(",")]
    pairs: list[tuple[str, str, str, str]] = []  # (page id, kind, first, second)
    skipped: dict[str, int] = defaultdict(int)
    for pid, _url, html, truth in pages:
        for kind in kinds:
            rnd = random.Random(f"{pid}:{kind}")
            try:
                second = variant(html, truth, kind, rnd, titles, args.wording)
            except (ValueError, etree.ParserError):
                second = None
            if second is None:
                skipped[kind] += 1
                continue
            if kind == "hashes redrawn":
                # A site whose class names are generated: each deploy hashes them anew. Both versions
                # are churned, with other hashes (the original names would compare a redesign instead).
                first = variant(html, truth, kind, random.Random(f"{pid}:{kind}:earlier"), titles)
            else:
                # The first version goes through the same serialisation, so only the change differs.
                first = lxml.html.tostring(lxml.html.fromstring(html), encoding="unicode", doctype="<!DOCTYPE html>")
            assert first is not None
            pairs.append((pid, kind, first, second))
    print(f"{len(pages)} pages, {len(pairs)} pairs ({', '.join(f'{k}: {n} pages without one' for k, n in skipped.items()) or 'none skipped'})")

    # Each page is its own site (its own loopback address), and each kind of second version goes to an
    # archive of its own: the variants of one page share its article, and an archive holding them side
    # by side would learn that article as the site's template.
    page_ids = sorted({p[0] for p in pairs})
    host_of_page = {pid: n for n, pid in enumerate(page_ids)}
    bodies = [p[2].encode() for p in pairs]
    servers = serve_bodies(bodies, hosts=len(page_ids))
    urls = [f"http://127.0.0.{host_of_page[pid] + 1}:{servers[host_of_page[pid]].server_address[1]}/p/{i}"
            for i, (pid, *_) in enumerate(pairs)]
    work = Path(tempfile.mkdtemp(prefix="bench-changes-"))
    t0 = time.perf_counter()
    ours: dict[str, Verdict] = {}
    try:
        for kind in kinds:
            mine = [urls[i] for i, p in enumerate(pairs) if p[1] == kind]
            if not mine:
                continue
            archive = Archive(work / kind.replace(" ", "-"),
                              fetch_options=FetchOptions(host_delay=0, retries=0, concurrency=16, per_host=2))
            archive.capture(mine)
            for i, p in enumerate(pairs):
                if p[1] == kind:
                    bodies[i] = p[3].encode()
            for c in archive.capture(mine):
                ours[c.url] = c.verdict
            if kind in args.show:
                wrong = Verdict.CHANGED if kind in CHROME else Verdict.UNCHANGED
                for url in mine:
                    if ours[url] is wrong or (kind in EDITS and ours[url] is not Verdict.CHANGED):
                        print(f"--- {kind}: {url} ({ours[url].value}; page {pairs[urls.index(url)][0][:12]})")
                        for c in archive.history(url):
                            print(f"    {c.timestamp} {c.verdict.value} {c.word_count} {c.text_sha256 and c.text_sha256[:12]}"
                                  f" {c.reason or ''}")
                        try:
                            print(render_unified(archive.diff(url))[:3000])
                        except Exception as exc:  # noqa: BLE001 - a bench's look at its misses
                            print(f"(no diff: {exc})")
    finally:
        for server in servers:
            server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    plain = as_written(lambda h: trafilatura.extract(h, favor_precision=True, include_comments=False) or "")
    judges: dict[str, Callable[[int, str, str], bool]] = {
        "whole-page visible text": lambda i, a, b: visible_text(a) != visible_text(b),
        "plain trafilatura (favor_precision)": lambda i, a, b: plain(a) != plain(b),
        "archiver (verdict)": lambda i, a, b: ours[urls[i]] is Verdict.CHANGED,
    }
    results: dict[str, dict[str, list[bool]]] = {name: defaultdict(list) for name in judges}
    for i, (_, kind, first, second) in enumerate(pairs):
        for name, judge in judges.items():
            results[name][kind].append(judge(i, first, second))
    print(f"captured {2 * len(pairs)} times in {elapsed:.1f} s\n")
    header = f"{'second version':<22}" + "".join(f"{name:>38}" for name in judges)
    tables = (("judged changed (chrome only: false changes; lower is better)", CHROME, "all chrome-only", True),
              ("\nmissed (article edits judged unchanged; lower is better)", EDITS, "all article edits", False))
    for caption, kinds_of, total, count_changed in tables:
        print(caption)
        print(header)
        for kind in kinds_of + [total]:
            row = f"{kind:<22}"
            for name in judges:
                vals = [v for k in (kinds_of if kind == total else [kind]) for v in results[name][k]]
                hits = sum(vals) if count_changed else len(vals) - sum(vals)
                row += f"{(100 * hits / len(vals) if vals else 0):>36.1f} %"
            print(row)
    print("\n(archiver's column: the second capture's verdict in the catalog; a verdict other than"
          " changed/unchanged, an error, counts as not changed)")


if __name__ == "__main__":
    main()
