"""The pages the web-interface tests capture: a ferry article that changes,
turns into an error stub and changes back."""

from __future__ import annotations

LONG = " ".join(f"Sentence {i} of the council's report on the river ferry, its costs and its future." for i in range(30))


def page(title: str, body: str = LONG, extra: str = "") -> bytes:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1><p>{body}</p>"
            f"<p>The ferry will run until the bridge opens, the council said on Tuesday.</p>{extra}</article>"
            "</body></html>").encode()


# new -> changed -> error stub -> changed back
FERRY = [page("Ferry to keep running"),
         page("Ferry to keep running", LONG.replace("Sentence 20 of", "Sentence 20, amended, of")),
         b"<html><head><title>Error</title></head><body><h1>Error</h1><p>The website encountered an"
         b" unexpected error. Please try again later.</p></body></html>",
         page("Ferry to keep running for now", LONG.replace("Sentence 5 of", "Sentence five of"))]


def captured_ferry(archive, site, clock, versions: int = 2) -> str:
    """The first `versions` of FERRY served by `site` and captured six hours
    apart into `archive`; the page's URL."""
    url = site.url("/page/ferry")
    for body in FERRY[:versions]:
        clock.advance(hours=6)
        site.state.pages["/page/ferry"] = body
        archive.capture([url])
    return url
