"""The archive over time: verdicts, history, show, diff, search, reindex."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner
from warcutil import read_all

from archiver import Archive, SnapshotNotFound, Verdict
from archiver.cli import cli
from archiver.errors import StoreError

LONG = " ".join(f"Sentence {i} of the council's report on the river ferry, its costs and its future." for i in range(40))


def page(title: str, extra: str = "", body: str = LONG) -> bytes:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<meta name='date' content='2026-02-01'></head><body><nav><a href='/'>Home</a> <a href='/x'>Other</a></nav>"
            f"<article><h1>{title}</h1><p>{body}</p><p>The ferry will run until the bridge opens.</p>{extra}"
            f"</article><footer>Ad slot {{n}}</footer></body></html>").encode()


@pytest.fixture
def lifecycle(fresh_site, tmp_path, fast_options, clock):
    """One URL captured five times as the page changes and breaks."""
    url = fresh_site.url("/page/ferry")
    pages = fresh_site.state.pages
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    steps = []

    def step(body: bytes | None, *, status: str | None = None) -> object:
        clock.advance(hours=6)
        if status:
            pages.pop("/page/ferry", None)
            fresh_site.state.pages["/status"] = status.encode()
        else:
            pages["/page/ferry"] = body
        [c] = archive.capture([url])
        steps.append(c)
        return c

    pages["/page/ferry"] = page("Ferry to keep running").replace(b"{n}", b"1")
    clock.advance(hours=1)
    [first] = archive.capture([url])
    steps.append(first)
    # the footer "ad" changes every fetch: the clean text does not
    step(page("Ferry to keep running").replace(b"{n}", b"2"))
    edited = page("Ferry to keep running", body=LONG.replace("Sentence 20 of", "Sentence 20, amended, of"))
    step(edited.replace(b"{n}", b"3"))
    error_stub = (b"<html><head><title>Error</title></head><body><h1>Error</h1>"
                  b"<p>The website encountered an unexpected error. Please try again later.</p></body></html>")
    step(error_stub)
    return archive, url, steps


def test_lifecycle_verdicts(lifecycle, fresh_site, tmp_path, clock):
    archive, url, steps = lifecycle
    assert [c.verdict for c in steps] == [Verdict.NEW, Verdict.UNCHANGED, Verdict.CHANGED, Verdict.SOFT_ERROR]
    new, unchanged, changed, soft = steps
    assert unchanged.text_sha256 == new.text_sha256 and changed.text_sha256 != new.text_sha256
    assert soft.text_sha256 is None and "The website encountered an unexpected error" in soft.reason
    # two distinct texts -> two JSON files, and readable
    files = sorted((tmp_path / "arch" / "texts").rglob("*.json"))
    assert len(files) == 2
    data = json.loads(files[0].read_text())
    assert data["format"] == "archiver-snapshot-1" and data["warc"]["record_id"].startswith("<urn:uuid:")
    # a 500, then a 404: archived and listed, and never replace the text
    fresh_site.state.pages["/page/ferry"] = b"HTTP 500 Internal Server Error"
    clock.advance(hours=6)
    [broken] = archive.capture([url])
    assert broken.verdict is Verdict.HTTP_ERROR and broken.status_code == 500
    fresh_site.state.pages.pop("/page/ferry")
    clock.advance(hours=6)
    [gone] = archive.capture([url])
    assert gone.verdict is Verdict.HTTP_ERROR and gone.status_code == 404
    assert [c.verdict for c in archive.history(url)][-2:] == [Verdict.HTTP_ERROR, Verdict.HTTP_ERROR]
    assert len([r for r in read_all(tmp_path / "arch") if r.type == "response" and r.http_status == "500"]) == 1
    shown = archive.show(url)
    assert shown.capture.timestamp == changed.timestamp
    assert "Sentence 20, amended, of" in shown.snapshot.text


def test_unchanged_text_with_new_bytes_is_stored_once(lifecycle, tmp_path):
    archive, url, steps = lifecycle
    recs = [r for r in read_all(tmp_path / "arch") if r.h("WARC-Target-URI") == url]
    # the ad changed, so the bytes differ: both responses are in the WARC ...
    assert [r.type for r in recs if r.type in ("response", "revisit")][:2] == ["response", "response"]
    # ... but one text file, and both captures point at it
    assert steps[0].snapshot_file == steps[1].snapshot_file
    meta = [r for r in recs if r.type == "metadata"]
    assert len(meta) == 4 and b"archiver-verdict: unchanged" in meta[1].content


def test_identical_bytes_recapture_is_a_revisit_and_unchanged(site, tmp_path, fast_options, clock):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    [a] = archive.capture([site.url("/gzip.html")])
    clock.advance(hours=1)
    [b] = archive.capture([site.url("/gzip.html")])
    assert (a.verdict, b.verdict) == (Verdict.NEW, Verdict.UNCHANGED)
    types = [r.type for r in read_all(tmp_path / "arch") if r.h("WARC-Target-URI") == site.url("/gzip.html")]
    assert types.count("revisit") == 1 and types.count("response") == 1


def test_history_order_fields_and_cli(lifecycle, tmp_path):
    archive, url, steps = lifecycle
    hist = archive.history(url)
    assert [c.timestamp for c in hist] == sorted(c.timestamp for c in steps)
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "history", url, "--json"])
    assert res.exit_code == 0
    rows = json.loads(res.stdout)
    assert [r["verdict"] for r in rows] == ["new", "unchanged", "changed", "soft_error"]
    for field in ("timestamp", "captured_at", "status_code", "verdict", "title", "word_count", "text_sha256"):
        assert field in rows[0]
    assert rows[0]["captured_at"].endswith("Z") and rows[0]["title"] == "Ferry to keep running"
    table = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "history", url])
    assert "* changed" in table.stdout and "soft_error" in table.stdout


def test_show_with_prefix_timestamps(lifecycle, tmp_path):
    archive, url, steps = lifecycle
    new, unchanged, changed, soft = steps
    old = archive.show(url, new.timestamp[:12])
    assert "Sentence 20 of" in old.snapshot.text
    # asking for the error capture shows the text in force then
    at_error = archive.show(url, soft.timestamp)
    assert at_error.asked.verdict is Verdict.SOFT_ERROR and at_error.capture.timestamp == changed.timestamp
    with pytest.raises(StoreError, match="ambiguous"):
        archive.show(url, new.timestamp[:4])
    with pytest.raises(SnapshotNotFound):
        archive.show(url, "1999")
    with pytest.raises(StoreError, match="bad timestamp"):
        archive.show(url, "yesterday")
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "show", url, "--at", soft.timestamp])
    assert res.exit_code == 0 and "soft_error" in res.stderr and "amended" in res.stdout
    js = json.loads(CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "show", url, "--json"]).stdout)
    assert js["timestamp"] == changed.timestamp and js["title"] == "Ferry to keep running"
    missing = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "show", url + "x"])
    assert missing.exit_code == 2 and "not in the archive" in missing.stderr and "did you mean" in missing.stderr


def test_diff_shows_exactly_the_edit(lifecycle, tmp_path):
    archive, url, steps = lifecycle
    d = archive.diff(url)
    assert d.older.timestamp == steps[1].timestamp and d.newer.timestamp == steps[2].timestamp
    [hunk] = d.hunks
    [change] = [c for c in hunk if c.op != "equal"]
    assert change.op == "replace"
    assert [w for w in change.words if w[0] != "equal"] == [("insert", ", amended,")]
    run = lambda *a: CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "diff", url, *a])  # noqa: E731
    words = run("--format", "words").stdout
    assert "{+, amended,+}" in words
    unified = run().stdout
    assert unified.startswith("--- ") and "\n-" in unified and "\n+" in unified
    js = json.loads(run("--format", "json").stdout)
    assert js["hunks"][0][0]["op"] in ("equal", "replace")
    explicit = run("--from", steps[0].timestamp, "--to", steps[3].timestamp, "--format", "json")
    assert json.loads(explicit.stdout)["to"]["timestamp"] == steps[2].timestamp  # the text in force at the error


def test_diff_reports_metadata_and_html_escapes(fresh_site, tmp_path, fast_options, clock):
    url = fresh_site.url("/page/x")
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    fresh_site.state.pages["/page/x"] = page("Old title").replace(b"{n}", b"1")
    archive.capture([url])
    clock.advance(hours=1)
    sneaky = "&lt;script&gt;alert('x')&lt;/script&gt; and <b>bold</b> claims"
    fresh_site.state.pages["/page/x"] = page("New title", body=LONG + " " + sneaky).replace(b"{n}", b"2")
    archive.capture([url])
    d = archive.diff(url)
    assert d.metadata["title"] == ("Old title", "New title")
    out = tmp_path / "diff.html"
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "diff", url, "--format", "html", "-o", str(out)])
    assert res.exit_code == 0
    html = out.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<ins>" in html and "http://" not in html.split("<body>")[0].replace(url, "")  # no external assets
    assert "Old title" in html and "New title" in html


def test_one_megabyte_diff_is_fast(tmp_path):
    import time

    from archiver.archive.diff import diff_snapshots
    from archiver.models import Capture

    paras = [f"Paragraph {i}: " + " ".join(f"word{i}_{k}" for k in range(20)) for i in range(5000)]
    old = "\n\n".join(paras)
    new_paras = list(paras)
    for i in range(0, 5000, 250):
        new_paras[i] = new_paras[i].replace("word", "WORD", 3)
    new = "\n\n".join(new_paras)
    assert len(old) > 1_000_000
    cap = Capture(url="u", final_url=None, status_code=200, verdict=Verdict.NEW, timestamp="1", captured_at="")
    t0 = time.perf_counter()
    from archiver.models import StoredSnapshot
    d = diff_snapshots(StoredSnapshot(text_sha256="a", url=None, text=old),
                       StoredSnapshot(text_sha256="b", url=None, text=new), older=cap, newer=cap)
    assert time.perf_counter() - t0 < 5  # well under a second on a laptop; loose for CI
    assert sum(1 for h in d.hunks for c in h if c.op == "replace") == 20


def test_search_ranks_and_snippets(fresh_site, tmp_path, fast_options, clock):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    pages = {
        "/page/a": page("Ferry budget", body=LONG + " The ferry ferry ferry budget dominates."),
        "/page/b": page("Bridge works", body="The bridge is late. " * 30 + " A ferry is mentioned once."),
        "/page/c": page("Library hours", body="The library opens at nine. " * 30),
    }
    for path, body in pages.items():
        fresh_site.state.pages[path] = body.replace(b"{n}", b"1")
    archive.capture([fresh_site.url(p) for p in pages])
    hits = archive.search("ferry")
    assert [h.url for h in hits][:2] == [fresh_site.url("/page/a"), fresh_site.url("/page/b")]
    assert all("[ferry]" in h.snippet.lower() for h in hits)
    assert archive.search("library")[0].title == "Library hours"
    assert archive.search("nav OR Home") == [] or all("Home" not in h.snippet for h in archive.search("Home"))
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "search", "bridge", "--json", "--limit", "1"])
    [hit] = json.loads(res.stdout)
    assert set(hit) == {"url", "timestamp", "title", "snippet"}
    # search sees the current text only: a changed page is found by its new words
    clock.advance(hours=1)
    fresh_site.state.pages["/page/c"] = page("Library hours", body="The library now opens at ten. " * 30).replace(b"{n}", b"2")
    archive.capture([fresh_site.url("/page/c")])
    assert archive.search("nine") == []
    assert len(archive.search("ten")) == 1


def test_reindex_gives_the_same_history(lifecycle, tmp_path):
    archive, url, steps = lifecycle
    before = [c.history_json() for c in archive.history(url)]
    shown = archive.show(url).snapshot.text
    hits = archive.search("amended")
    (tmp_path / "arch" / "catalog.sqlite").unlink()
    for extra in ("-wal", "-shm"):
        (tmp_path / "arch" / f"catalog.sqlite{extra}").unlink(missing_ok=True)
    report = archive.reindex()
    assert report.captures == 4 and report.texts == 2
    assert [c.history_json() for c in archive.history(url)] == before
    assert archive.show(url).snapshot.text == shown
    assert archive.search("amended") == hits
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "reindex"])
    assert res.exit_code == 0 and "indexed 4 captures" in res.stdout


def test_reading_an_archive_that_does_not_exist(tmp_path):
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "nothing"), "history", "http://x/"])
    assert res.exit_code == 2 and "no archive at" in res.stderr and not (tmp_path / "nothing").exists()


def test_catalog_schema_is_versioned(tmp_path, site, fast_options):
    Archive(tmp_path / "a", fetch_options=fast_options).capture([site.url("/page.html")])
    db = sqlite3.connect(tmp_path / "a" / "catalog.sqlite")
    from archiver.archive.catalog import SCHEMA_VERSION
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "a"), "history", site.url("/page.html")])
    assert res.exit_code == 2 and "newer than this archiver" in res.stderr


def test_capture_killed_before_the_catalog_commit_is_recovered(site, tmp_path):
    """SIGKILL after the WARC records are written but before the catalog row
    commits: the next open indexes what the WARC holds, so they agree."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    arch = tmp_path / "arch"
    script = textwrap.dedent(f"""
        import os, signal
        from archiver import Archive, FetchOptions
        from archiver.archive.catalog import Catalog
        real = Catalog.add_capture
        def add_then_die(self, capture, **kw):
            if "gzip" in capture.url:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, capture, **kw)
        Catalog.add_capture = add_then_die
        archive = Archive({str(arch)!r}, fetch_options=FetchOptions(host_delay=0, retries=0))
        archive.capture([{site.url('/page.html')!r}])
        archive.capture([{site.url('/gzip.html')!r}])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert list((arch / "warc").glob("*.open"))  # the killed writer's file
    [left] = (arch / "warc").glob("*.open")
    # opening for a capture recovers and indexes, and says so (a read-only look does not write)
    res = CliRunner().invoke(cli, ["--archive", str(arch), "capture", "--delay", "0", "--retries", "0",
                                   site.url("/http10.html")])
    assert res.exit_code == 0, res.output
    assert res.stderr.startswith(f"warning: {left.name[:-len('.open')]}: left open by a process that ended;"
                                 " closed at its last complete record (")
    assert not list((arch / "warc").glob("*.open"))
    archive = Archive(arch)
    [g] = archive.history(site.url("/gzip.html"))
    assert g.verdict is Verdict.NEW and g.title == "Gzipped"
    assert archive.show(site.url("/gzip.html")).snapshot.title == "Gzipped"
    assert [c.verdict for c in archive.history(site.url("/page.html"))] == [Verdict.NEW]
    assert os.path.exists(arch / g.warc_file)


def test_two_processes_capture_into_one_archive(site, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "archiver")
    arch = str(tmp_path / "arch")
    urls = [[site.url(f"/page.html?p={i}") for i in range(0, 6)], [site.url(f"/page.html?p={i}") for i in range(3, 9)]]
    procs = [subprocess.Popen([exe, "--archive", arch, "capture", "--json", "--delay", "0", *u],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for u in urls]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    lines = [json.loads(x) for out, _ in outs for x in out.splitlines()]
    assert len(lines) == 12
    archive = Archive(arch)
    for i in range(9):
        hist = archive.history(site.url(f"/page.html?p={i}"))
        expected = 2 if 3 <= i < 6 else 1
        assert len(hist) == expected
        # verdicts are decided at commit, timestamps at fetch: with two
        # processes racing, the "new" one need not carry the earlier time
        assert sorted(c.verdict.value for c in hist) == ["new"] + ["unchanged"] * (expected - 1)
    from warcutil import warc_files, warcio_check
    for f in warc_files(tmp_path / "arch"):
        warcio_check(f)


def test_a_long_paragraph_edited_in_places_is_summarised_in_time():
    """Each `changed` capture is summarised (words added and removed) in the
    capturing process's writer, where every other capture waits: difflib
    over one paragraph of 20,000 words, edited in places, took 143 s. Long
    texts are aligned by runs of words first."""
    import random
    import time

    from archiver.archive.diff import summarize_change, word_diff

    rng = random.Random(7)
    words = [rng.choice(["the", "harbour", "board", "of", "toll", "and", "river", "wall", "a", "ferry"])
             for _ in range(20_000)]
    edited = [w if i % 40 else "CHANGED" for i, w in enumerate(words)]  # 500 words replaced
    old, new = " ".join(words), " ".join(edited)
    t0 = time.process_time()
    summary = summarize_change(old, new)
    spent = time.process_time() - t0
    # 500 words replaced; aligned by runs, a text of ten distinct words comes
    # out within a few words of that (a text of real vocabulary, exactly)
    assert 500 <= summary.words_added == summary.words_removed <= 525
    assert spent < 10.0, spent
    ops = word_diff(old, new)  # what it gives still rebuilds both texts exactly
    assert "".join(t for op, t in ops if op != "insert") == old
    assert "".join(t for op, t in ops if op != "delete") == new
    rewritten = word_diff(old, " ".join(reversed(words)))  # too much changed to compare word by word: in bounded time
    assert "".join(t for op, t in rewritten if op != "delete") == " ".join(reversed(words))
    # Paragraphs too: 100,000 short ones of five kinds (a page of "Share this"
    # and "Advertisement" lines), a few changed.
    paras = [rng.choice(["Advertisement", "Read more", "Share this", "Subscribe", "Related"]) for _ in range(100_000)]
    changed = [p if i % 500 else "A new paragraph" for i, p in enumerate(paras)]
    t0 = time.process_time()
    summary = summarize_change("\n\n".join(paras), "\n\n".join(changed))
    assert time.process_time() - t0 < 10.0
    assert "new paragraph" in summary.added and summary.words_added >= 200
    # A text that repeats itself (one sentence of Chinese, 100,000 times)
    # with a sentence inserted: what both begin and end with is set aside.
    old = "中国人权的文章内容。" * 100_000
    new = old[:500_000] + "新增的句子。" + old[500_000:]
    t0 = time.process_time()
    summary = summarize_change(old, new)
    assert time.process_time() - t0 < 10.0
    assert summary.added == "新增的句子。" and summary.words_removed == 0


def _damage_record(path, rec_type: str, url: str) -> None:
    """Garble the deflate data of the record of `rec_type` for `url` (bit rot)."""
    from archiver.capture.warc import iter_complete_records

    [at] = [offset for offset, _, r, _ in iter_complete_records(path)
            if r.rec_type == rec_type and r.rec_headers.get_header("WARC-Target-URI") == url]
    data = bytearray(path.read_bytes())
    for i in range(at + 12, at + 40):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def test_reindex_reads_past_a_damaged_record(fresh_site, tmp_path, fast_options, clock):
    """Each record is a gzip member of its own, so a damaged one loses only
    itself. reindex stopped reading a file at the first damaged record, and
    every capture after it dropped out of the catalog (history, search,
    show); it now reads on from the next whole record, and says what it
    skipped."""
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)
    urls = [fresh_site.url(f"/page/{n}") for n in "abcd"]
    for n, url in zip("abcd", urls):
        fresh_site.state.pages[f"/page/{n}"] = page(f"Story {n}")
    with archive.writing():
        for url in urls:
            archive.capture([url])
    [warc] = (tmp_path / "arch" / "warc").glob("*.warc.gz")
    _damage_record(warc, "response", urls[1])
    (tmp_path / "arch" / "catalog.sqlite").unlink()
    for extra in ("-wal", "-shm"):
        (tmp_path / "arch" / f"catalog.sqlite{extra}").unlink(missing_ok=True)
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "reindex"])
    assert res.exit_code == 0, res.output
    assert f"warning: {warc.name}: unreadable from byte " in res.stderr and "read on from there" in res.stderr
    assert "indexed 4 captures" in res.stdout  # the damaged response's capture keeps its metadata record
    for url in (urls[2], urls[3]):  # after the damage
        assert Archive(tmp_path / "arch").show(url).snapshot.title.startswith("Story")


def test_recovery_cuts_a_torn_tail_but_not_what_follows_damage(site, tmp_path, fast_options):
    """A killed writer leaves a torn tail, which recovery cuts off. Damage
    before whole records is not a crash's doing: cutting at it would throw
    the records after it away."""
    from archiver.capture.warc import iter_complete_records, recover_open_files

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    with archive.writing():
        archive.capture([site.url("/page.html")])
        archive.capture([site.url("/gzip.html")])
        name = archive._writer.current_file  # noqa: SLF001 - the file being written
        path = archive.warc_dir / (name + ".open")
        size = path.stat().st_size
        import shutil
        shutil.copy(path, tmp_path / "copy")
    left = archive.warc_dir / (name + ".open")
    shutil.copy(tmp_path / "copy", left)
    (archive.warc_dir / name).unlink()
    _damage_record(left, "response", site.url("/page.html"))
    with open(left, "ab") as f:
        f.write(b"\x1f\x8b\x08\x00torn")  # a record the writer never finished
    assert recover_open_files(archive.warc_dir) == [name]
    assert (archive.warc_dir / name).stat().st_size == size  # only the torn tail went
    skipped: list[str] = []
    urls = {r.rec_headers.get_header("WARC-Target-URI")
            for _, _, r, _ in iter_complete_records(archive.warc_dir / name, skipped, resync=True)
            if r.rec_type == "response"}
    assert site.url("/gzip.html") in urls and len(skipped) == 1  # the damaged response alone


def test_verify_names_the_damaged_record_and_checks_the_ones_after_it(fresh_site, tmp_path, fast_options, clock):
    """verify stopped reading a file at a damaged record, then called every
    later record of the file missing from it; it reads on at the next whole
    record, so what it says is the damage, and the file's hash."""
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)
    urls = [fresh_site.url(f"/page/{n}") for n in "abc"]
    for n in "abc":
        fresh_site.state.pages[f"/page/{n}"] = page(f"Story {n}")
    with archive.writing():
        for url in urls:
            archive.capture([url])
    [warc] = (tmp_path / "arch" / "warc").glob("*.warc.gz")
    records = archive.verify().records
    _damage_record(warc, "response", urls[0])
    report = archive.verify()
    assert not report.ok
    about = [p.what for p in report.problems]
    # the damaged member; the catalog's row and capture that point at it; the file's hash
    assert len(about) == 4, about
    assert any("broken gzip data" in w for w in about) and any("SHA-256" in w for w in about)
    assert all(urls[1] not in w and urls[2] not in w for w in about)  # nothing said of the records after it
    assert report.records == records - 1  # every other record read and checked


def test_an_sqlite_error_on_the_way_out_is_one_line_not_a_traceback(fresh_site, tmp_path, fast_options, clock):
    """A catalog edited by hand (a table dropped) under a command that reads
    it: SQLite's error reaches the user as one line, exit 2, in one place."""
    import sqlite3

    from click.testing import CliRunner
    from siteserver import article

    from archiver.cli import cli

    fresh_site.state.pages["/page/q"] = article("Query")
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    archive.capture([fresh_site.url("/page/q")])
    db = sqlite3.connect(tmp_path / "arch" / "catalog.sqlite")
    db.execute("DROP TABLE captures")
    db.commit()
    db.close()
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "history", fresh_site.url("/page/q")])
    assert res.exit_code == 2 and res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.stderr == "error: the catalog could not answer: no such table: captures\n", res.stderr


def test_a_query_matching_more_pages_than_the_window_ranks_the_newest_and_filters_come_first(tmp_path, monkeypatch):
    from archiver.archive import index
    from archiver.archive.catalog import Catalog

    catalog = Catalog(tmp_path / "catalog.sqlite")
    with catalog.transaction():
        # The oldest page is the best match; eight newer ones say "ferry" once.
        catalog.set_current("https://old.example/best", sha256="0" * 64, timestamp="20250101000000",
                            title="Ferry ferry", text="ferry ferry ferry ferry ferry timetable")
        for i in range(8):
            catalog.set_current(f"https://new.example/{i}", sha256=f"{i + 1:064d}", timestamp=f"2026010{i + 1}000000",
                                title=f"Page {i}", text=f"a long page {i} that mentions the ferry once among many words")
        catalog.set_current("https://han.example/", sha256="f" * 64, timestamp="20250101000000",
                            title="渡轮", text="渡轮时刻表 渡轮 渡轮")
    assert catalog.search("ferry", 3)[0].url == "https://old.example/best"
    monkeypatch.setattr(index, "RANK_WINDOW", 4)
    newest = catalog.search("ferry", 20)
    assert len(newest) == 4 and {h.url for h in newest} == {f"https://new.example/{i}" for i in range(4, 8)}
    # paging past the window widens it, and a filter narrows before the window is drawn
    assert len(catalog.search("ferry", 20, offset=4)) == 4
    assert [h.url for h in catalog.search("ferry", 20, site="old.example")] == ["https://old.example/best"]
    assert [h.url for h in catalog.search("ferry", 20, until="20250102")] == ["https://old.example/best"]
    assert [h.url for h in catalog.search("渡轮", 20)] == ["https://han.example/"]
    catalog.close()
