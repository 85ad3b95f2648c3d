"""Scheduled archiving with a controllable clock: no test sleeps for real."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta

from pathlib import Path

import pytest
from click.testing import CliRunner
from siteserver import SiteServer, article

from archiver import Archive, FetchOptions, Verdict
from archiver.cli import cli
from archiver.errors import ConfigError
from archiver.schedule.runner import (
    BACKOFF_BASE,
    LEASE_SECONDS,
    NotifyOptions,
    _claim,
    add_watch,
    import_watches,
    list_watches,
    parse_duration,
    remove_watch,
    run_due,
    run_loop,
)


@pytest.fixture
def archive(tmp_path, fast_options, clock):
    return Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)


def urls_captured(summary):
    return sorted(c.url for c in summary.captures)


def test_due_and_not_due(archive, fresh_site, clock):
    fresh_site.state.pages["/page/a"] = article("A")
    url = fresh_site.url("/page/a")
    add_watch(archive, url, every="6h")
    assert urls_captured(run_due(archive)) == [url]
    assert run_due(archive).captures == []  # a second run right after captures nothing
    clock.advance(hours=5, minutes=59)
    assert run_due(archive).captures == []
    clock.advance(minutes=1, seconds=40)  # past 6h plus this URL's jitter (at most 10% / 5 min)
    clock.advance(minutes=5)
    [c] = run_due(archive).captures
    assert c.verdict is Verdict.UNCHANGED


def test_cron_schedule(archive, fresh_site, clock):
    fresh_site.state.pages["/page/a"] = article("A")
    url = fresh_site.url("/page/a")
    clock.now = clock.now.replace(hour=7, minute=30)
    add_watch(archive, url, cron="0 */6 * * *")
    run_due(archive)
    [w] = list_watches(archive)
    due = w.to_json()["next_due"]
    assert due.startswith(clock.now.strftime("%Y-%m-%dT12:0"))  # 12:00 plus a little jitter


def test_backoff_grows_and_resets(archive, fresh_site, clock):
    url = fresh_site.url("/page/flaky")
    fresh_site.state.pages["/page/flaky"] = b"HTTP 500 Internal Server Error"
    add_watch(archive, url, every="1d")
    delays = []
    for _ in range(3):
        start = clock.now
        [c] = run_due(archive).captures
        assert c.verdict is Verdict.HTTP_ERROR
        [w] = list_watches(archive)
        delays.append(round(w.next_due - start.replace(tzinfo=__import__("datetime").timezone.utc).timestamp()))
        clock.advance(seconds=delays[-1] + 1)
    assert delays[0] == pytest.approx(BACKOFF_BASE, abs=2)
    assert delays[1] == pytest.approx(2 * BACKOFF_BASE, abs=2) and delays[2] == pytest.approx(4 * BACKOFF_BASE, abs=2)
    assert list_watches(archive)[0].failures == 3
    fresh_site.state.pages["/page/flaky"] = article("Back")
    [c] = run_due(archive).captures
    assert c.verdict is Verdict.NEW
    [w] = list_watches(archive)
    assert w.failures == 0 and w.last_good == c.timestamp
    assert w.next_due - clock.now.replace(tzinfo=__import__("datetime").timezone.utc).timestamp() > 23 * 3600


def test_loop_sleeps_until_due_and_survives_restart(archive, fresh_site, clock):
    for name in ("a", "b"):
        fresh_site.state.pages[f"/page/{name}"] = article(name)
        add_watch(archive, fresh_site.url(f"/page/{name}"), every="1h")
    start = clock.now
    sleeps = []

    def fake_sleep(seconds):
        sleeps.append(seconds)
        clock.advance(seconds=seconds)

    captures = []
    run_loop(archive, sleep=fake_sleep, stop=lambda: clock.now > start + timedelta(hours=2, minutes=30),
             on_capture=captures.append)
    # at 0h, ~1h, ~2h: three rounds of two pages, no more
    assert len(captures) == 6
    assert max(sleeps) <= 60 and min(sleeps) >= 1
    # a restart right away fires nothing: the schedule is in the catalog
    again = []
    answers = iter([False, True, True])
    run_loop(archive, sleep=fake_sleep, stop=lambda: next(answers), on_capture=again.append)
    assert again == []


def test_a_dead_runners_claims_expire(archive, fresh_site, clock):
    fresh_site.state.pages["/page/a"] = article("A")
    add_watch(archive, fresh_site.url("/page/a"), every="1h")
    with archive.catalog() as catalog:
        assert len(_claim(catalog, clock.now, "dead-runner")) == 1  # then it was killed
    assert run_due(archive).captures == []  # leased: not captured twice
    clock.advance(seconds=LEASE_SECONDS + 1)
    assert len(run_due(archive).captures) == 1


def test_two_runners_at_once_capture_each_watch_once(tmp_path, fresh_site, fast_options, clock):
    for i in range(6):
        add_watch(Archive(tmp_path / "arch", clock=clock), fresh_site.url(f"/slowish?n={i}"), every="1h")
    results = []

    def runner():
        results.append(run_due(Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    captured = [c.url for r in results for c in r.captures]
    assert sorted(captured) == sorted(fresh_site.url(f"/slowish?n={i}") for i in range(6))
    assert fresh_site.state.hits["/slowish"] == 6


def test_webhook_gets_exactly_one_notification_per_change(archive, fresh_site, clock):
    hook = SiteServer().start()
    try:
        url = fresh_site.url("/page/a")
        fresh_site.state.pages["/page/a"] = article("Ferry", "The ferry runs on weekdays.")
        add_watch(archive, url, every="1h")
        notify = NotifyOptions(url=hook.url("/hook"))
        run_due(archive, notify=notify)  # new: no notification
        clock.advance(hours=2)
        run_due(archive, notify=notify)  # unchanged: none
        fresh_site.state.pages["/page/a"] = article("Ferry", "The ferry runs every day.")
        clock.advance(hours=2)
        summary = run_due(archive, notify=notify)  # changed: one
        clock.advance(hours=2)
        run_due(archive, notify=notify)  # unchanged again: none
        assert summary.notified == 1
        [(path, body)] = hook.state.posts
        msg = json.loads(body)
        assert path == "/hook" and msg["url"] == url and msg["verdict"] == "changed"
        assert msg["previous_timestamp"] < msg["timestamp"] and msg["title"] == "Ferry"
        assert "-" in msg["diff"] and "every day" in msg["diff"]
    finally:
        hook.stop()


def watch_then_change(archive, site, clock) -> str:
    """A watched page, captured once, then edited and due again."""
    url = site.url("/page/a")
    site.state.pages["/page/a"] = article("One")
    add_watch(archive, url, every="1h")
    run_due(archive)
    site.state.pages["/page/a"] = article("Two")
    clock.advance(hours=2)
    return url


HANGING = ("import os, sys, time; sys.stdin.read(); open(sys.argv[1], 'a').write(str(os.getpid()) + chr(10));"
           " time.sleep(float(sys.argv[2]))")


def _kill_all(pids: Path) -> None:
    import signal

    for line in pids.read_text().split() if pids.exists() else []:
        try:
            os.kill(int(line), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_hanging_notification_is_stopped_at_its_time_limit_and_stays_queued(archive, fresh_site, clock, tmp_path):
    """A one-shot run with one change waited 60 s on a command that sleeps:
    a delivery has a time limit of its own, and the message stays in the
    outbox to be tried again."""
    pids = tmp_path / "pids"
    watch_then_change(archive, fresh_site, clock)
    command = (sys.executable, "-c", HANGING, str(pids), "600")
    t0 = time.monotonic()
    try:
        summary = run_due(archive, notify=NotifyOptions(command=command, time_limit=1.0))
        elapsed = time.monotonic() - t0
        assert [c.verdict for c in summary.captures] == [Verdict.CHANGED]
        assert summary.notified == 0 and summary.notify_failed == 1
        assert "took longer than 1 s; it was stopped" in summary.notify_errors[0]
        assert elapsed < 300  # far from the command's 600 s
        # The command was stopped, not left behind.
        [pid] = pids.read_text().split()
        with pytest.raises(ProcessLookupError):
            for _ in range(100):
                os.kill(int(pid), 0)
                time.sleep(0.05)
        with archive.reader() as catalog:
            [note] = catalog.pending_notifications(100)
            assert note.attempts == 1 and "took longer" in note.last_error
    finally:
        _kill_all(pids)


def test_a_notification_that_never_answers_holds_back_no_capture_in_a_loop(archive, fresh_site, clock, tmp_path):
    """With a command that sleeps, a 1-minute watch was captured every 2
    minutes: deliveries run beside the captures."""
    from archiver.schedule.runner import run_loop

    pids = tmp_path / "pids"
    url = fresh_site.url("/page/loop")
    fresh_site.state.pages["/page/loop"] = article("One")
    add_watch(archive, url, every="1m")
    run_due(archive)
    wakes: list = []
    versions = iter(["Two", "Three", "Four"])

    def sleep(seconds: float) -> None:  # the loop's sleep: the next version is due at once
        fresh_site.state.pages["/page/loop"] = article(next(versions, "Four"))
        clock.advance(minutes=2)

    command = (sys.executable, "-c", HANGING, str(pids), "600")
    t0 = time.monotonic()
    try:
        run_loop(archive, notify=NotifyOptions(command=command, time_limit=300.0), sleep=sleep,
                 stop=lambda: len(wakes) >= 3, on_summary=wakes.append)
        assert time.monotonic() - t0 < 300  # no wake waited for the delivery's time limit
        assert [[c.verdict for c in w.captures] for w in wakes] == [[Verdict.CHANGED]] * 3
        with archive.reader() as catalog:
            pending = catalog.pending_notifications(100)
        assert len(pending) == 3  # kept, to be tried again
    finally:
        _kill_all(pids)


def test_notification_to_a_dead_endpoint_is_kept_and_retried(archive, fresh_site, clock, free_port):
    port = free_port  # nothing listens: the endpoint is down
    watch_then_change(archive, fresh_site, clock)
    down = run_due(archive, notify=NotifyOptions(url=f"http://127.0.0.1:{port}/hook"))
    assert [c.verdict for c in down.captures] == [Verdict.CHANGED]  # the capture did not wait on it
    assert down.notified == 0 and down.notify_failed == 1
    # the endpoint comes back (same port): the next run delivers it, whatever its own flags
    hook = SiteServer(port=port).start()
    try:
        # A failed delivery waits its backoff (a minute first), then goes.
        assert run_due(archive).notified == 0
        clock.advance(minutes=2)
        later = run_due(archive)
        assert later.notified == 1
        [(_, body)] = hook.state.posts
        assert json.loads(body)["verdict"] == "changed"
        assert run_due(archive).notified == 0  # sent once, not again
    finally:
        hook.stop()


def test_notify_command_gets_the_json_on_stdin(archive, fresh_site, clock, tmp_path):
    out = tmp_path / "got.json"
    watch_then_change(archive, fresh_site, clock)
    command = (sys.executable, "-c", f"import sys; open(r'{out}', 'w').write(sys.stdin.read())")
    assert run_due(archive, notify=NotifyOptions(command=command)).notified == 1
    assert json.loads(out.read_text())["title"] == "Two"


def cli_watch_then_change(tmp_path: Path, site, path: str):
    """Through the CLI: a watched page, captured once, then edited and due
    again; the invoker of the archive's commands."""
    from archiver.archive.catalog import Catalog

    arch = str(tmp_path / "arch")
    site.state.pages[path] = article("One")
    invoke = lambda *a: CliRunner().invoke(cli, ["--archive", arch, *a])  # noqa: E731
    assert invoke("watch", "add", site.url(path), "--every", "1h").exit_code == 0
    assert invoke("run", "--delay", "0").exit_code == 0
    site.state.pages[path] = article("Two")
    with Catalog(tmp_path / "arch" / "catalog.sqlite") as catalog, catalog.transaction():
        catalog.db.execute("UPDATE watches SET next_due = 0")
    return invoke


def test_notify_cmd_is_never_run_by_a_shell(tmp_path, fresh_site):
    """--notify-cmd is split into words and run as a program: what a shell
    would read as a second command is only an argument."""
    invoke = cli_watch_then_change(tmp_path, fresh_site, "/page/a")
    args_file, pwned = tmp_path / "args.json", tmp_path / "pwned"
    script = tmp_path / "hook.py"
    script.write_text(f"import json, sys\njson.dump(sys.argv[1:], open({str(args_file)!r}, 'w'))\nsys.stdin.read()\n")
    res = invoke("run", "--delay", "0", "--notify-cmd", f"{sys.executable} {script} 'two words' ; touch {pwned}")
    assert res.exit_code == 0, res.output
    assert json.loads(args_file.read_text()) == ["two words", ";", "touch", str(pwned)]
    assert not pwned.exists()


def test_notify_cmd_and_notify_url_given_twice_each_deliver(tmp_path, fresh_site):
    """Given twice, --notify-cmd and --notify-url kept only the last: every
    one given is delivered."""
    invoke = cli_watch_then_change(tmp_path, fresh_site, "/page/twice")
    outs = [tmp_path / "first.json", tmp_path / "second.json"]
    cmds = [f"{sys.executable} -c \"import sys; open(sys.argv[1], 'w').write(sys.stdin.read())\" {o}" for o in outs]
    hooks = [fresh_site.url(f"/hook/{n}") for n in (1, 2)]
    res = invoke("run", "--delay", "0", "--json", "--notify-cmd", cmds[0], "--notify-cmd", cmds[1],
                 "--notify-url", hooks[0], "--notify-url", hooks[1])
    assert res.exit_code == 0, res.output
    assert [json.loads(o.read_text())["title"] for o in outs] == ["Two", "Two"]
    summary = json.loads(res.output.splitlines()[-1])
    # Four targets: the two programs delivered; the two webhooks were tried (the site answers 404).
    assert summary["notified"] + summary["notify_failed"] == 4 and summary["notified"] >= 2, summary
    assert len(summary["notify_errors"]) == summary["notify_failed"]


def test_a_notification_that_fails_says_why(archive, fresh_site, clock, free_port):
    watch_then_change(archive, fresh_site, clock)
    summary = run_due(archive, notify=NotifyOptions(url=f"http://127.0.0.1:{free_port}/hook"))
    assert summary.notify_failed == 1
    [why] = summary.notify_errors
    # The address is named, its path (where webhook tokens live) is not.
    assert why.startswith(f"webhook http://127.0.0.1:{free_port}/…: ") and "unreachable" in why
    assert "/hook" not in why


# -- poison watches ---------------------------------------------------------------


def test_schedules_that_never_fire_or_overflow_are_refused(tmp_path):
    arch = str(tmp_path / "arch")
    invoke = lambda *a: CliRunner().invoke(cli, ["--archive", arch, *a])  # noqa: E731
    url = "https://example.org/a"
    cases = {
        ("--cron", "0 0 30 2 *"): "never fire",
        ("--cron", "0 0 31 4,6,9,11 *"): "never fire",
        ("--every", "100000000d"): "at most a year",
        ("--every", "99999999999999999999w"): "invalid duration",
        ("--cron", "99 * * * *"): "minute field '99'",
        ("--cron", "0 25 * * *"): "hour field '25'",
        ("--cron", "0 0 * 13 *"): "month field '13'",
        ("--cron", "* * * *"): "it has 4 field(s)",
    }
    for args, expected in cases.items():
        res = invoke("watch", "add", url, *args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.count("\n") == 1 and expected in res.stderr, (args, res.stderr)
    toml = tmp_path / "w.toml"
    toml.write_text('[[watch]]\nurl = "https://example.org/b"\ncron = "0 0 30 2 *"\n')
    res = invoke("watch", "import", str(toml))
    assert res.exit_code == 2 and "entry 1" in res.stderr and "never fire" in res.stderr
    assert json.loads(invoke("watch", "list", "--json").stdout) == []


def test_a_watch_that_cannot_be_scheduled_is_set_aside_not_fatal(archive, fresh_site, clock):
    """A poison schedule already in a catalog (written by an older version)
    is marked and skipped; every other watch is still captured."""
    for name in ("a", "b", "c"):
        fresh_site.state.pages[f"/page/{name}"] = article(name.upper())
        add_watch(archive, fresh_site.url(f"/page/{name}"), every="1h")
    poison = fresh_site.url("/page/b")
    with archive.catalog() as catalog, catalog.transaction():
        catalog.db.execute("UPDATE watches SET cron = '0 0 30 2 *', every_seconds = NULL WHERE url = ?", (poison,))
    summary = run_due(archive)
    assert sorted(c.url for c in summary.captures) == sorted(fresh_site.url(f"/page/{n}") for n in "abc")
    assert len(summary.unscheduled) == 1 and summary.unscheduled[0].startswith(poison + ": cannot schedule")
    by_url = {w.url: w for w in list_watches(archive)}
    assert "cannot schedule" in by_url[poison].problem
    assert by_url[fresh_site.url("/page/a")].problem is None
    clock.advance(hours=3)
    again = run_due(archive)  # the set-aside watch is skipped, the others run
    assert sorted(c.url for c in again.captures) == sorted(fresh_site.url(f"/page/{n}") for n in "ac")
    add_watch(archive, poison, every="2h")  # fixing the schedule brings it back, due at once
    assert [c.url for c in run_due(archive).captures] == [poison]


@pytest.mark.parametrize("loop", [False, True])
def test_a_watch_whose_url_cannot_be_captured_is_set_aside_and_the_rest_run(tmp_path, fresh_site, loop):
    """A watch row whose URL is not http(s) (edited by hand, or an older
    version's) made run and run --loop exit 2 before capturing anything,
    with the heartbeat left "running"."""
    from archiver.archive.catalog import Catalog

    arch = tmp_path / "arch"
    invoke = lambda *a: CliRunner().invoke(cli, ["--archive", str(arch), *a])  # noqa: E731
    good = [fresh_site.url(f"/page/ok{n}") for n in range(2)]
    for n, url in enumerate(good):
        fresh_site.state.pages[f"/page/ok{n}"] = article(f"Fine {n}")
        assert invoke("watch", "add", url, "--every", "1h").exit_code == 0
    bad = ["file:///etc/passwd", "javascript:alert(1)", "http://"]
    with Catalog(arch / "catalog.sqlite") as catalog, catalog.transaction():
        for url in bad:
            catalog.db.execute("INSERT INTO watches (url, every_seconds, added_at, next_due) VALUES (?, 3600,"
                               " '2026-01-01T00:00:00Z', 0)", (url,))
    if loop:
        from archiver.schedule.runner import run_loop

        wakes = []
        run_loop(Archive(arch, fetch_options=FetchOptions(host_delay=0)), sleep=lambda s: None,
                 stop=lambda: bool(wakes), on_summary=wakes.append)
        [summary] = wakes
        captured, unscheduled = [c.url for c in summary.captures], summary.unscheduled
    else:
        res = invoke("run", "--delay", "0", "--json")
        assert res.exit_code == 0, res.output
        out = json.loads(res.output.splitlines()[-1])
        captured, unscheduled = [c["url"] for c in out["captures"]], out["unscheduled"]
    assert sorted(captured) == sorted(good)
    assert sorted(u.split(": ", 1)[0] for u in unscheduled) == sorted(bad)
    with Catalog(arch / "catalog.sqlite") as catalog:
        assert all(r["stopped"] is not None for r in catalog.heartbeats())
        problems = {r[0]: r[1] for r in catalog.db.execute("SELECT url, problem FROM watches")}
    assert all("invalid URL" in problems[u] and "watch remove" in problems[u] for u in bad)
    assert all(problems[u] is None for u in good)
    listed = json.loads(invoke("watch", "list", "--json").stdout)
    assert len(listed) == 5
    assert invoke("watch", "remove", "file:///etc/passwd").exit_code == 0


def _settings(arch: Path) -> dict[str, tuple]:
    listed = json.loads(CliRunner().invoke(cli, ["--archive", str(arch), "watch", "list", "--json"]).stdout)
    return {w["url"]: (w["schedule"], w["tag"], w.get("browser"), w.get("notify"), w.get("headers")) for w in listed}


def test_watches_survive_a_catalog_deleted_or_set_aside(tmp_path, fresh_site):
    """reindex brought back every capture and no watch, without a word."""
    import stat

    from archiver.archive.layout import WATCH_FILE

    arch = tmp_path / "arch"
    invoke = lambda *a: CliRunner().invoke(cli, ["--archive", str(arch), *a])  # noqa: E731
    fresh_site.state.pages["/page/w1"] = article("Watched")
    assert invoke("capture", fresh_site.url("/page/w1"), "--delay", "0").exit_code == 0
    assert invoke("watch", "add", fresh_site.url("/page/w1"), "--every", "6h", "--tag", "news",
                  "--notify", "json://user:token@127.0.0.1:9/x").exit_code == 0
    assert invoke("watch", "add", "https://example.org/b", "--cron", "0 */6 * * *", "--browser").exit_code == 0
    assert invoke("watch", "add", "https://example.org/c", "--every", "1d", "--header", "X-Lang: zh").exit_code == 0
    assert invoke("watch", "add", "https://example.org/gone", "--every", "1d").exit_code == 0
    assert invoke("watch", "remove", "https://example.org/gone").exit_code == 0
    before = _settings(arch)
    assert len(before) == 3
    assert stat.S_IMODE((arch / WATCH_FILE).stat().st_mode) == 0o600
    # Deleted: the WARCs plus the watch file rebuild everything.
    for p in arch.glob("catalog.sqlite*"):
        p.unlink()
    res = invoke("reindex")
    assert res.exit_code == 0, res.output
    assert "indexed 1 captures" in res.output and f"restored 3 watch(es) from {WATCH_FILE}" in res.output
    assert _settings(arch) == before
    # A new catalog made before the reindex (one watch added to it) does not make the file forget the rest.
    for p in arch.glob("catalog.sqlite*"):
        p.unlink()
    assert invoke("watch", "add", "https://example.org/d", "--every", "2h").exit_code == 0
    res = invoke("reindex")
    assert f"restored 3 watch(es) from {WATCH_FILE}" in res.output and "kept 1 watch(es)" in res.output
    assert set(_settings(arch)) == set(before) | {"https://example.org/d"}
    # Set aside as unreadable (here: from a newer archiver), with the file gone too: carried over from it.
    (arch / WATCH_FILE).unlink()
    db = sqlite3.connect(arch / "catalog.sqlite")
    db.execute("PRAGMA user_version = 999")
    db.commit()
    db.close()
    res = invoke("reindex")
    assert res.exit_code == 0, res.output
    assert "restored 4 watch(es) from catalog.sqlite.unreadable-" in res.output, res.output
    assert set(_settings(arch)) == set(before) | {"https://example.org/d"}
    assert json.loads((arch / WATCH_FILE).read_text())["watches"][0]["url"]


# -- the outbox and leases ----------------------------------------------------------


def test_a_runner_killed_after_a_capture_still_delivers_its_notification(tmp_path, fresh_site, clock):
    """The change's message is queued in the capture's own transaction: a
    runner SIGKILLed right after the commit loses nothing."""
    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=FetchOptions(host_delay=0), clock=clock)
    watch_then_change(archive, fresh_site, clock)
    hook = SiteServer().start()
    try:
        script = (
            "import os, signal\n"
            "from archiver import Archive, FetchOptions\n"
            "from archiver.schedule.runner import NotifyOptions, run_due\n"
            f"archive = Archive({str(arch)!r}, fetch_options=FetchOptions(host_delay=0))\n"
            f"run_due(archive, notify=NotifyOptions(url={hook.url('/hook')!r}),"
            " on_capture=lambda c: os.kill(os.getpid(), signal.SIGKILL))\n"
        )
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert proc.returncode == -9, proc.stderr
        assert hook.state.posts == []  # killed before it could send anything
        [c] = Archive(arch).history(fresh_site.url("/page/a"))[-1:]
        assert c.verdict is Verdict.CHANGED
        later = run_due(Archive(arch, fetch_options=FetchOptions(host_delay=0)))
        assert later.captures == [] and later.notified == 1
        [(_, body)] = hook.state.posts
        assert json.loads(body)["verdict"] == "changed"
    finally:
        hook.stop()


def test_leases_are_renewed_while_a_run_is_long(tmp_path, fresh_site, fast_options, clock):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    add_watch(archive, fresh_site.url("/slow"), every="1h")
    stolen = []

    def thief():
        # While the first runner waits on the slow page, half an hour passes.
        while fresh_site.state.hits["/slow"] == 0:
            time.sleep(0.02)
        clock.advance(minutes=30)
        time.sleep(0.5)  # a few renewals
        with Archive(tmp_path / "arch", clock=clock).catalog() as catalog:
            stolen.extend(_claim(catalog, clock.now, "second-runner"))

    t = threading.Thread(target=thief)
    t.start()
    summary = run_due(archive, renew_every=0.05)
    t.join()
    assert len(summary.captures) == 1
    assert stolen == []  # the lease was renewed: no second runner got the watch


def test_only_the_lease_owner_settles(archive, fresh_site, clock):
    fresh_site.state.pages["/page/a"] = article("A")
    url = fresh_site.url("/page/a")
    add_watch(archive, url, every="1h")

    def hand_over(capture):
        # Meanwhile the lease passed to another runner (this one looked dead).
        with archive.catalog() as catalog, catalog.transaction():
            catalog.db.execute("UPDATE watches SET lease_owner = 'other', lease_until = 1e12, next_due = 123")

    import archiver.capture.fetch as fetch_module
    real = fetch_module.Fetcher.fetch

    async def slow_fetch(self, u):
        hand_over(None)
        return await real(self, u)

    fetch_module.Fetcher.fetch = slow_fetch
    try:
        [c] = run_due(archive).captures
    finally:
        fetch_module.Fetcher.fetch = real
    assert c.verdict is Verdict.NEW  # the capture itself is kept
    with archive.catalog() as catalog:
        row = catalog.db.execute("SELECT lease_owner, next_due, last_capture FROM watches").fetchone()
    assert tuple(row) == ("other", 123, None)  # but its new holder's schedule was not overwritten


def test_run_loop_keeps_appending_to_one_warc_file(archive, fresh_site, clock):
    for name in ("a", "b"):
        fresh_site.state.pages[f"/page/{name}"] = article(name)
        add_watch(archive, fresh_site.url(f"/page/{name}"), every="10m")
    start = clock.now

    def fake_sleep(seconds):
        clock.advance(seconds=seconds)

    run_loop(archive, sleep=fake_sleep, stop=lambda: clock.now > start + timedelta(minutes=45))
    files = sorted((archive.path / "warc").glob("*.warc.gz"))
    assert len(files) == 1  # four wakes with captures, one file
    assert len(archive.history(fresh_site.url("/page/a"))) >= 4
    run_loop(archive, sleep=fake_sleep, stop=lambda: clock.now > start + timedelta(hours=2, minutes=30))
    # past the hour-long age limit, a new file is started
    assert len(sorted((archive.path / "warc").glob("*.warc.gz"))) >= 2


def test_durations_and_bad_values():
    assert parse_duration("30m") == 1800 and parse_duration("6h") == 21600 and parse_duration("1d") == 86400
    for bad in ("", "5", "10x", "0m", "30s"):
        with pytest.raises(ConfigError):
            parse_duration(bad)


def test_watch_cli(tmp_path, fresh_site):
    arch = str(tmp_path / "arch")
    run = lambda *a, **kw: CliRunner().invoke(cli, ["--archive", arch, *a], **kw)  # noqa: E731
    url = fresh_site.url("/page.html")
    assert run("watch", "add", url, "--every", "6h", "--tag", "t").exit_code == 0
    for bad in (["--every", "soon"], ["--cron", "* *"], [], ["--every", "1h", "--cron", "0 * * * *"]):
        res = run("watch", "add", url, *bad)
        assert res.exit_code == 2 and res.stderr.startswith("error:") and res.stderr.count("\n") == 1, bad
    assert run("watch", "add", "ftp://x", "--every", "1h").exit_code == 2
    [w] = json.loads(run("watch", "list", "--json").stdout)
    assert w["url"] == url and w["schedule"] == "every 6h" and w["tag"] == "t" and w["failures"] == 0
    res = run("run", "--json", "--delay", "0")
    assert res.exit_code == 0
    summary = json.loads(res.stdout)
    assert summary["captured"] == 1 and summary["new"] == 1
    assert json.loads(run("run", "--json").stdout)["captured"] == 0
    assert run("watch", "remove", url).exit_code == 0
    missing = run("watch", "remove", url)
    assert missing.exit_code == 2 and "not watched" in missing.stderr


def test_watch_import(tmp_path, archive):
    txt = tmp_path / "list.txt"
    txt.write_text("# news\nhttps://example.org/a\n\nhttps://example.org/b\n")
    assert len(import_watches(archive, str(txt), every="1d")) == 2
    toml = tmp_path / "list.toml"
    toml.write_text('[[watch]]\nurl = "https://example.org/c"\ncron = "0 6 * * *"\n\n'
                    '[[watch]]\nurl = "https://example.org/d"\nevery = "30m"\ntag = "fast"\n')
    import_watches(archive, str(toml))
    by_url = {w.url: w for w in list_watches(archive)}
    assert by_url["https://example.org/c"].cron == "0 6 * * *" and by_url["https://example.org/d"].every_seconds == 1800
    bad = tmp_path / "bad.toml"
    bad.write_text('[[watch]]\nurl = "https://example.org/e"\nevery = "1h"\n[[watch]]\nurl = "nope"\nevery = "1h"\n')
    with pytest.raises(ConfigError, match="entry 2"):
        import_watches(archive, str(bad))
    assert "https://example.org/e" not in {w.url for w in list_watches(archive)}  # all or nothing
    with pytest.raises(ConfigError):
        import_watches(archive, str(txt))  # a plain list needs a schedule
    remove_watch(archive, "https://example.org/a")


def test_run_on_a_local_dask_cluster(tmp_path, fresh_site, fast_options, clock):
    """The same captures and verdicts with cleaning on Dask workers."""
    for name in ("a", "b", "c"):
        fresh_site.state.pages[f"/page/{name}"] = article(name.upper())
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "watch", "import", "-", "--every", "1h"])
    assert res.exit_code == 2  # import takes a file, not stdin
    for name in ("a", "b", "c"):
        add_watch(Archive(tmp_path / "arch"), fresh_site.url(f"/page/{name}"), every="1h")
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "run", "--json", "--delay", "0", "--dask", "local"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["captured"] == 3 and summary["new"] == 3
    assert sorted(c["title"] for c in summary["captures"]) == ["A", "B", "C"]
