"""Nothing a disk, a damaged file or the storage's permissions can do loses
a capture or leaves one half-written."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from siteserver import article
from warcutil import assert_archive_consistent, read_all, warc_files

from archiver import Archive, FetchOptions, Verdict
from archiver.cli import cli
from archiver.schedule.runner import NotifyOptions, add_watch, list_watches, run_due

FAST = ["--delay", "0", "--retries", "0", "--timeout", "2"]


def run(args, **kw):
    return CliRunner().invoke(cli, args, **kw)


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs: a disk that fills up for real."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def incompressible(seed: int, words: int) -> bytes:
    rng = random.Random(seed)
    text = " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
                    for _ in range(words))
    return article(f"Report {seed}", text + ".")


def fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(small_disk, fresh_site):
    arch = small_disk / "arch"
    fresh_site.state.pages["/page/first"] = article("First", "words " * 50)
    assert run(["--archive", str(arch), "capture", *FAST, fresh_site.url("/page/first")]).exit_code == 0
    outcomes = set()
    # Leave a little more room each time, so the write that fails moves
    # through the WARC records, the snapshot file and the catalog commit.
    for i, leave in enumerate(range(0, 300_000, 20_000)):
        fresh_site.state.pages[f"/page/r{i}"] = incompressible(i, 6_000)  # about 40 KB of text
        filler = fill(small_disk, leave)
        res = run(["--archive", str(arch), "capture", *FAST, fresh_site.url(f"/page/r{i}")])
        if res.exit_code:
            assert res.exit_code == 2, res.output
            assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: cannot write to "), res.stderr
            assert "the disk is full" in res.stderr and "Traceback" not in res.output
            outcomes.add("full")
        else:
            outcomes.add("kept")
        filler.unlink()
        assert_archive_consistent(arch)
    assert "full" in outcomes
    # Space again: the archive carries on, and what it lists is what it holds.
    res = run(["--archive", str(arch), "capture", *FAST, "--json", fresh_site.url("/page/r0")])
    assert res.exit_code == 0 and json.loads(res.stdout)["verdict"] in ("new", "unchanged")
    assert_archive_consistent(arch)
    before = {u: [c.verdict for c in Archive(arch).history(u)] for u in [fresh_site.url("/page/first")]}
    assert run(["--archive", str(arch), "reindex"]).exit_code == 0
    assert {u: [c.verdict for c in Archive(arch).history(u)] for u in before} == before


def test_a_full_disk_names_every_url_it_left_uncaptured(small_disk, fresh_site):
    """Disk full named only the URL being recorded; the other URLs of that
    command were silently not captured."""
    arch = small_disk / "arch"
    fresh_site.state.pages["/page/first"] = article("First", "words " * 50)
    assert run(["--archive", str(arch), "capture", *FAST, fresh_site.url("/page/first")]).exit_code == 0
    urls = []
    for i in range(8):
        fresh_site.state.pages[f"/page/big{i}"] = incompressible(100 + i, 6_000)
        urls.append(fresh_site.url(f"/page/big{i}"))
    filler = fill(small_disk, 120_000)  # room for a page or two, not eight
    try:
        res = run(["--archive", str(arch), "capture", *FAST, *urls])
    finally:
        filler.unlink()
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert "the disk is full" in res.stderr
    kept = {u for u in urls if Archive(arch).exists() and _captured(arch, u)}
    lost = [u for u in urls if u not in kept]
    assert lost
    # Each URL without a capture is named: the one being recorded, then up to five others and a count.
    if not kept and "none of the 8 URLs was captured" in res.stderr:
        pass  # it failed before the first capture (the catalog could not be written at all)
    else:
        named = [u for u in lost if u in res.stderr]
        assert len(named) == min(len(lost), 6), (lost, res.stderr)
        if len(lost) > 6:
            assert f"and {len(lost) - 6} more" in res.stderr
    assert_archive_consistent(arch)


def _captured(arch: Path, url: str) -> bool:
    try:
        return bool(Archive(arch).history(url))
    except Exception:
        return False


def test_reindex_keeps_watches_leases_outbox_and_robots(fresh_site, tmp_path, fast_options, clock, free_port):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    url = fresh_site.url("/page/a")
    fresh_site.state.pages["/page/a"] = article("One")
    add_watch(archive, url, every="6h", tag="press")
    run_due(archive)
    fresh_site.state.pages["/page/a"] = article("Two")
    clock.advance(hours=7)
    summary = run_due(archive, notify=NotifyOptions(url=f"http://127.0.0.1:{free_port}/hook"))
    assert summary.notify_failed == 1  # its message waits in the outbox
    [before] = list_watches(archive)
    with archive.catalog() as catalog:
        pending = catalog.pending_notifications(100)
        robots = catalog.db.execute("SELECT count(*) FROM robots").fetchone()[0]
    assert len(pending) == 1 and robots == 1
    res = run(["--archive", str(tmp_path / "arch"), "reindex"])
    assert res.exit_code == 0, res.output
    [after] = list_watches(archive)
    assert after == before  # schedule, next due time, last capture, tag
    with archive.catalog() as catalog:
        assert [n.payload for n in catalog.pending_notifications(100)] == [n.payload for n in pending]
        assert catalog.db.execute("SELECT count(*) FROM robots").fetchone()[0] == 1
    assert [c.verdict for c in archive.history(url)] == [Verdict.NEW, Verdict.CHANGED]


def test_reindex_rebuilds_a_garbage_catalog_and_keeps_the_old_file(site, tmp_path, fast_options):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options)
    archive.capture([site.url("/page.html")])
    catalog = tmp_path / "arch" / "catalog.sqlite"
    for extra in ("-wal", "-shm"):
        Path(str(catalog) + extra).unlink(missing_ok=True)
    catalog.write_bytes(b"this is not SQLite" * 100)
    res = run(["--archive", str(tmp_path / "arch"), "history", site.url("/page.html")])
    assert res.exit_code == 2 and "archiver reindex" in res.stderr and res.stderr.count("\n") == 1
    assert run(["--archive", str(tmp_path / "arch"), "reindex"]).exit_code == 0
    assert [c.verdict for c in archive.history(site.url("/page.html"))] == [Verdict.NEW]
    assert list((tmp_path / "arch").glob("catalog.sqlite.unreadable-*"))


def test_a_damaged_original_gets_no_revisit_and_export_refuses(site, tmp_path, fast_options):
    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=fast_options)
    url = site.url("/gzip.html")
    archive.capture([url])
    [first] = warc_files(arch)
    with sqlite3.connect(arch / "catalog.sqlite") as db:
        offset, length = db.execute("SELECT offset, length FROM records WHERE url = ? AND record_type = 'response'",
                                    (url,)).fetchone()
    with open(first, "r+b") as f:  # the file is cut inside the page's response record
        f.truncate(offset + length // 2)
    [c] = archive.capture([url])
    assert c.verdict is Verdict.UNCHANGED
    recs = [r for r in read_all(arch) if r.h("WARC-Target-URI") == url and r.type in ("response", "revisit")]
    assert recs[-1].type == "response"  # the payload was written again, not pointed at
    assert b"Gzipped" in recs[-1].content
    with sqlite3.connect(arch / "catalog.sqlite") as db:
        assert db.execute("SELECT damaged FROM records WHERE offset = ? AND warc_file = ?",
                          (offset, first.name)).fetchone()[0]
    res = run(["--archive", str(arch), "export", "--wacz", str(tmp_path / "out.wacz")])
    assert res.exit_code == 2 and first.name in res.stderr and "damaged" in res.stderr
    assert not (tmp_path / "out.wacz").exists()


def test_export_refuses_a_revisit_whose_original_is_gone(site, tmp_path, fast_options):
    arch = tmp_path / "arch"
    archive = Archive(arch, fetch_options=fast_options)
    url = site.url("/page.html")
    archive.capture([url])
    archive.capture([url])  # identical bytes: a revisit in a second file
    first, second = warc_files(arch)
    first.unlink()
    res = run(["--archive", str(arch), "export", "--wacz", str(tmp_path / "out.wacz")])
    assert res.exit_code == 2 and "missing" in res.stderr and first.name in res.stderr
    # Told to leave out what the missing file held, the revisit left behind still has no original.
    res = run(["--archive", str(arch), "export", "--wacz", str(tmp_path / "out.wacz"), "--skip-missing"])
    assert res.exit_code == 2 and "revisit" in res.stderr and second.name in res.stderr
    assert not (tmp_path / "out.wacz").exists()


def test_file_modes_follow_the_umask(site, tmp_path, fast_options):
    old = os.umask(0o022)
    try:
        arch = tmp_path / "arch"
        Archive(arch, fetch_options=fast_options).capture([site.url("/page.html")])
        assert run(["--archive", str(arch), "index"]).exit_code == 0
        assert run(["--archive", str(arch), "export", "--wacz", str(tmp_path / "out.wacz")]).exit_code == 0
        made = [*arch.glob("texts/*/*.json"), arch / "index.cdxj", tmp_path / "out.wacz", *warc_files(arch)]
        assert len(made) >= 4
        for path in made:
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    finally:
        os.umask(old)


@pytest.fixture
def read_only_archive(tmp_path, site, fast_options):
    """An archive on storage nobody may write: a tmpfs remounted read-only
    (root), or a folder without write permission (anyone else)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    mounted = os.geteuid() == 0 and not subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)], capture_output=True).returncode
    if os.geteuid() == 0 and not mounted:
        pytest.skip("cannot make read-only storage here")
    arch = mnt / "arch"
    archive = Archive(arch, fetch_options=fast_options)
    archive.capture([site.url("/page.html")])
    archive.capture([site.url("/gzip.html")])
    try:
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        else:
            for path in [arch, *arch.rglob("*")]:
                path.chmod(path.stat().st_mode & ~0o222)
        yield arch
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        else:
            for path in [arch, *arch.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)


def test_read_only_archive_reads_and_refuses_writes_in_one_line(read_only_archive, site, tmp_path):
    arch = ["--archive", str(read_only_archive)]
    res = run([*arch, "history", site.url("/page.html"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["verdict"] == "new"
    assert run([*arch, "show", site.url("/gzip.html")]).exit_code == 0
    assert run([*arch, "search", "test"]).exit_code == 0
    assert run([*arch, "watch", "list", "--json"]).exit_code == 0
    assert run([*arch, "export", "--wacz", str(tmp_path / "out.wacz")]).exit_code == 0
    for args in (["capture", *FAST, site.url("/page.html")], ["index"], ["reindex"],
                 ["watch", "add", site.url("/page.html"), "--every", "1h"]):
        res = run([*arch, *args])
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.count("\n") == 1 and "read-only" in res.stderr and "Traceback" not in res.output, args


def test_a_new_archive_in_folders_not_made_yet_is_made(site, tmp_path, read_only_archive):
    """Only the nearest folder that exists says whether an archive can be
    made: one two folders deep under a writable one was called read-only."""
    deep = tmp_path / "new" / "deeper" / "arch"
    res = run(["--archive", str(deep), "capture", *FAST, site.url("/page.html")])
    assert res.exit_code == 0, res.output
    assert (deep / "catalog.sqlite").exists()
    below = read_only_archive / "inner" / "arch"  # under read-only storage it still is
    res = run(["--archive", str(below), "capture", *FAST, site.url("/page.html")])
    assert res.exit_code == 2 and "read-only" in res.stderr and not below.exists()


def test_two_captures_in_one_second_are_each_addressable(fresh_site, tmp_path, fast_options, clock):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    url = fresh_site.url("/page/a")
    fresh_site.state.pages["/page/a"] = article("Same second", "The first version of the text, long enough.")
    [one] = archive.capture([url])
    fresh_site.state.pages["/page/a"] = article("Same second", "The second version of the text, long enough.")
    [two] = archive.capture([url])
    assert one.timestamp == two.timestamp and one.precise_timestamp != two.precise_timestamp
    arch = ["--archive", str(tmp_path / "arch")]
    res = run([*arch, "show", url, "--at", one.timestamp])
    assert res.exit_code == 2 and one.precise_timestamp in res.stderr and two.precise_timestamp in res.stderr
    assert "first version" in run([*arch, "show", url, "--at", one.precise_timestamp]).stdout
    assert "second version" in run([*arch, "show", url, "--at", two.precise_timestamp]).stdout
    d = run([*arch, "diff", url, "--from", one.precise_timestamp, "--to", two.precise_timestamp, "--format", "words"])
    assert d.exit_code == 0 and "[-first-]{+second+}" in d.stdout


def test_broken_gzip_says_the_body_could_not_be_decoded(site, tmp_path, fast_options):
    [c] = Archive(tmp_path / "arch", fetch_options=fast_options).capture([site.url("/broken-gzip.html")])
    assert c.verdict is Verdict.SOFT_ERROR
    assert c.reason.startswith("the body could not be decoded (broken gzip stream")


def test_one_slow_drip_url_is_cut_off_at_its_total_time_limit(site, tmp_path):
    options = FetchOptions(host_delay=0, read_timeout=1.0, total_timeout=1.5, retries=3, backoff=0.1)
    start = time.monotonic()
    [c] = Archive(tmp_path / "arch", fetch_options=options).capture([site.url("/drip")])
    elapsed = time.monotonic() - start
    assert c.verdict is Verdict.FAILED and "gave up after 1.5 s" in c.reason
    assert elapsed < 1.5 * 4  # not four attempts of 1.5 s each (the reason says where it stopped)


def test_a_page_past_the_cleaning_cap_is_cleaned_in_part_and_archived_whole(fresh_site, tmp_path, fast_options):
    from archiver import CleanOptions

    paras = "".join(f"<p>Paragraph {i} of a long report with words enough to count.</p>" for i in range(3000))
    fresh_site.state.pages["/page/long"] = f"<html><head><title>Long</title></head><body>{paras}</body></html>".encode()
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clean_options=CleanOptions(max_html_bytes=50_000))
    [c] = archive.capture([fresh_site.url("/page/long")])
    assert c.verdict is Verdict.NEW and c.reason.startswith("cleaned the first 50000 bytes")
    assert "Paragraph 100 of" in archive.show(c.url).snapshot.text
    [resp] = [r for r in read_all(tmp_path / "arch") if r.type == "response" and r.h("WARC-Target-URI") == c.url]
    assert b"Paragraph 2999 of" in resp.content  # the WARC has every byte


def test_a_page_whose_text_lies_past_the_cleaning_cap_says_so_in_its_reason(fresh_site, tmp_path, fast_options):
    """No text found in the part that was cleaned: the reason says the page
    was cut, which is why (it said only "no article text found")."""
    from archiver import CleanOptions

    filler = "<div data-x='" + "y" * 60_000 + "'></div>"
    body = "<p>The text of the report comes only after a long run of markup, words enough to count.</p>" * 20
    fresh_site.state.pages["/page/late"] = f"<html><head><title>Late</title></head><body>{filler}{body}</body></html>".encode()
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clean_options=CleanOptions(max_html_bytes=50_000))
    [c] = archive.capture([fresh_site.url("/page/late")])
    assert c.verdict is Verdict.SOFT_ERROR
    assert c.reason == "no article text found; cleaned the first 50000 bytes: body larger than 50000 bytes"


def test_a_body_cut_short_by_the_server_is_kept_as_evidence_and_the_capture_failed(site, tmp_path, fast_options):
    """The server hangs up mid-body on every attempt: the WARC keeps what
    arrived, marked WARC-Truncated: disconnect (WARC 1.1's reason for it),
    and the capture is `failed` saying so; nothing is cleaned (half a page
    is not the page's new text). Before, what arrived was thrown away."""
    archive = Archive(tmp_path / "arch", fetch_options=fast_options)
    [c] = archive.capture([site.url("/cut-short")])
    assert c.verdict is Verdict.FAILED and c.text_sha256 is None
    assert c.reason.startswith("the body was cut short after 400 of 100000 bytes (the server closed the connection);"
                               " what arrived is kept, marked WARC-Truncated: disconnect")
    [resp] = [r for r in read_all(tmp_path / "arch") if r.type == "response" and r.h("WARC-Target-URI") == c.url]
    assert resp.h("WARC-Truncated") == "disconnect" and len(resp.content) == 400
    assert resp.content.startswith(b"<html>") or b"Cut short" in resp.content
    assert archive.verify().ok
