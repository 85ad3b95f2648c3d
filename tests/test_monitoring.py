"""Monitoring: Apprise notifications with the change in them (a local JSON
endpoint and a local SMTP server), pages behind a cookie wall and basic
auth, active hours, folded missed runs, `watch check`, and the manual's
cron line."""

from __future__ import annotations

import email
import gzip
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from datetime import datetime
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from procutil import stop_group
from siteserver import SiteServer, article
from warcio.archiveiterator import ArchiveIterator

from archiver import Archive, Verdict
from archiver.cli import cli
from archiver.schedule.runner import NotifyOptions, add_watch, check_watches, run_due
from archiver.archive.catalog import Catalog

SCHEDULE_DOC = Path(__file__).resolve().parent.parent / "docs" / "schedule.md"


def invoke(arch: Path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--archive", str(arch), *args], env=env)


@pytest.fixture
def archive(tmp_path, fast_options, clock):
    return Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)


@pytest.fixture
def hook():
    server = SiteServer().start()
    yield server
    server.stop()


def make_due(archive: Archive) -> None:
    with Catalog(archive.path / "catalog.sqlite") as catalog, catalog.transaction():
        catalog.db.execute("UPDATE watches SET next_due = 0")


def messages(hook: SiteServer) -> list[dict]:
    return [json.loads(body) for path, body in hook.state.posts if path == "/notify"]


# -- notifications ---------------------------------------------------------------------


def test_one_message_per_change_with_the_words_added_and_removed(archive, fresh_site, hook, clock):
    url = fresh_site.url("/page/n")
    fresh_site.state.pages["/page/n"] = article("Council budget", "The council approved the ferry budget on Monday.")
    add_watch(archive, url, every="1h")
    target = NotifyOptions(apprise=(f"json://127.0.0.1:{hook.server_port}/notify",),
                           base_url="http://archive.example:8080")
    first = run_due(archive, notify=target)
    assert [c.verdict for c in first.captures] == [Verdict.NEW] and messages(hook) == []  # new is no change
    fresh_site.state.pages["/page/n"] = article("Council budget",
                                                "The council rejected the ferry budget on Monday.")
    clock.advance(hours=2)
    changed = run_due(archive, notify=target)
    assert [c.verdict for c in changed.captures] == [Verdict.CHANGED] and changed.notified == 1
    [msg] = messages(hook)
    assert msg["title"] == "Changed: Council budget"
    assert "rejected" in msg["message"] and "approved" in msg["message"]
    assert "1 word(s) added, 1 removed" in msg["message"]
    assert "http://archive.example:8080/diff?url=" in msg["message"]
    clock.advance(hours=2)
    assert run_due(archive, notify=target).notified == 0  # unchanged: nothing more
    assert len(messages(hook)) == 1


def test_a_dead_target_is_retried_and_delivered_once_it_is_back(archive, fresh_site, clock, free_port):
    port = free_port
    url = fresh_site.url("/page/d")
    fresh_site.state.pages["/page/d"] = article("One", "First version of the text for the test.")
    add_watch(archive, url, every="1h", notify=[f"json://127.0.0.1:{port}/notify"])  # the watch's own target
    run_due(archive)
    fresh_site.state.pages["/page/d"] = article("One", "Second version of the text for the test.")
    clock.advance(hours=2)
    down = run_due(archive)
    assert down.notify_failed == 1 and down.notified == 0
    assert [c.verdict for c in down.captures] == [Verdict.CHANGED]  # the capture never waited on it
    assert f"127.0.0.1:{port}" in down.notify_errors[0] and "/notify" not in down.notify_errors[0]
    back = SiteServer(port=port).start()
    try:
        assert run_due(archive).notified == 0  # its backoff (a minute) is not over
        clock.advance(minutes=2)
        assert run_due(archive).notified == 1
        [msg] = messages(back)
        assert "Second" in msg["message"] and "First" in msg["message"]
        clock.advance(hours=1)
        assert run_due(archive).notified == 0
    finally:
        back.stop()


def test_notification_urls_from_a_file_or_the_environment_stay_out_of_the_process_list(tmp_path, fresh_site, hook):
    """--notify URL put its token in the process list: a watch's targets can
    come from --notify-file, run's from it or $ARCHIVER_NOTIFY."""
    arch = tmp_path / "arch"
    url = fresh_site.url("/page/envnotify")
    fresh_site.state.pages["/page/envnotify"] = article("One", "First version of the text for the test.")
    targets = tmp_path / "targets.txt"
    targets.write_text(f"# the watch's own\n\njson://127.0.0.1:{hook.server_port}/from-file\n")
    assert invoke(arch, "watch", "add", url, "--every", "1h", "--notify-file", str(targets)).exit_code == 0
    assert invoke(arch, "run", "--delay", "0").exit_code == 0
    fresh_site.state.pages["/page/envnotify"] = article("One", "Second version of the text for the test.")
    make_due(Archive(arch))
    res = invoke(arch, "run", "--delay", "0", "--json",
                 env={"ARCHIVER_NOTIFY": f"json://127.0.0.1:{hook.server_port}/from-env"})
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[-1])["notified"] == 2
    assert sorted(path for path, _ in hook.state.posts) == ["/from-env", "/from-file"]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    res = invoke(arch, "run", "--notify-file", str(empty))
    assert res.exit_code == 2 and "names no notification URL" in res.output
    res = invoke(arch, "run", "--notify-file", str(tmp_path / "missing.txt"))
    assert res.exit_code == 2 and "cannot read --notify-file" in res.output


def test_the_catalog_that_holds_notification_tokens_is_readable_by_its_owner_only(tmp_path):
    import os
    import stat

    arch = tmp_path / "arch"
    assert invoke(arch, "watch", "add", "https://example.org/a", "--every", "1h",
                  "--notify", "json://user:hunter2@127.0.0.1:9/x").exit_code == 0
    catalog = arch / "catalog.sqlite"
    assert stat.S_IMODE(catalog.stat().st_mode) == 0o600
    os.chmod(catalog, 0o644)  # an archive made before this
    with Catalog(catalog) as c:
        c.db.execute("SELECT 1")
        for p in arch.glob("catalog.sqlite*"):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_failing_and_recovery_messages(archive, fresh_site, hook, clock):
    url = fresh_site.url("/page/f")
    fresh_site.state.pages["/page/f"] = article("Flaky", "A page that will go down for a while.")
    add_watch(archive, url, every="1h")
    target = NotifyOptions(apprise=(f"json://127.0.0.1:{hook.server_port}/notify",), errors_after=3)
    run_due(archive, notify=target)
    fresh_site.state.pages["/page/f"] = b"HTTP 500 Internal Server Error"
    for _ in range(4):
        clock.advance(hours=2)
        make_due(archive)
        run_due(archive, notify=target)
    titles = [m["title"] for m in messages(hook)]
    assert titles == ["Failing: Flaky"]  # once, at the third error in a row
    assert "has been an error for 3 captures" in messages(hook)[0]["message"]
    fresh_site.state.pages["/page/f"] = article("Flaky", "A page that will go down for a while.")
    clock.advance(hours=2)
    make_due(archive)
    run_due(archive, notify=target)
    assert [m["title"] for m in messages(hook)][-1] == "Recovered: Flaky"


def test_a_template_shapes_the_message(archive, fresh_site, hook, clock, tmp_path):
    url = fresh_site.url("/page/t")
    fresh_site.state.pages["/page/t"] = article("Templated", "Before the edit.")
    add_watch(archive, url, every="1h")
    template = "[{{ verdict }}] {{ title }}\n+{{ words_added }} -{{ words_removed }} {{ url }}"
    target = NotifyOptions(apprise=(f"json://127.0.0.1:{hook.server_port}/notify",), template=template)
    run_due(archive, notify=target)
    fresh_site.state.pages["/page/t"] = article("Templated", "After the edit.")
    clock.advance(hours=2)
    run_due(archive, notify=target)
    [msg] = messages(hook)
    assert msg["title"] == "[changed] Templated" and msg["message"] == f"+1 -1 {url}"


def test_a_hostile_title_is_text_in_the_template(archive, fresh_site, hook, clock):
    url = fresh_site.url("/page/h")
    evil = "{{ 7*7 }} {% for x in range(3) %}x{% endfor %} [/bold]"
    fresh_site.state.pages["/page/h"] = article(evil, "Some words here for the page.")
    add_watch(archive, url, every="1h")
    target = NotifyOptions(apprise=(f"json://127.0.0.1:{hook.server_port}/notify",))
    run_due(archive, notify=target)
    fresh_site.state.pages["/page/h"] = article(evil, "Other words here for the page.")
    clock.advance(hours=2)
    run_due(archive, notify=target)
    [msg] = messages(hook)
    assert "{{ 7*7 }}" in msg["title"] and "49" not in msg["title"]


def test_mentions_in_captured_text_are_defanged(archive, fresh_site, hook, clock):
    """A page saying "@everyone" must not ping a whole chat room through its message."""
    url = fresh_site.url("/page/ping")
    fresh_site.state.pages["/page/ping"] = article("@everyone read this", "Calm words before the change.")
    add_watch(archive, url, every="1h")
    target = NotifyOptions(apprise=(f"json://127.0.0.1:{hook.server_port}/notify",))
    run_due(archive, notify=target)
    fresh_site.state.pages["/page/ping"] = article("@everyone read this", "Now <!channel> and @here, <@U123>.")
    clock.advance(hours=2)
    run_due(archive, notify=target)
    [msg] = messages(hook)
    text = msg["title"] + msg["message"]
    for mention in ("@everyone", "@here", "<!channel>", "<@U123>"):
        assert mention not in text
    assert "@\u200beveryone" in msg["title"]


def test_email_through_a_local_smtp_server(archive, fresh_site, clock, free_port):
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            got.append(envelope.content)
            return "250 OK"

    port = free_port
    smtp = controller_mod.Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        url = fresh_site.url("/page/m")
        fresh_site.state.pages["/page/m"] = article("Mailed", "The library opens at nine.")
        mailto = f"mailto://127.0.0.1:{port}?from=archiver@example.org&to=editor@example.org&mode=insecure"
        add_watch(archive, url, every="1h", notify=[mailto])
        run_due(archive)
        fresh_site.state.pages["/page/m"] = article("Mailed", "The library opens at ten.")
        clock.advance(hours=2)
        assert run_due(archive).notified == 1
    finally:
        smtp.stop()
    [raw] = got
    mail = email.message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "Changed: Mailed" and mail["To"] == "editor@example.org"
    body = mail.get_content()
    assert "ten" in body and "nine" in body


def test_notify_test_and_secrets_never_printed(hook, tmp_path, free_port):
    arch = tmp_path / "arch"
    res = invoke(arch, "notify", "test", f"json://user:hunter2@127.0.0.1:{hook.server_port}/notify?token=abc")
    assert res.exit_code == 0, res.output
    assert messages(hook)[0]["title"] == "archiver: test message"
    assert "hunter2" not in res.output and "abc" not in res.output
    dead = free_port
    res = invoke(arch, "notify", "test", f"json://user:hunter2@127.0.0.1:{dead}/secret-path")
    assert res.exit_code == 2 and "not delivered" in res.output
    assert "hunter2" not in res.output and "secret-path" not in res.output
    res = invoke(arch, "notify", "test", "nosuchservice://whatever")
    assert res.exit_code == 2 and "Apprise" in res.output
    # A watch's targets are listed masked.
    assert invoke(arch, "watch", "add", "https://example.org/a", "--every", "1h", "--notify",
                  "ntfy://user:hunter2@ntfy.example/topic-secret").exit_code == 0
    listed = invoke(arch, "watch", "list", "--json").output
    assert "hunter2" not in listed and "topic-secret" not in listed and "ntfy://" in listed


def test_watch_import_takes_notify_auth_and_hours(tmp_path, monkeypatch):
    creds = tmp_path / "credentials.toml"
    creds.write_text('[members]\nheaders = { "X-Member" = "yes" }\n')
    monkeypatch.setenv("ARCHIVER_CREDENTIALS", str(creds))
    arch = tmp_path / "arch"
    toml = tmp_path / "watches.toml"
    toml.write_text('[[watch]]\nurl = "https://example.org/a"\nevery = "6h"\nnotify = "json://127.0.0.1:9/x"\n'
                    'auth = "members"\nbetween = "08:00-20:00"\ntz = "Asia/Hong_Kong"\n')
    res = invoke(arch, "watch", "import", str(toml))
    assert res.exit_code == 0, res.output
    [w] = json.loads(invoke(arch, "watch", "list", "--json").output)
    assert w["auth"] == "members" and w["active_hours"] == "08:00-20:00" and w["tz"] == "Asia/Hong_Kong"
    assert len(w["notify"]) == 1
    toml.write_text('[[watch]]\nurl = "https://example.org/b"\nevery = "6h"\nauth = "nobody"\n')
    res = invoke(arch, "watch", "import", str(toml))
    assert res.exit_code == 2 and "nobody" in res.output
    toml.write_text('[[watch]]\nurl = "https://example.org/b"\nevery = "6h"\ntz = "Mars/Olympus"\n'
                    'between = "08:00-20:00"\n')
    res = invoke(arch, "watch", "import", str(toml))
    assert res.exit_code == 2 and "Mars/Olympus" in res.output


# -- authenticated capture --------------------------------------------------------------


def request_records(arch: Path) -> list[tuple[str, dict]]:
    out = []
    for path in sorted((arch / "warc").glob("*.warc.gz")):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type == "request":
                    out.append((record.rec_headers.get_header("WARC-Target-URI"),
                                {k.lower(): v for k, v in record.http_headers.headers}))
    return out


def test_a_cookie_wall_needs_the_cookie_and_the_warc_keeps_none(site, tmp_path):
    url = site.url("/members/cookie")
    arch = tmp_path / "arch"
    res = invoke(arch, "capture", url, "--delay", "0", "--json")
    assert json.loads(res.output)["verdict"] == "http_error"
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n"
                       "127.0.0.1\tFALSE\t/members\tFALSE\t0\tsession\tletmein\n"
                       "other.example\tFALSE\t/\tFALSE\t0\tsession\tnot-for-you\n")
    res = invoke(arch, "capture", url, "--delay", "0", "--cookies", str(cookies), "--json")
    line = json.loads(res.output)
    assert line["verdict"] == "new" and line["title"] == "Members only"
    sent = [h for u, h in request_records(arch) if u == url]
    assert sent[-1]["cookie"] == "[redacted by archiver]"
    assert all("letmein" not in json.dumps(h) for _, h in request_records(arch))
    shown = json.loads(invoke(arch, "show", url, "--json").output)
    assert shown["provenance"]["credentials"] == "command-line"
    # --keep-auth-headers keeps it, and says what that means.
    res = invoke(arch, "capture", url, "--delay", "0", "--cookies", str(cookies), "--keep-auth-headers", "--json")
    assert "warning: --keep-auth-headers" in res.output
    assert [h for u, h in request_records(arch) if u == url][-1]["cookie"] == "session=letmein"


def test_a_header_given_on_the_command_line_is_redacted_in_the_warc(site, tmp_path):
    """--header X-Api-Key: ... is a credential by intent, whatever its name:
    only Cookie and Authorization values were redacted."""
    url = site.url("/page.html")
    arch = tmp_path / "arch"
    res = invoke(arch, "capture", url, "--delay", "0", "--json", "--header", "X-Api-Key: k-12345-secret",
                 "--header", "Authorization: Bearer tok-6789")
    assert res.exit_code == 0, res.output
    [(_, sent)] = [(u, h) for u, h in request_records(arch) if u == url]
    assert sent["x-api-key"] == "[redacted by archiver]" and sent["authorization"] == "[redacted by archiver]"
    assert "user-agent" in sent and sent["user-agent"] != "[redacted by archiver]"
    raw = b"".join(gzip.decompress(p.read_bytes()) for p in (arch / "warc").glob("*.warc.gz"))
    assert b"k-12345-secret" not in raw and b"tok-6789" not in raw
    res = invoke(arch, "capture", url, "--delay", "0", "--json", "--header", "X-Api-Key: k-12345-secret",
                 "--keep-auth-headers")
    assert [h for u, h in request_records(arch) if u == url][-1]["x-api-key"] == "k-12345-secret"


def test_basic_auth_from_a_credential_set_for_a_watch(site, tmp_path, monkeypatch):
    url = site.url("/members/basic")
    creds = tmp_path / "credentials.toml"
    creds.write_text('[memo]\nbasic = { user = "me", password_env = "MEMO_PASSWORD" }\n')
    monkeypatch.setenv("ARCHIVER_CREDENTIALS", str(creds))
    monkeypatch.setenv("MEMO_PASSWORD", "s3cret-pw")
    arch = tmp_path / "arch"
    res = invoke(arch, "capture", url, "--delay", "0", "--json")
    assert json.loads(res.output)["verdict"] == "http_error"  # 401 without it
    assert invoke(arch, "watch", "add", url, "--every", "1h", "--auth", "memo").exit_code == 0
    res = invoke(arch, "run", "--delay", "0", "--json")
    assert res.exit_code == 0, res.output
    [cap] = json.loads(res.output.splitlines()[-1])["captures"]
    assert cap["verdict"] == "new" and cap["title"] == "Behind basic auth"
    shown = json.loads(invoke(arch, "show", url, "--json").output)
    assert shown["provenance"]["credentials"] == "memo"
    # The password is nowhere in the archive: not in the WARC files, not in the catalog.
    for path in [*(arch / "warc").glob("*.warc.gz"), arch / "catalog.sqlite"]:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert b"s3cret-pw" not in data and b"bWU6czNjcmV0LXB3" not in data  # nor its base64
    # A set that cannot be loaded at run time sets that watch aside, and says why.
    monkeypatch.delenv("MEMO_PASSWORD")
    make_due(Archive(arch))
    res = invoke(arch, "run", "--delay", "0")
    assert "MEMO_PASSWORD" in res.output
    assert "MEMO_PASSWORD" in json.loads(invoke(arch, "watch", "list", "--json").output)[0]["problem"]


def test_credentials_do_not_follow_a_redirect_to_another_host(site, tmp_path):
    arch = tmp_path / "arch"
    url = site.url("/members/away")
    res = invoke(arch, "capture", url, "--delay", "0", "--header", "X-Api-Key: k-123", "--json")
    assert json.loads(res.output)["final_url"].startswith("http://localhost:")
    sent = {path: headers for _, path, headers in list(site.state.log)[-10:]}
    assert sent["/members/away"].get("x-api-key") == "k-123"
    assert "x-api-key" not in sent["/page.html"]


def test_a_rule_file_gives_its_site_a_credential_set(site, tmp_path, monkeypatch):
    creds = tmp_path / "credentials.toml"
    creds.write_text('[wall]\ncookies = "cookies.txt"\n')
    (tmp_path / "cookies.txt").write_text("# Netscape HTTP Cookie File\n"
                                          "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tletmein\n")
    monkeypatch.setenv("ARCHIVER_CREDENTIALS", str(creds))
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "members.toml").write_text('[match]\ndomains = ["127.0.0.1"]\npaths = ["^/members/"]\n'
                                        '[auth]\ncredentials = "wall"\n')
    res = invoke(tmp_path / "arch", "capture", site.url("/members/cookie"), "--delay", "0", "--rules", str(rules),
                 "--json")
    assert json.loads(res.output)["verdict"] == "new", res.output


def test_bad_credentials_are_one_line(tmp_path, monkeypatch):
    arch = tmp_path / "arch"
    monkeypatch.setenv("ARCHIVER_CREDENTIALS", str(tmp_path / "none.toml"))
    res = invoke(arch, "capture", "http://127.0.0.1:9/", "--auth", "nope")
    assert res.exit_code == 2 and "no credential set" in res.output
    res = invoke(arch, "capture", "http://127.0.0.1:9/", "--header", "no colon here")
    assert res.exit_code == 2 and "--header" in res.output
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a cookies file\n")
    res = invoke(arch, "capture", "http://127.0.0.1:9/", "--cookies", str(bad))
    assert res.exit_code == 2 and "cookies.txt" in res.output


# -- a schedule you can trust ---------------------------------------------------------------


def test_active_hours_in_a_time_zone(archive, fresh_site, clock):
    url = fresh_site.url("/page/hk")
    fresh_site.state.pages["/page/hk"] = article("Hong Kong", "Opening hours only.")
    clock.now = datetime(2026, 3, 2, 13, 0, 0)  # 21:00 in Hong Kong
    add_watch(archive, url, every="1h", between="08:00-20:00", tz="Asia/Hong_Kong")
    assert run_due(archive).captures == []  # outside its hours: not captured, moved
    [w] = archive_watches(archive)
    assert datetime.utcfromtimestamp(w.next_due) == datetime(2026, 3, 3, 0, 0)  # 08:00 HKT
    clock.now = datetime(2026, 3, 3, 0, 0, 30)
    assert [c.verdict for c in run_due(archive).captures] == [Verdict.NEW]


def archive_watches(archive: Archive):
    with archive.reader() as catalog:
        return catalog.watches()


def test_missed_runs_are_folded_into_one_capture(archive, fresh_site, clock):
    url = fresh_site.url("/page/fold")
    fresh_site.state.pages["/page/fold"] = article("Fold", "Words of the folded page.")
    add_watch(archive, url, every="1h")
    run_due(archive)
    clock.advance(hours=30)  # the machine was off for 30 runs
    hits = fresh_site.state.hits["/page/fold"]
    summary = run_due(archive)
    assert len(summary.captures) == 1 and fresh_site.state.hits["/page/fold"] == hits + 1
    [w] = archive_watches(archive)
    assert w.next_due - _epoch(clock.now) > 30 * 60  # next in about an hour, not now
    assert run_due(archive).captures == []


def test_watch_check_tells_a_stopped_runner_from_a_quiet_one(archive, fresh_site, clock):
    url = fresh_site.url("/page/c")
    fresh_site.state.pages["/page/c"] = article("Checked", "Words of the checked page.")
    add_watch(archive, url, every="1h")
    from archiver.schedule.runner import run_loop

    wakes = []
    run_loop(archive, sleep=lambda s: wakes.append(s), stop=lambda: len(wakes) >= 1)
    assert check_watches(archive) == []  # it ran, stopped cleanly, nothing is due
    # A looping runner that beats, then is killed (no "stopped"):
    with archive.catalog() as catalog:
        catalog.heartbeat("host:123:abc", host="host", pid=123, mode="loop", now=_epoch(clock.now))
    clock.advance(minutes=2)
    assert check_watches(archive) == []  # quiet, and recent: fine
    clock.advance(hours=3)
    kinds = {f.kind for f in check_watches(archive)}
    assert {"runner", "overdue"} <= kinds and "stale" in kinds  # 3 h without a good capture of an hourly watch
    res = invoke(archive.path, "watch", "check", "--json")
    assert res.exit_code == 1
    assert {f["kind"] for f in json.loads(res.output)["flags"]} >= {"runner", "overdue"}
    listed = invoke(archive.path, "watch", "list")
    assert "need attention" in listed.output


def _epoch(when: datetime) -> float:
    from archiver.timeutil import to_epoch

    return to_epoch(when)


def test_watch_check_flags_failing_watches(archive, fresh_site, clock):
    url = fresh_site.url("/page/x")
    fresh_site.state.pages["/page/x"] = b"HTTP 500 Internal Server Error"
    add_watch(archive, url, every="1h")
    for _ in range(3):
        make_due(archive)
        run_due(archive)
    flags = check_watches(archive)
    assert any(f.kind == "failing" and f.url == url and "3 failed" in f.message for f in flags)


def test_the_manuals_cron_line_runs_once_and_exits(site, tmp_path):
    """The cron line the manual gives, run as cron would (a shell, no terminal)."""
    text = SCHEDULE_DOC.read_text(encoding="utf-8")
    m = re.search(r"^(\*/\d+ \* \* \* \*) (.+)$", text, re.M)
    assert m, "the manual's scheduling page has a cron line"
    command = m.group(2)
    assert "/srv/archive/snapshots" in command
    arch = tmp_path / "snapshots"  # where the line's archive lands once /srv/archive is this test's folder
    assert invoke(arch, "watch", "add", site.url("/page.html"), "--every", "1h").exit_code == 0
    bindir = Path(sys.executable).parent
    command = command.replace("/srv/archive", str(tmp_path)).replace("/usr/local/bin/archiver", str(bindir / "archiver"))
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "ARCHIVER_HOME": str(arch)}
    proc = subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    history = invoke(arch, "history", site.url("/page.html"), "--json")
    assert len(json.loads(history.output)) == 1
    assert shlex.split(command)  # one shell line


@pytest.mark.parametrize("signum, code, said", [(signal.SIGINT, 130, "interrupted"),
                                                 (signal.SIGTERM, 143, "stopped (SIGTERM)")], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_a_loop_cleanly_and_says_so_in_its_heartbeat(site, tmp_path, signum, code, said):
    """Ctrl-C at a terminal reaches the whole process group (the cleaning
    workers too), and so does `systemctl stop`'s SIGTERM: one line, exit
    130 or 143, no traceback, the runner marked stopped (else `watch check`
    would call it killed)."""
    import time

    arch = tmp_path / "arch"
    assert invoke(arch, "watch", "add", site.url("/page.html"), "--every", "1h").exit_code == 0
    assert invoke(arch, "watch", "add", site.url("/gzip.html"), "--every", "1h").exit_code == 0
    exe = str(Path(sys.executable).parent / "archiver")
    proc = subprocess.Popen([exe, "--archive", str(arch), "run", "--loop", "--delay", "0", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with Catalog(arch / "catalog.sqlite", readonly=True) as catalog:
                if all(w.last_capture for w in catalog.watches()):
                    break
            time.sleep(0.3)
        time.sleep(0.5)
    finally:
        out, err = stop_group(proc, signum)
    assert proc.returncode == code, err
    assert err.splitlines() == [f"{said}: what was captured so far is kept"], err  # one line, no blank one
    with Catalog(arch / "catalog.sqlite", readonly=True) as catalog:
        [beat] = catalog.heartbeats()
    assert beat["mode"] == "loop" and beat["stopped"] is not None


def test_a_watch_with_its_own_cookies_and_headers(site, tmp_path):
    arch = tmp_path / "arch"
    url = site.url("/members/cookie")
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tletmein\n")  # no magic line: still read
    res = invoke(arch, "watch", "add", url, "--every", "1h", "--header", "Authorization: Bearer x")
    assert res.exit_code == 2 and "--auth" in res.output and "Bearer x" not in res.output
    res = invoke(arch, "watch", "add", url, "--every", "1h", "--cookies", str(cookies), "--header", "X-Lang: en")
    assert res.exit_code == 0, res.output
    [w] = json.loads(invoke(arch, "watch", "list", "--json").output)
    assert w["cookies"] == str(cookies) and w["headers"] == ["X-Lang"]
    res = invoke(arch, "run", "--delay", "0", "--json")
    [cap] = json.loads(res.output.splitlines()[-1])["captures"]
    assert cap["verdict"] == "new" and cap["title"] == "Members only"
    sent = [h for _, p, h in list(site.state.log) if p == "/members/cookie"][-1]
    assert sent.get("x-lang") == "en"
    assert b"letmein" not in (arch / "catalog.sqlite").read_bytes()
    # The cookies file gone: the watch is set aside, saying why; nothing else stops.
    cookies.unlink()
    make_due(Archive(arch))
    res = invoke(arch, "run", "--delay", "0")
    assert "cookies" in res.output
    assert "cookies" in json.loads(invoke(arch, "watch", "list", "--json").output)[0]["problem"]
