"""Hostile page content and awkward input never crash a command.

A page's title or text is data: `[/bold]` in a title must print as itself,
an escape sequence must not reach the terminal, and a stray byte in a URL
list costs its own line, never the batch.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console
from siteserver import article

from archiver import termout
from archiver.cli import cli

FAST = ["--delay", "0", "--retries", "0", "--timeout", "2"]
HOSTILE = "Breaking [/bold] news [red]now[/red] \x1b[2J"


def run(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def test_markup_in_a_title_prints_as_text_everywhere(fresh_site, tmp_path):
    url = fresh_site.url("/page/hostile")
    fresh_site.state.pages["/page/hostile"] = article(HOSTILE, "The news [/] of the day, told at length " * 5)
    arch = ["--archive", str(tmp_path / "a")]
    res = run([*arch, "capture", *FAST, url])
    assert res.exit_code == 0, res.output
    assert "Breaking [/bold] news [red]now[/red]" in res.stdout
    assert "\x1b[2J" not in res.stdout  # a terminal escape from a page never reaches the terminal
    hist = run([*arch, "history", url])
    assert hist.exit_code == 0 and "Breaking [/bold] news" in hist.stdout
    found = run([*arch, "search", "news"])
    assert found.exit_code == 0 and "Breaking [/bold] news" in found.stdout and "[/]" in found.stdout
    assert run([*arch, "watch", "add", url, "--every", "1h", "--tag", "[/tag]"]).exit_code == 0
    listed = run([*arch, "watch", "list"])
    assert listed.exit_code == 0 and "[/tag]" in listed.stdout
    fresh_site.state.pages["/page/hostile"] = article(HOSTILE + " [/]", "Changed [/bold] text " * 10)
    res = run([*arch, "run", "--delay", "0"])
    assert res.exit_code == 0, res.output
    assert "run summary" in res.stdout


def test_bidirectional_overrides_in_a_title_do_not_reach_the_terminal(fresh_site, tmp_path):
    """An override left open (U+202E) would reverse what a terminal shows
    after it; the stored title keeps it, the terminal gets none."""
    url = fresh_site.url("/page/bidi")
    title = "\u202eevil\u202c title \u2066x\u2069 \u200fmark"
    fresh_site.state.pages["/page/bidi"] = article(title, "The news of the day, told at length " * 5)
    arch = ["--archive", str(tmp_path / "a")]
    res = run([*arch, "capture", *FAST, url])
    assert res.exit_code == 0, res.output
    for listing in (res.stdout, run([*arch, "history", url]).stdout, run([*arch, "search", "news"]).stdout):
        assert "evil title x \u200fmark" in listing
        assert not any(c in listing for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    shown = json.loads(run([*arch, "show", url, "--json"]).stdout)
    assert shown["title"] == title


def test_run_loop_survives_a_hostile_title(fresh_site, tmp_path):
    """The loop reports each round through the same code: one hostile page
    must not end scheduled archiving."""
    from archiver import Archive
    from archiver.schedule.runner import add_watch

    url = fresh_site.url("/page/hostile")
    # An error stub: its reason, which quotes the title, is printed each round.
    fresh_site.state.pages["/page/hostile"] = (
        b"<html><head><title>404 [/bold] Not Found</title></head><body><p>Nothing [/] here.</p></body></html>")
    add_watch(Archive(tmp_path / "a"), url, every="1h")
    script = (
        "import sys\n"
        "from archiver.cli import cli\n"
        "import archiver.schedule.runner as s\n"
        "rounds = iter([False, True, True, True])\n"
        "real = s.run_loop\n"
        "s.run_loop = lambda archive, **kw: real(archive, sleep=lambda x: None, stop=lambda: next(rounds), **kw)\n"
        "import archiver.cli as c\n"
        "c.run_loop = s.run_loop\n"
        f"cli(['--archive', {str(tmp_path / 'a')!r}, 'run', '--loop', '--delay', '0'])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "soft_error" in proc.stdout and 'title "404 [/bold] Not Found"' in proc.stdout


def test_rules_explain_shows_bracket_selectors(tmp_path):
    page = tmp_path / "page.html"
    words = "A sentence of the article that goes on for a while. " * 20
    page.write_text(f"<html><body><div role='banner'>Site banner</div><div role='navigation'>Menu</div>"
                    f"<article><p>{words}</p></article></body></html>")
    res = run(["rules", "explain", str(page), "--url", "https://example.org/a"])
    assert res.exit_code == 0, res.output
    assert "[role='banner']" in res.stdout and "[role='navigation']" in res.stdout
    assert "Site banner" in res.stdout


def test_piped_tables_keep_each_url_whole(fresh_site, tmp_path):
    path = "/page/" + "a-long-path-segment-" * 6 + "end.html"
    fresh_site.state.pages[path] = article("A title", "words " * 40)
    url = fresh_site.url(path)
    arch = ["--archive", str(tmp_path / "a")]
    res = run([*arch, "capture", *FAST, url])
    assert res.exit_code == 0 and any(url in line for line in res.stdout.splitlines())
    res = run([*arch, "watch", "add", url, "--every", "1h"])
    listed = run([*arch, "watch", "list"]).stdout.splitlines()
    assert any(url in line for line in listed)


def test_tables_never_break_urls_or_timestamps():
    url = "http://127.0.0.1:8765/a/very/long/path/that/would/not/fit/in/a/narrow/terminal/at/all.html"
    row = ["20261129001432", url, "A title that goes on and on and on for a long while, longer than any terminal"]
    cols = [termout.Column("timestamp"), termout.Column("url"), termout.Column("title", flex=True)]
    narrow = io.StringIO()
    termout.print_table(cols, [row], out=Console(file=narrow, width=40, force_terminal=True, color_system=None))
    text = narrow.getvalue()
    assert url in text and "20261129001432" in text and "…" in text  # the title gave way, not the URL
    piped = io.StringIO()
    termout.print_table(cols, [row], out=Console(file=piped, width=40, color_system=None))
    lines = piped.getvalue().splitlines()
    assert len(lines) == 3 and row[2] in lines[2] and url in lines[2]  # one line per row, nothing cut


def test_archive_option_after_the_subcommand_and_from_the_environment(site, tmp_path):
    arch = tmp_path / "later"
    res = run(["capture", *FAST, "--json", site.url("/page.html"), "--archive", str(arch)])
    assert res.exit_code == 0, res.output
    assert (arch / "catalog.sqlite").exists()
    assert run(["history", site.url("/page.html"), "--archive", str(arch), "--json"]).exit_code == 0
    env = run(["history", site.url("/page.html"), "--json"], env={"ARCHIVER_HOME": str(arch)})
    assert env.exit_code == 0 and json.loads(env.stdout)[0]["verdict"] == "new"


# -- URL input -------------------------------------------------------------------


def archiver_exe() -> str:
    return str(Path(sys.executable).parent / "archiver")


def test_a_non_utf8_url_in_argv_is_one_line_and_the_rest_is_captured(site, tmp_path):
    bad = os.fsencode(site.url("/page.html")) + b"\xff"
    proc = subprocess.run([archiver_exe(), "--archive", str(tmp_path / "a"), "capture", *FAST, "--json",
                           bad, site.url("/gzip.html").encode()], capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.count("\n") == 1 and "not UTF-8" in err
    [line] = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert line["verdict"] == "new" and line["title"] == "Gzipped"


def test_url_files_name_file_and_line(site, tmp_path):
    good = site.url("/page.html")
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(b"\xef\xbb\xbf" + good.encode() + b"\n# a comment\nhttp://127.0.0.1/caf\xe9\n" + b"not a url\n")
    proc = subprocess.run([archiver_exe(), "--archive", str(tmp_path / "a"), "capture", *FAST, "--json", "-i", "-"],
                          input=mixed.read_bytes(), capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    assert "stdin:3: not UTF-8 text" in err and "stdin:4: invalid URL" in err
    [line] = [json.loads(x) for x in proc.stdout.decode().splitlines()]
    assert line["url"] == good and line["verdict"] == "new"  # the BOM did not stick to the first URL
    res = run(["--archive", str(tmp_path / "a"), "capture", *FAST, "-i", str(mixed)])
    assert f"{mixed}:3: not UTF-8 text" in res.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    res = run(["--archive", str(tmp_path / "a"), "capture", "-i", str(empty)])
    assert res.exit_code == 2 and res.stderr.strip() == f"error: {empty}: holds no URLs (one per line; lines starting with # are comments)"


def test_a_password_in_a_url_is_refused_and_never_shown(site, tmp_path):
    """It would be sent, and kept in WARC records, the catalog and every
    listing; the refusal says where credentials go instead."""
    arch = ["--archive", str(tmp_path / "a")]
    url = site.url("/page.html").replace("http://", "http://me:hunter2@")
    for args in (["capture", *FAST, url], ["watch", "add", url, "--every", "1h"]):
        res = run([*arch, *args])
        assert res.exit_code == 2
        assert "hunter2" not in res.output and "me:***@" in res.stderr and "credential set" in res.stderr
    assert not (tmp_path / "a" / "catalog.sqlite").exists() or "hunter2" not in run([*arch, "watch", "list"]).output
    assert run([*arch, "capture", *FAST, site.url("/page.html").replace("http://", "http://me@")]).exit_code == 0


def test_another_librarys_warning_quoting_a_warc_is_one_printable_line(tmp_path):
    """warcio warns "Replacing spaces in invalid WARC-Target-URI: <uri>"
    with the URI as the file has it; with no handler of its own, Python's
    last-resort handler wrote it raw, so a WARC could put escape sequences
    on the terminal of whoever ingests it. A process of its own, as a user
    runs it (pytest's log capture would hide the last-resort handler)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "hostile.warc.gz"
    body = b"<html><head><title>Harbour</title></head><body><article><p>" + b"The board met on a Monday. " * 40
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.0")
        writer.write_record(writer.create_warc_record("http://example.org/a b\x1b[31mRED\x07", "response",
                                                      payload=io.BytesIO(body), http_headers=http))
    run = subprocess.run([sys.executable, "-m", "archiver", "--archive", str(tmp_path / "arch"), "ingest", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert any(line.startswith("warning: Replacing spaces in invalid WARC-Target-URI: http://example.org/a b")
               for line in lines), run.stderr
    assert not any(ch in run.stderr for ch in "\x1b\x07")
