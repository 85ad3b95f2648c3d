"""The private-network policy: a URL typed may be private; a public page may
not lead archiver (by a redirect, or a browser sub-request) to a private,
loopback or link-local address; the web interface captures public
addresses only unless started with --allow-private.

Two loopback servers stand in for the two sides: 127.0.0.2 is declared
public (NetworkPolicy.public), 127.0.0.1 stays private."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from siteserver import SiteServer, article
from starlette.testclient import TestClient
from warcutil import read_all

from archiver import Archive, FetchOptions, Verdict
from archiver.config import BrowserOptions
from archiver.capture.netpolicy import Origin, PrivateAddress
from archiver.config import NetworkPolicy
from archiver.web.app import create_app

TOKEN = "a-token-of-at-least-16-characters"


@pytest.fixture
def public_site():
    server = SiteServer(host="127.0.0.2").start()
    yield server
    server.stop()


@pytest.fixture
def private_site():
    server = SiteServer(host="127.0.0.1").start()
    server.state.pages["/page/secret"] = article("Internal only", "The quarterly numbers nobody outside may read.")
    yield server
    server.stop()


def options(**kw) -> FetchOptions:
    return FetchOptions(host_delay=0, retries=0, network=NetworkPolicy(public=("127.0.0.2/32",), **kw))


@pytest.mark.parametrize("address,private", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("172.16.5.4", True), ("169.254.169.254", True),
    ("100.64.0.1", True), ("::1", True), ("fe80::1", True), ("fc00::1", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", True), ("224.0.0.1", True), ("93.184.216.34", False), ("2606:4700::1111", False),
])
def test_private_addresses(address, private):
    assert NetworkPolicy().is_private(address) is private


def test_the_policy_modes():
    typed = Origin(NetworkPolicy())
    typed.admit("http://intranet/", "10.0.0.5", first=True)  # typed: may be private
    typed.admit("http://intranet/b", "10.0.0.6", first=False)  # and stay there
    public = Origin(NetworkPolicy())
    public.admit("http://example.org/", "93.184.216.34", first=True)
    with pytest.raises(PrivateAddress, match="reached from a public one"):
        public.admit("http://127.0.0.1/", "127.0.0.1", first=False)
    server = Origin(NetworkPolicy("public"))
    with pytest.raises(PrivateAddress, match="--allow-private"):
        server.admit("http://10.0.0.5/", "10.0.0.5", first=True)
    Origin(NetworkPolicy("any")).admit("http://10.0.0.5/", "10.0.0.5", first=False)


@pytest.mark.parametrize("how", ["address", "name"])
def test_a_public_page_that_redirects_to_a_private_address_is_blocked(public_site, private_site, tmp_path, how):
    """A public page redirecting to http://127.0.0.1:PORT/secret was
    followed and archived. Names count by what they resolve to."""
    host = "127.0.0.1" if how == "address" else "localhost"
    public_site.state.redirects["/goto/inside"] = f"http://{host}:{private_site.server_port}/page/secret"
    url = public_site.url("/goto/inside")
    archive = Archive(tmp_path / "arch", fetch_options=options(), workers=0)
    [c] = archive.capture([url])
    assert c.verdict is Verdict.BLOCKED and "private address (127.0.0.1)" in c.reason, c.reason
    assert "reached from a public one" in c.reason
    assert private_site.state.hits == {}  # not even its robots.txt was asked for
    records = read_all(tmp_path / "arch")
    responses = [r for r in records if r.type == "response" and not r.h("WARC-Target-URI").endswith("robots.txt")]
    assert [r.http_status for r in responses] == ["302"]  # the redirect is the evidence
    assert not any(b"quarterly" in r.content for r in records)


def test_a_private_url_typed_on_the_command_line_is_captured_with_its_private_redirects(private_site, tmp_path):
    private_site.state.redirects["/goto/next"] = private_site.url("/page/secret")
    archive = Archive(tmp_path / "arch", fetch_options=options(), workers=0)
    [c] = archive.capture([private_site.url("/goto/next")])
    assert c.verdict is Verdict.NEW and c.title == "Internal only"


def test_the_web_interface_captures_public_addresses_only_unless_allowed(private_site, public_site, tmp_path):
    archive = Archive(tmp_path / "arch", fetch_options=options(), workers=0)
    public_site.state.pages["/page/open"] = article("Open", "A public page about the ferry timetable.")
    archive.capture([public_site.url("/page/open")])
    secret = private_site.url("/page/secret")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(archive, token=TOKEN, allowed_hosts=("testserver",))) as c:
        r = c.post("/api/captures", json={"urls": [secret]}, headers=auth)
        assert r.status_code == 400 and "private address" in r.json()["error"] and "--allow-private" in r.json()["error"]
        r = c.post("/api/watches", json={"url": secret, "every": "1h"}, headers=auth)
        assert r.status_code == 400 and "private address" in r.json()["error"]
        # A public page that redirects inside is blocked, its redirect kept.
        public_site.state.redirects["/goto/in"] = secret
        r = c.post("/api/captures", json={"urls": [public_site.url("/goto/in")], "wait": True}, headers=auth)
        assert r.status_code == 200 and r.json()[0]["verdict"] == "blocked"
        assert r.status_code == 200 and c.post("/api/captures", json={"urls": [public_site.url("/page/open")], "wait": True},
                                               headers=auth).json()[0]["verdict"] == "unchanged"
    assert private_site.state.hits == {}
    with TestClient(create_app(archive, token=TOKEN, allowed_hosts=("testserver",), allow_private=True)) as c:
        r = c.post("/api/captures", json={"urls": [secret], "wait": True}, headers=auth)
        assert r.status_code == 200 and r.json()[0]["verdict"] == "new"


def test_serve_takes_allow_private():
    from archiver.cli import cli

    res = CliRunner().invoke(cli, ["serve", "--help"])
    assert "--allow-private" in res.output and "--allowed-host" in res.output


def test_a_browser_capture_refuses_private_sub_requests_of_a_public_page(public_site, private_site, tmp_path):
    pytest.importorskip("playwright")
    from chromium import CHROMIUM

    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    inside = private_site.url("/page/secret")
    public_site.state.pages["/page/reaching"] = (
        "<html><head><title>Reaching in</title></head><body><article><h1>Reaching in</h1>"
        "<p>A public page whose script asks an internal address for its data, which must never be archived.</p>"
        f"<img src=\"{private_site.url('/pixel.png')}\">"
        f"<script>fetch({json.dumps(inside)}).then(r => r.text()).then(t => document.body.append(t))</script>"
        "</article></body></html>").encode()
    archive = Archive(tmp_path / "arch", fetch_options=options(),
                      browser_options=BrowserOptions(executable=CHROMIUM, idle=1.0, timeout=20.0), workers=0)
    [c] = archive.capture([public_site.url("/page/reaching")], browser=True)
    assert c.verdict is Verdict.NEW, c.reason
    assert private_site.state.hits == {}
    refused = archive.show(c.url).provenance["refused_requests"]
    assert any(inside in r for r in refused) and all("private address (127.0.0.1)" in r for r in refused)
    assert not any(b"quarterly" in r.content for r in read_all(tmp_path / "arch"))


def test_network_policy_is_checked_before_options_are_made():
    with pytest.raises(ValueError):
        NetworkPolicy("sometimes")  # type: ignore[arg-type]
    assert dataclasses.replace(FetchOptions(), network=NetworkPolicy("any")).network.mode == "any"
