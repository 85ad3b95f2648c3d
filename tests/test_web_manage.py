"""The web interface, second round (#30): finding URLs on the dashboard,
managing watches from the interface and the API (edit, pause, resume,
stop), and links that never lead to a 404. Driven with Starlette's
TestClient over an archive captured from a local server."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from siteserver import SiteServer, article
from starlette.testclient import TestClient

from archiver import Archive
from archiver.archive.catalog import Catalog
from archiver.cli import cli
from archiver.schedule.runner import add_watch, run_due
from archiver.web.app import create_app

TOKEN = "a-management-token-long-enough"


@pytest.fixture
def world(tmp_path, fast_options, clock):
    server = SiteServer().start()
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)
    pages = server.state.pages
    pages["/page/ferry"] = article("Ferry keeps running", "The council kept the ferry running for two more years.")
    pages["/page/bridge"] = article("Bridge opens in spring", "The new bridge opens in the spring, the council said.")
    archive.capture([server.url("/page/ferry"), server.url("/page/bridge"), server.url("/missing")])
    clock.advance(hours=2)
    pages["/page/ferry"] = article("Ferry keeps running", "The council kept the ferry running for three more years.")
    archive.capture([server.url("/page/ferry")])
    add_watch(archive, server.url("/page/ferry"), every="6h", tag="transport,harbour")
    add_watch(archive, server.url("/page/bridge"), every="1d", tag="roads")
    yield archive, server
    server.stop()


@pytest.fixture
def client(world):
    with TestClient(create_app(world[0], token=TOKEN, allowed_hosts=("testserver",), allow_private=True)) as c:
        yield c


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_the_dashboard_finds_by_url_title_tag_verdict_and_change_date(client, world):
    _, server = world
    everything = client.get("/").text
    assert "3 URLs" in everything
    by_title = client.get("/", params={"find": "BRIDGE opens"}).text
    assert server.url("/page/bridge") in by_title and server.url("/page/ferry") not in by_title
    assert "1 URL match" in by_title
    assert server.url("/missing") in client.get("/", params={"find": "/missing"}).text
    tagged = client.get("/", params={"tag": "harbour"}).text  # one of a watch's tags
    assert server.url("/page/ferry") in tagged and server.url("/page/bridge") not in tagged
    errors = client.get("/", params={"verdict": "http_error"}).text
    assert server.url("/missing") in errors and server.url("/page/ferry") not in errors
    assert "No URL matches" in client.get("/", params={"find": "nothing like this"}).text
    assert "2 URLs match" in client.get("/", params={"since": "2000-01-01"}).text  # /missing never had a text
    assert "No URL matches" in client.get("/", params={"since": "2999-01-01"}).text
    bad = client.get("/", params={"verdict": "sideways"})
    assert bad.status_code == 400 and "verdict is one of" in bad.text and "<!DOCTYPE html>" in bad.text


def test_links_to_a_diff_or_a_text_appear_only_where_there_is_one(client, world):
    _, server = world
    dashboard = client.get("/").text
    # The ferry has two texts: its last change links a diff; the bridge has one: no link to a 404.
    assert f'/diff?url={server.url("/page/ferry").replace(":", "%3A").replace("/", "%2F")}' in dashboard
    assert f'/diff?url={server.url("/page/bridge").replace(":", "%3A").replace("/", "%2F")}' not in dashboard
    assert "(first text)" in dashboard
    missing = client.get("/timeline", params={"url": server.url("/missing")}).text
    assert "current text" not in missing and "last change" not in missing
    bridge = client.get("/timeline", params={"url": server.url("/page/bridge")}).text
    assert "current text" in bridge and "last change" not in bridge
    for link in ("/snapshot", "/diff"):
        assert client.get(link, params={"url": server.url("/page/ferry")}).status_code == 200


def test_the_api_edits_pauses_and_deletes_watches_and_keeps_the_captures(client, world):
    archive, server = world
    url = server.url("/page/ferry")
    assert client.patch("/api/watches", params={"url": url}, json={"every": "2h"}).status_code == 401
    r = client.patch("/api/watches", params={"url": url}, headers=auth(),
                     json={"every": "2h", "tag": "boats", "ignore": ["Last updated"], "min_words": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["schedule"], body["tag"], body["ignore"], body["min_words"], body["paused"]) == \
        ("every 2h", "boats", ["Last updated"], 3, False)
    assert client.patch("/api/watches", params={"url": url}, headers=auth(), json={"paused": True}).json()["paused"]
    untagged = client.patch("/api/watches", params={"url": url}, headers=auth(), json={"tag": None}).json()
    assert untagged["tag"] is None and untagged["schedule"] == "every 2h"  # a tag can be taken off, not only changed
    client.patch("/api/watches", params={"url": url}, headers=auth(), json={"tag": "boats"})
    [listed] = [w for w in client.get("/api/watches").json() if w["url"] == url]
    assert listed["paused"] and listed["schedule"] == "every 2h"  # the rest kept
    followed = client.patch("/api/watches", params={"url": url}, headers=auth(), json={"follow": {"scope": "host"}})
    assert followed.json()["follow"] == {"scope": "host", "watch_new": None}, followed.text
    bad = client.patch("/api/watches", params={"url": url}, headers=auth(), json={"follow": {"scope": "(unclosed"}})
    assert bad.status_code == 400 and "--scope is page" in bad.json()["error"]
    bad = client.patch("/api/watches", params={"url": url}, headers=auth(), json={"follow": {"depth": 3}})
    assert bad.status_code == 400 and "follow is null or" in bad.json()["error"]
    assert client.patch("/api/watches", params={"url": url}, headers=auth(), json={"follow": None}).json()["follow"] is None
    bad = client.patch("/api/watches", params={"url": url}, headers=auth(), json={"colour": "blue"})
    assert bad.status_code == 400 and "cannot change colour" in bad.json()["error"]
    bad = client.patch("/api/watches", params={"url": url}, headers=auth(), json={"every": "soon"})
    assert bad.status_code == 400 and client.get("/api/watches").json()[0]["schedule"] in ("every 2h", "every 1d")
    nobody = client.patch("/api/watches", params={"url": server.url("/page/none")}, headers=auth(), json={})
    assert nobody.status_code == 404
    assert client.delete("/api/watches", params={"url": url}).status_code == 401
    assert client.delete("/api/watches", params={"url": url}, headers=auth()).status_code == 204
    assert url not in [w["url"] for w in client.get("/api/watches").json()]
    assert len(client.get("/api/captures", params={"url": url}).json()) == 2  # captures are kept
    assert client.delete("/api/watches", params={"url": url}, headers=auth()).status_code == 404


def test_notification_targets_credential_set_and_hours_are_edited_and_hidden_keys_kept(client, world, tmp_path,
                                                                                       monkeypatch):
    archive, server = world
    creds = tmp_path / "credentials.toml"
    creds.write_text('[members]\nheaders = { "X-Member" = "yes" }\n')
    monkeypatch.setenv("ARCHIVER_CREDENTIALS", str(creds))
    url = server.url("/page/ferry")
    secret = "ntfy://user:hunter2@ntfy.example/topic-secret"
    r = client.patch("/api/watches", params={"url": url}, headers=auth(),
                     json={"notify": [secret], "auth": "members", "between": "08:00-20:00", "tz": "Asia/Hong_Kong"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "hunter2" not in r.text and "topic-secret" not in r.text and len(body["notify"]) == 1
    assert (body["auth"], body["active_hours"], body["tz"]) == ("members", "08:00-20:00", "Asia/Hong_Kong")
    # The masked target given back keeps the real one; a new one is added beside it.
    r = client.patch("/api/watches", params={"url": url}, headers=auth(),
                     json={"notify": [body["notify"][0], "json://127.0.0.1:9/hook"]})
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        assert catalog.watch(url).notify == (secret, "json://127.0.0.1:9/hook")
    for bad, says in (({"auth": "nobody"}, "nobody"), ({"notify": ["not a url"]}, "not a notification URL"),
                      ({"notify": "json://x"}, "list of Apprise URLs"), ({"tz": "Mars/Olympus"}, "Mars/Olympus")):
        r = client.patch("/api/watches", params={"url": url}, headers=auth(), json=bad)
        assert r.status_code == 400 and says in r.json()["error"] and "hunter2" not in r.text, (bad, r.text)
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        assert catalog.watch(url).auth == "members" and len(catalog.watch(url).notify) == 2  # nothing changed
    # From the timeline's form: the textarea shows the targets masked; saving them as shown keeps them.
    page = client.get("/timeline", params={"url": url})
    assert "hunter2" not in page.text and "notifies 2 targets" in page.text and "credential set members" in page.text
    csrf = client.cookies.get("archiver_csrf")
    shown = [m for m in body["notify"]] + ["json://127.0.0.1:9/hook"]
    form = {"csrf": csrf, "url": url, "token": TOKEN, "every": "6h", "cron": "", "tag": "", "ignore": "",
            "trigger": "", "min_words": "0", "notify": "\n".join(shown[:1]), "auth": "", "between": "", "tz": "",
            "action": "save"}
    saved = client.post("/watches/edit", data=form, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        watch = catalog.watch(url)
    assert watch.notify == (secret,) and watch.auth is None and watch.active_hours is None and watch.tz is None
    assert secret in (archive.path / "watches.json").read_text()  # the watch file follows the catalog


def test_a_watch_is_changed_paused_resumed_and_stopped_from_its_timeline(client, world, clock):
    archive, server = world
    url = server.url("/page/bridge")
    page = client.get("/timeline", params={"url": url})
    assert "Change this watch" in page.text and "every 1d" in page.text
    csrf = page.cookies.get("archiver_csrf") or client.cookies.get("archiver_csrf")
    form = {"csrf": csrf, "url": url, "token": TOKEN, "every": "12h", "cron": "", "tag": "roads",
            "ignore": "Last updated | /^Photo:/", "trigger": "", "min_words": "2"}
    saved = client.post("/watches/edit", data={**form, "action": "save"}, headers={"Origin": "http://testserver"},
                        follow_redirects=False)
    assert saved.status_code == 303, saved.text
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        watch = catalog.watch(url)
    assert watch.schedule == "every 12h" and watch.change_rules["ignore"] == ["Last updated", "/^Photo:/"]
    paused = client.post("/watches/edit", data={**form, "action": "pause"}, headers={"Origin": "http://testserver"},
                         follow_redirects=False)
    assert paused.status_code == 303
    assert "paused" in client.get("/timeline", params={"url": url}).text
    with Catalog(archive.path / "catalog.sqlite") as catalog, catalog.transaction():
        catalog.db.execute("UPDATE watches SET next_due = 0")
    clock.advance(days=2)
    assert [c.url for c in run_due(archive).captures] == [server.url("/page/ferry")]  # not the paused one
    client.post("/watches/edit", data={**form, "action": "resume"}, headers={"Origin": "http://testserver"})
    clock.advance(days=1)
    assert url in [c.url for c in run_due(archive).captures]
    forged = client.post("/watches/edit", data={**form, "action": "delete"}, headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    client.post("/watches/edit", data={**form, "action": "delete"}, headers={"Origin": "http://testserver"})
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        assert catalog.watch(url) is None and catalog.captures(url)


def test_watch_pause_and_resume_on_the_command_line(world):
    archive, server = world
    url = server.url("/page/bridge")
    run = lambda *a: CliRunner().invoke(cli, ["--archive", str(archive.path), *a])  # noqa: E731
    out = run("watch", "pause", url)
    assert out.exit_code == 0 and "paused" in out.output
    [w] = [w for w in json.loads(run("watch", "list", "--json").output) if w["url"] == url]
    assert w["paused"] is True
    assert "paused" in run("watch", "list").output
    kept = json.loads((archive.path / "watches.json").read_text())
    assert any(e.get("paused") for e in kept["watches"] if e["url"] == url)
    assert run("watch", "resume", url).exit_code == 0
    nobody = run("watch", "pause", server.url("/page/none"))
    assert nobody.exit_code == 2 and "is not watched" in nobody.output



def test_unknown_paths_and_methods_are_answered_in_the_interfaces_words(client):
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "there is no page at /no/such/page" in page.text
    assert "<!DOCTYPE html>" in page.text and "default-src 'none'" in page.headers["content-security-policy"]
    assert "Not Found" not in page.text
    api = client.get("/api/nothing")
    assert api.status_code == 404 and "no API endpoint at /api/nothing" in api.json()["error"]
    wrong = client.put("/api/watches", json={})
    assert wrong.status_code == 405 and "PUT is not how /api/watches is used" in wrong.json()["error"]
    # Bad or missing parameters say what to give instead, styled, in words not SQLite's.
    for path, params, says in (("/timeline", {}, "give the page&#39;s address, e.g. ?url="),
                               ("/search", {"q": '"'}, "nothing to search for: give one or more words"),
                               ("/search", {"q": "ferry", "since": "31/12/2024"}, "not a date (YYYY-MM-DD)"),
                               ("/snapshot", {"url": "https://x.example/", "at": "noon"}, "use up to 14 digits"),
                               ("/", {"sort": "random"}, "sort is one of changed, stale, captured, url"),
                               ("/", {"p": "first"}, "?p= must be a whole number")):
        r = client.get(path, params=params)
        assert r.status_code == 400 and says in r.text and "<!DOCTYPE html>" in r.text, (path, r.text[-400:])
        assert "sqlite" not in r.text.lower() and "Traceback" not in r.text


def test_serve_checks_its_base_urls_before_it_starts(world):
    archive, _ = world
    run = lambda *a: CliRunner().invoke(cli, ["--archive", str(archive.path), "serve", "--no-replay", *a])  # noqa: E731
    same = run("--base-url", "https://archive.example.org/", "--replay-base-url", "https://archive.example.org/r")
    assert same.exit_code == 2 and "another origin" in same.output
    bad = run("--base-url", "archive.example.org")
    assert bad.exit_code == 2 and "an http(s) URL with a host" in bad.output
    short = run("--viewer-token", "short")
    assert short.exit_code == 2 and "the viewer token must be at least 16 characters" in short.output


def test_links_redirects_and_feeds_follow_the_base_url(world):
    archive, server = world
    app = create_app(archive, token=TOKEN, allowed_hosts=("testserver",), allow_private=True,
                     base_url="https://archive.example.org/archiver/")
    with TestClient(app, base_url="https://archive.example.org") as c:
        page = c.get("/")
        assert page.status_code == 200  # the base URL's host is allowed
        assert 'href="/archiver/static/app.css"' in page.text and 'href="/timeline' not in page.text
        feed = c.get("/feed.atom").text
        assert "https://archive.example.org/archiver/diff?" in feed
        url = server.url("/page/bridge")
        csrf = c.get("/timeline", params={"url": url}).cookies.get("archiver_csrf") or c.cookies.get("archiver_csrf")
        moved = c.post("/watches/edit", data={"csrf": csrf, "url": url, "token": TOKEN, "action": "pause"},
                       headers={"Origin": "https://archive.example.org"}, follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"].startswith("/archiver/timeline?")


def test_search_finds_words_of_every_version_and_links_the_capture_that_had_them(client, world, clock):
    archive, server = world
    url = server.url("/page/ferry")
    assert "Nothing found" in client.get("/search", params={"q": "two more years"}).text  # no longer current
    old = client.get("/search", params={"q": "two more years", "versions": "all"}).text
    assert url in old and "first captured" in old
    first = archive.history(url)[0]
    assert f"at={first.timestamp}" in old.replace("&amp;", "&")
    shown = client.get("/snapshot", params={"url": url, "at": first.timestamp}).text
    assert "two more years" in shown
    [hit] = client.get("/api/search", params={"q": "two more years", "versions": "all"}).json()
    assert hit["url"] == url and hit["timestamp"] == first.timestamp
    assert client.get("/api/search", params={"q": "x", "versions": "some"}).status_code == 400
    cli_hits = json.loads(CliRunner().invoke(cli, ["--archive", str(archive.path), "search", "two more years",
                                                   "--all-versions", "--json"]).output)
    assert [h["url"] for h in cli_hits] == [url]
    # Chinese words of an older text, through the pair index.
    server.state.pages["/page/zh"] = article("渡轮", "市政府表示渡轮将继续运营直到新桥开通。")
    archive.capture([server.url("/page/zh")])
    clock.advance(hours=1)
    server.state.pages["/page/zh"] = article("渡轮", "市政府表示渡轮服务将在春季结束。")
    archive.capture([server.url("/page/zh")])
    assert archive.search("新桥", versions=True)[0].url == server.url("/page/zh")
    assert archive.search("新桥") == []


def test_an_archive_from_before_the_versions_index_gets_its_current_texts_and_reindex_the_rest(world):
    import sqlite3

    archive, server = world
    db = sqlite3.connect(archive.path / "catalog.sqlite")
    db.executescript("DROP TABLE versions; DROP TABLE search_versions; DROP TABLE search_versions_cjk;"
                     " DROP TABLE jobs; DROP INDEX latest_order; DROP INDEX latest_captured; DROP INDEX latest_verdict; DROP INDEX latest_site;"
                     " ALTER TABLE latest DROP COLUMN verdict; ALTER TABLE latest DROP COLUMN title;"
                     " ALTER TABLE latest DROP COLUMN changed; ALTER TABLE latest DROP COLUMN site;"
                     " DROP TABLE crawls; DROP TABLE crawl_urls; ALTER TABLE watches DROP COLUMN follow;"
                     " PRAGMA user_version = 14;")
    db.close()
    assert [h.url for h in archive.search("three more years", versions=True)] == [server.url("/page/ferry")]
    assert archive.search("two more years", versions=True) == []  # an older text: not until a reindex
    archive.reindex()
    assert [h.url for h in archive.search("two more years", versions=True)] == [server.url("/page/ferry")]


def test_capture_now_runs_in_the_background_with_a_page_that_shows_its_progress(client, world):
    import time as _time

    archive, server = world
    urls = [server.url("/page/bridge"), server.url("/held")]
    r = client.post("/api/captures", json={"urls": urls}, headers=auth())
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert r.json()["url"] == f"/jobs/{job}"

    def state() -> dict:
        return client.get(f"/api/jobs/{job}").json()

    deadline = _time.monotonic() + 60
    while state()["done"] < 1 and _time.monotonic() < deadline:  # the first page is in; /held waits for the gate
        _time.sleep(0.05)
    running = state()
    assert running["state"] == "running" and running["done"] == 1 and running["total"] == 2
    page = client.get(f"/jobs/{job}").text
    assert 'http-equiv="refresh"' in page and "1 of 2 captured" in page and "waiting" in page
    server.state.gate.set()
    while state()["state"] == "running" and _time.monotonic() < deadline:
        _time.sleep(0.05)
    finished = state()
    assert finished["state"] == "done" and [c["url"] for c in finished["captures"]] == urls
    assert [c["verdict"] for c in finished["captures"]] == ["unchanged", "new"]
    page = client.get(f"/jobs/{job}").text
    assert 'http-equiv="refresh"' not in page and "2 of 2 captured" in page and "Held" in page
    assert len(archive.history(server.url("/held"))) == 1
    # Checked before it starts: a bad request makes no job.
    assert client.post("/api/captures", json={"urls": ["not a url"]}, headers=auth()).status_code == 400
    assert client.post("/api/captures", json={"urls": urls, "browser": "yes"}, headers=auth()).status_code == 400
    missing = client.get("/jobs/0123456789abcdef")
    assert missing.status_code == 404 and "no job" in missing.text


def test_capture_now_from_the_dashboard_form_goes_to_its_job_and_a_server_restart_ends_stale_jobs(client, world):
    archive, server = world
    dash = client.get("/")
    assert 'name="browser"' in dash.text.split('action="/captures"')[1].split("</form>")[0]
    csrf = client.cookies.get("archiver_csrf")
    r = client.post("/captures", data={"csrf": csrf, "token": TOKEN, "url": server.url("/page/bridge")},
                    headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        catalog.add_job("feedfacecafebeef", [server.url("/page/ferry")], browser=False, now=0)
        catalog.job_state("feedfacecafebeef", "running")
        assert catalog.abandon_jobs(now=1) >= 1
    page = client.get("/jobs/feedfacecafebeef").text
    assert "failed" in page and "the server stopped before this job ended" in page


def test_screenshots_compared_pixel_by_pixel():
    import io

    from PIL import Image, ImageDraw

    from archiver.archive.visual import compare_screenshots, mark_regions

    def png(draw: bool, height: int = 600) -> bytes:
        img = Image.new("RGB", (1280, height), "white")
        if draw:
            ImageDraw.Draw(img).rectangle((100, 200, 499, 299), fill=(200, 0, 0))
        if height > 600:  # what the page grew by has text in it
            ImageDraw.Draw(img).rectangle((100, 650, 899, 699), fill=(0, 0, 0))
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()

    same = compare_screenshots(png(False), png(False))
    assert same.changed_area == 0 and same.regions == []
    v = compare_screenshots(png(False), png(True))
    [(x, y, w, h)] = v.regions
    assert 80 <= x <= 100 and 180 <= y <= 200 and 400 <= w <= 440 and 100 <= h <= 140  # in the newer's pixels
    assert abs(v.changed_area - (400 * 100) / (1280 * 600)) < 0.01
    longer = compare_screenshots(png(False), png(False, height=800))
    assert longer.regions and longer.regions[0][1] >= 630  # what the page grew by
    assert mark_regions(png(True), v.regions) != png(True)


VIEWER = "a-viewer-token-long-enough-too"


def test_reads_behind_a_viewer_token_people_log_in_once_and_scripts_send_it(world):
    archive, server = world
    app = create_app(archive, token=TOKEN, allowed_hosts=("testserver",), allow_private=True, viewer_token=VIEWER)
    with TestClient(app) as c:
        asked = c.get("/timeline", params={"url": server.url("/page/ferry")}, follow_redirects=False)
        assert asked.status_code == 303 and asked.headers["location"].startswith("/login?next=%2Ftimeline%3Furl%3D")
        assert c.get("/api/captures", params={"url": server.url("/page/ferry")}).status_code == 401
        assert c.get("/static/app.css").status_code == 200 and c.get("/healthz").status_code == 200
        assert "viewer token" in c.get("/login").text
        wrong = c.post("/login", data={"token": "guess", "next": "/"}, headers={"Origin": "http://testserver"})
        assert wrong.status_code == 401 and "not the viewer token" in wrong.text
        far = c.post("/login", data={"token": VIEWER, "next": "https://evil.example/"},
                     headers={"Origin": "http://testserver"}, follow_redirects=False)
        assert far.status_code == 303 and far.headers["location"] == "/"  # never sent to another site
        assert c.get("/").status_code == 200 and "Log out" in c.get("/").text  # the session cookie reads
        c.post("/logout", headers={"Origin": "http://testserver"})
        assert c.get("/", follow_redirects=False).status_code == 303
    with TestClient(app) as script:
        for token in (VIEWER, TOKEN):  # the write token reads too
            r = script.get("/api/watches", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and len(r.json()) == 2
        assert script.get("/api/watches", headers={"Authorization": "Bearer nope"}).status_code == 401
    # Another server with another viewer token: the old session is worth nothing there.
    from archiver.web.viewers import make_session, session_valid

    assert session_valid(make_session(VIEWER), VIEWER) and not session_valid(make_session(VIEWER), VIEWER + "x")
    assert not session_valid(make_session(VIEWER, now=0), VIEWER)  # expired


def test_the_snapshot_page_warns_when_replay_would_mix_times_or_miss_files(tmp_path, fast_options, clock):
    server = SiteServer().start()
    try:
        archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)
        url = server.url("/page/pics")
        server.state.pages["/page/pics"] = article("Pictures", "The ferry at dawn, and the quay at night, in pictures.") \
            .replace(b"</article>", b"<img src='/page/dawn'><img src='/page/night'><link rel='stylesheet'"
                                    b" href='/page/style'></article>")
        archive.capture([url])
        clock.advance(hours=2)
        server.state.pages["/page/dawn"] = article("Dawn", "not really an image")
        archive.capture([server.url("/page/dawn")])
        app = create_app(archive, allowed_hosts=("testserver",), replay_url=lambda ts, u: f"http://127.0.0.1:9/a/{ts}/{u}")
        with TestClient(app) as c:
            page = c.get("/snapshot", params={"url": url}).text
        assert "with 0 of the 3 files it embeds from the same visit" in page
        assert "1 come from other captures (up to 2.0 hours away)" in page
        assert "2 were never captured" in page and server.url("/page/night") in page
        assert "a browser capture records them" in page
    finally:
        server.stop()


def test_the_dashboard_pages_by_keyset_and_filters_by_site(client, world):
    archive, server = world
    for n in range(5):
        add_watch(archive, f"https://news{n}.example/story", every="1d")  # watched, never captured: sort last
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        everything, total = catalog.url_rows(limit=100)
        seen, after = [], None
        while True:
            rows, _ = catalog.url_rows(limit=2, after=after)
            if not rows:
                break
            seen += [r.url for r in rows]
            after = tuple(rows[-1].cursor.split("|", 1))
    assert seen == [r.url for r in everything] and total == len(seen) == 8
    add_watch(archive, "https://other.example/copies/news3.example/story", every="1d")  # the name in a path only
    add_watch(archive, "https://www.live.news3.example/story", every="1d")  # a subdomain, with www.
    page = client.get("/", params={"host": "news3.example"}).text
    assert "https://news3.example/story" in page and "news1.example" not in page and "2 URLs match" in page
    assert "live.news3.example" in page and "other.example" not in page
    assert "<h1>Pages of news3.example</h1>" in page and "/search?site=news3.example" in page  # the site's own page
    assert "3 URLs match" in client.get("/", params={"host": "127.0.0.1"}).text  # a host with a port: the captured pages
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        assert catalog.url_rows(limit=10, host="www.news3.example")[1] == 2
        assert catalog.url_rows(limit=10, host="ews3.example")[1] == 0  # a whole label, not a piece of one
    assert "site</a>" in client.get("/").text
    assert client.get("/", params={"after": "no cursor"}).status_code == 400


def test_the_dashboard_sorts_four_ways_and_pages_each_by_keyset_with_filters(client, world, clock):
    archive, server = world
    clock.advance(hours=1)
    archive.capture([server.url("/page/bridge")])  # captured last; its one text came first
    for n in range(3):
        add_watch(archive, f"https://news{n}.example/story_{n}", every="1d")  # watched, never captured
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        whole = {sort: [r.url for r in catalog.url_rows(limit=100, sort=sort)[0]]
                 for sort in ("changed", "stale", "captured", "url")}
        assert whole["url"] == sorted(whole["url"]) and len(whole["url"]) == 6
        assert whole["captured"][0] == server.url("/page/bridge") and whole["changed"][0] == server.url("/page/ferry")
        assert whole["stale"][:3] == sorted(f"https://news{n}.example/story_{n}" for n in range(3))  # never captured
        # /missing (never a text: its capture's time) and the bridge's text tie: by URL
        assert whole["stale"][3:] == [server.url(p) for p in ("/missing", "/page/bridge", "/page/ferry")]
        for sort, expected in whole.items():
            for filters in ({}, {"find": "EXAMPLE/story"}, {"verdict": "new"}):
                seen, after = [], None
                while rows := catalog.url_rows(limit=2, after=after, sort=sort, **filters)[0]:
                    seen += [r.url for r in rows]
                    after = tuple(rows[-1].cursor.split("|", 1))
                total = catalog.url_rows(limit=100, sort=sort, **filters)[1]
                assert seen == [u for u in expected if u in seen] and len(seen) == total, (sort, filters, seen)
        # "_" and "%" in what is looked for are letters, not wildcards
        assert catalog.url_rows(limit=10, find="story_1")[1] == 1 and catalog.url_rows(limit=10, find="%")[1] == 0
    page = client.get("/", params={"sort": "url"}).text
    assert "by URL" in page and page.index("news0.example") < page.index("news2.example")
    assert client.get("/", params={"sort": "sideways"}).status_code == 400


def test_a_pasted_list_becomes_watches_and_the_bad_lines_are_named(client, world):
    archive, _ = world
    csrf = client.get("/").cookies.get("archiver_csrf") or client.cookies.get("archiver_csrf")
    pasted = "https://a.example/one\n# a comment\n\nnot a url\nhttps://b.example/two\n"
    r = client.post("/watches/bulk", data={"csrf": csrf, "token": TOKEN, "urls": pasted, "every": "1d", "tag": "pasted"},
                    headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert r.status_code == 400 and "2 of 3 watched" in r.text and "line 4" in r.text
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        tagged = {w.url for w in catalog.watches(tag="pasted")}
    assert tagged == {"https://a.example/one", "https://b.example/two"}
    ok = client.post("/watches/bulk", data={"csrf": csrf, "token": TOKEN, "urls": "https://c.example/\n", "every": "1d"},
                     headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert ok.status_code == 303
