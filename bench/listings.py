"""Reading sitemaps and feeds: archiver's readers (cleaning/listings.py:
lxml for sitemaps, trafilatura's feed reader for feeds) against trafilatura's
own sitemap reader (regular expressions over the text), on the same
documents in the same run: speed, what each finds, and hostile input.

    python bench/listings.py
"""

from __future__ import annotations

import gzip
import statistics
import time

from archiver.cleaning.listings import listed_links

BASE = "https://news.example.org"


def sitemap(n: int) -> bytes:
    rows = "".join(f"<url><loc>{BASE}/a/{i}.html</loc><lastmod>2026-11-{1 + i % 28:02d}</lastmod></url>"
                   for i in range(n))
    return f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>'.encode()


def trafilatura_sitemap(data: bytes) -> list[str]:
    from trafilatura.sitemaps import SitemapObject

    from courlan import extract_domain

    obj = SitemapObject(BASE, extract_domain(BASE, fast=True) or "", [])
    obj.current_url = f"{BASE}/sitemap.xml"
    obj.content = data.decode("utf-8", "replace")
    obj.extract_sitemap_links()
    return obj.urls


def timed(fn, data, repeats: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(data)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times), out


def main() -> None:
    big = sitemap(50_000)
    print(f"a 50,000-URL sitemap ({len(big) / 1e6:.1f} MB):")
    ms, ours = timed(lambda d: listed_links(d, "application/xml", f"{BASE}/sitemap.xml"), big)
    print(f"  archiver (lxml)        {ms:8.1f} ms  {len(ours):,} URLs, lastmod kept: {all(x.lastmod for x in ours)}")
    ms, theirs = timed(trafilatura_sitemap, big)
    print(f"  trafilatura (regexes)  {ms:8.1f} ms  {len(theirs):,} URLs, lastmod kept: False")
    print("hostile input:")
    xxe = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
           b'<urlset><url><loc>https://news.example.org/&x;</loc></url></urlset>')
    print(f"  external entity: archiver {[x.url for x in listed_links(xxe, None, BASE + '/s.xml')]},"
          f" trafilatura {trafilatura_sitemap(xxe)}")
    bomb = gzip.compress(b"<urlset>" + b" " * 200_000_000 + b"</urlset>")
    t = time.perf_counter()
    listed_links(bomb, "application/gzip", BASE + "/s.xml.gz")
    print(f"  a 200 MB gzip bomb ({len(bomb) / 1e3:.0f} kB): archiver stops at 50 MB in"
          f" {1000 * (time.perf_counter() - t):.0f} ms (trafilatura's reader takes text a caller decompressed)")


if __name__ == "__main__":
    main()
