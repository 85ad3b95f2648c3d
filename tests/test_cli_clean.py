"""`archiver clean` and `archiver rules explain` through click's runner."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

from archiver.cli import cli

FIX = Path(__file__).parent / "fixtures" / "clean"
HRIC = "https://www.hrichina.org/en/lanterns-and-ledgers"
FIELDS = {"url", "status", "title", "authors", "published", "language", "sitename", "text", "word_count", "rules"}


def run(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def test_one_input_json_is_one_object():
    res = run(["clean", str(FIX / "article_semantic.html"), "--url", HRIC, "--format", "json"])
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert FIELDS <= set(data) and "source" not in data
    assert data["status"] == "ok" and data["rules"] == ["default", "hrichina.org"]
    assert data["word_count"] == len(data["text"].split())
    assert isinstance(data["authors"], list) and data["published"] == "2011-03-04"


def test_several_inputs_are_json_lines_with_source(tmp_path):
    gz = tmp_path / "legacy.html.gz"
    gz.write_bytes(gzip.compress((FIX / "article_legacy.html").read_bytes()))
    paths = [str(FIX / "article_semantic.html"), str(gz), str(FIX / "error_stub.html")]
    res = run(["clean", *paths, "--url", HRIC, "--format", "json"])
    assert res.exit_code == 0
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [x["source"] for x in lines] == paths
    assert [x["status"] for x in lines] == ["ok", "ok", "error_stub"]
    assert lines[0]["text"] == lines[1]["text"]


def test_stdin_and_text_format():
    res = run(["clean", "-", "--url", HRIC], input=(FIX / "article_semantic.html").read_bytes())
    assert res.exit_code == 0
    assert res.stdout.startswith("River towns kept records")
    assert "Explore Topics" not in res.stdout


def test_markdown_format():
    res = run(["clean", str(FIX / "article_semantic.html"), "--url", HRIC, "--format", "markdown"])
    lines = res.stdout.splitlines()
    assert lines[0] == "# Lanterns and Ledgers: How River Towns Kept Their Records"
    assert lines[2] == "*Maria K. Olsen, Tomas Reyes · 2011-03-04 · Human Rights in China*"


def test_error_stub_in_text_format_says_so_on_stderr():
    res = run(["clean", str(FIX / "error_stub.html"), "--url", HRIC])
    assert res.exit_code == 0 and res.stdout == ""
    assert "error_stub" in res.stderr and 'title "Error' in res.stderr


def test_not_html(tmp_path):
    pdf = tmp_path / "file.html"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    res = run(["clean", str(pdf), "--format", "json"])
    assert json.loads(res.stdout)["status"] == "not_html"


def test_missing_file_is_one_line_exit_2_and_others_still_cleaned(tmp_path):
    res = run(["clean", str(tmp_path / "missing.html"), str(FIX / "article_semantic.html"), "--format", "json"])
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "cannot read" in res.stderr
    assert json.loads(res.stdout)["status"] == "ok"


def test_bad_rules_folder_is_exit_2(tmp_path):
    (tmp_path / "x.toml").write_text("[oops]\n")
    res = run(["clean", str(FIX / "article_semantic.html"), "--rules", str(tmp_path)])
    assert res.exit_code == 2 and "unknown section" in res.stderr and "Traceback" not in res.output


def test_rules_explain_reports_removals_stub_and_rot(tmp_path):
    res = run(["rules", "explain", str(FIX / "article_semantic.html"), "--url", HRIC, "--json"])
    report = json.loads(res.stdout)
    removed = {(r["rule"], r["selector"]): r for r in report["removed"]}
    assert removed[("default", ".skip-link")]["removed"] == 2
    assert removed[("default", ".pullquote")]["removed"] == 2
    assert "Explore Topics" in removed[("hrichina.org", ".block-explore-topics")]["preview"]
    assert report["status"] == "ok" and report["main"] == "hrichina.org: .field--name-body"
    legacy = json.loads(run(["rules", "explain", str(FIX / "article_legacy.html"), "--url", HRIC, "--json"]).stdout)
    assert {"rule": "hrichina.org", "selector": ".field--name-body"} in legacy["unmatched"]
    stub = run(["rules", "explain", str(FIX / "error_stub.html"), "--url", HRIC])
    assert "error stub" in stub.stdout and 'title "Error' in stub.stdout


def test_rules_explain_fetches_a_url(site, tmp_path):
    res = run(["rules", "explain", site.url("/page.html"), "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["title"] == "A test article"
    blocked = run(["rules", "explain", site.url("/private/x.html")])
    assert blocked.exit_code == 2 and "robots.txt" in blocked.stderr


def test_a_hostile_file_name_and_reason_print_as_text(tmp_path):
    """A downloaded file's name is whatever the site chose, and a reason can
    quote the document: both reached the terminal as they were."""
    hostile = tmp_path / "page\x1b[2J\x07.html"
    hostile.write_bytes((FIX / "error_stub.html").read_bytes())
    damaged = tmp_path / "report\x1b]0;owned\x07.pdf"
    damaged.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\x1b[31m trailer <<>>\n")
    res = run(["clean", str(hostile), str(damaged), str(FIX / "article_semantic.html"), "--url", HRIC])
    assert res.exit_code == 0
    assert "\x1b" not in res.stderr + res.stdout and "\x07" not in res.stderr + res.stdout
    errors = res.stderr.splitlines()
    assert len(errors) == 2 and errors[0].startswith(str(tmp_path / "page[2J.html") + ": error_stub")
    assert errors[1].startswith(str(tmp_path / "report]0;owned.pdf") + ": not_html")
    assert f"==> {tmp_path / 'page[2J.html'} <==" in res.stdout.splitlines()
