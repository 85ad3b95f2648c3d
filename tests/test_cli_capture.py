"""`archiver capture` driven through click's runner."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from archiver.cli import cli

FAST = ["--delay", "0", "--retries", "0", "--timeout", "2"]


def run(args, **kw):
    return CliRunner().invoke(cli, args, catch_exceptions=False, **kw)


def test_json_lines_have_the_contract_fields(site, tmp_path):
    res = run(["--archive", str(tmp_path / "a"), "capture", *FAST, "--json", site.url("/page.html"), site.url("/404")])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(lines) == 2
    by_url = {x["url"]: x for x in lines}
    page = by_url[site.url("/page.html")]
    for field in ("url", "final_url", "status_code", "verdict", "timestamp", "title", "word_count", "warc_file"):
        assert field in page
    assert page["verdict"] == "new" and page["status_code"] == 200 and page["title"] == "A test article"
    assert len(page["timestamp"]) == 14 and page["timestamp"].isdigit()
    assert (tmp_path / "a" / page["warc_file"]).is_file()
    assert by_url[site.url("/404")]["verdict"] == "http_error"


def test_bad_url_is_one_line_exit_2_and_the_rest_is_captured(site, tmp_path):
    res = run(["--archive", str(tmp_path / "a"), "capture", *FAST, "--json", "not a url", "ftp://x/y", site.url("/page.html")])
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if line]
    assert len(errors) == 2 and all(line.startswith("error: invalid URL") for line in errors)
    assert "Traceback" not in res.output
    [line] = [json.loads(x) for x in res.stdout.splitlines()]
    assert line["verdict"] == "new"


def test_failed_capture_exits_1(tmp_path, free_port):
    port = free_port
    res = run(["--archive", str(tmp_path / "a"), "capture", *FAST, "--json", f"http://127.0.0.1:{port}/"])
    assert res.exit_code == 1
    assert json.loads(res.stdout)["verdict"] == "failed"


def test_url_file_and_table_output(site, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# my list\n{site.url('/page.html')}\n\n{site.url('/file.pdf')}\n")
    res = run(["--archive", str(tmp_path / "a"), "capture", *FAST, "-i", str(urls)])
    assert res.exit_code == 0, res.output
    assert "new" in res.stdout and "not_html" in res.stdout and "A test article" in res.stdout


def test_missing_url_file_is_exit_2(tmp_path):
    res = run(["--archive", str(tmp_path / "a"), "capture", "-i", str(tmp_path / "nope.txt")])
    assert res.exit_code == 2 and res.stderr.startswith("error: cannot read URL file")


def test_no_urls_is_usage_error(tmp_path):
    res = run(["--archive", str(tmp_path / "a"), "capture"])
    assert res.exit_code == 2 and "no URL given" in res.stderr


def test_bad_max_size_is_usage_error(tmp_path, site):
    res = run(["--archive", str(tmp_path / "a"), "capture", "--max-size", "lots", site.url("/page.html")])
    assert res.exit_code == 2 and "--max-size" in res.stderr


def test_archive_env_var(site, tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVER_HOME", str(tmp_path / "env-archive"))
    res = run(["capture", *FAST, "--json", site.url("/page.html")])
    assert res.exit_code == 0
    assert (tmp_path / "env-archive" / "catalog.sqlite").is_file()


def test_archive_that_is_a_file_is_exit_2(site, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    res = run(["--archive", str(f), "capture", *FAST, site.url("/page.html")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1


def test_help_lists_the_whole_contract():
    res = run(["--help"])
    for name in ("capture", "clean", "history", "show", "diff", "search", "watch", "run", "ingest", "export", "rules"):
        assert name in res.stdout


def test_urls_from_stdin(site, tmp_path):
    res = run(["--archive", str(tmp_path / "a"), "capture", *FAST, "--json", "-i", "-"], input=site.url("/page.html") + "\n")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["url"] == site.url("/page.html")


def test_capture_cleans_on_a_local_dask_cluster(site, tmp_path):
    res = run(["--archive", str(tmp_path / "a"), "capture", *FAST, "--json", "--dask", "local",
               site.url("/page.html"), site.url("/gzip.html"), site.url("/404")])
    assert res.exit_code == 0, res.output
    got = {x["url"]: x for x in map(json.loads, res.stdout.splitlines())}
    assert got[site.url("/page.html")]["title"] == "A test article" and got[site.url("/gzip.html")]["title"] == "Gzipped"
    assert got[site.url("/404")]["verdict"] == "http_error"


@pytest.mark.parametrize("signame, code, said", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "stopped (SIGTERM)")])
def test_ctrl_c_with_pages_on_a_local_dask_cluster_is_one_line(site, tmp_path, signame, code, said):
    """Ctrl-C (or `systemctl stop`'s SIGTERM) reaches the whole process group
    while the cluster holds pages: the archiver says one line and exits;
    Dask's workers and scheduler, cancelled mid-task, print nothing; no
    process is left once the archiver has ended (the cluster's process
    closes its cluster on SIGTERM rather than die leaving its workers)."""
    import signal
    import subprocess
    import sys

    from procutil import descendants, still_running, stop_group

    urls = tmp_path / "urls.txt"
    urls.write_text("".join(site.url(f"/page.html?n={i}") + "\n" for i in range(400)))
    exe = str(Path(sys.executable).parent / "archiver")
    proc = subprocess.Popen([exe, "--archive", str(tmp_path / "a"), "capture", *FAST, "--json", "--dask", "local",
                             "-i", str(urls)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)
    assert proc.stdout.readline()  # the cluster is up and cleaning
    kids = descendants(proc.pid)
    out, err = stop_group(proc, getattr(signal, signame))
    assert proc.returncode == code, err
    assert err.splitlines() == [f"{said}: what was captured so far is kept"], err  # one line, no blank one
    assert not still_running(kids, within=3)


@pytest.mark.parametrize("ctrl_c_ignored", [False, True], ids=["plain", "started-with-ctrl-c-ignored"])
def test_sigterm_stops_a_capture_as_ctrl_c_does(site, tmp_path, ctrl_c_ignored):
    """`systemctl stop`, `docker stop`, `kill`: one line, exit 143, what was
    recorded kept and its WARC file closed. Also when the process was
    started with Ctrl-C ignored (`archiver ... &` in a script), where the
    SIGTERM could not simply be passed on as a Ctrl-C."""
    import signal
    import subprocess
    import sys

    from archiver import Archive

    exe = str(Path(sys.executable).parent / "archiver")
    arch = tmp_path / "a"
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ctrl_c_ignored else None
    proc = subprocess.Popen([exe, "--archive", str(arch), "capture", *FAST, "--timeout", "30", "--json",
                             site.url("/page.html"), site.url("/slow")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore)
    try:
        assert json.loads(proc.stdout.readline())["url"] == site.url("/page.html")  # now waiting for /slow
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.splitlines() == ["stopped (SIGTERM): what was captured so far is kept"]
    assert len(Archive(arch).history(site.url("/page.html"))) == 1
    assert [p.name for p in (arch / "warc").iterdir() if p.name.endswith(".open")] == []


def test_unreachable_dask_scheduler_is_exit_2(site, tmp_path, free_port):
    res = run(["--archive", str(tmp_path / "a"), "capture", "--dask", f"tcp://127.0.0.1:{free_port}", site.url("/page.html")])
    assert res.exit_code == 2 and "cannot reach the Dask scheduler" in res.stderr


@pytest.mark.parametrize("args, stops, said", [
    (["export", "--wacz", "{tmp}/out.wacz"], "archiver.archive.export.export_wacz", "interrupted: no package was written"),
    (["ingest", "{tmp}/in.warc"], "archiver.capture.ingest.ingest_warcs", "interrupted: what was ingested so far is kept"),
    (["verify"], "archiver.archive.archive.Archive.verify", "interrupted"),
], ids=["export", "ingest", "verify"])
def test_ctrl_c_says_what_each_command_leaves(site, tmp_path, monkeypatch, capsys, args, stops, said):
    """Not capture's words for every command; one line, no blank one before it."""
    assert run(["--archive", str(tmp_path / "a"), "capture", *FAST, site.url("/page.html")]).exit_code == 0

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(stops, interrupted)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main(["--archive", str(tmp_path / "a"), *(a.format(tmp=tmp_path) for a in args)], prog_name="archiver")
    assert done.value.code == 130
    assert capsys.readouterr().err.splitlines() == [said]
    assert not (tmp_path / "out.wacz").exists()


def test_ctrl_c_reaches_a_caller_of_main_without_standalone_mode_as_click_abort(tmp_path, monkeypatch):
    import click

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr("archiver.capture.ingest.ingest_warcs", interrupted)
    with pytest.raises(click.Abort):
        cli.main(["--archive", str(tmp_path / "a"), "ingest", str(tmp_path / "in.warc")], standalone_mode=False)


def test_commands_that_read_the_catalog_do_not_load_the_capture_path(site, tmp_path):
    """`history`, `search`, `diff` and `watch list` start in half the time
    without httpx, warcio, the cleaner, Jinja or Dask: a script calling them
    for many URLs paid ~0.15 s a call for what it never used."""
    assert run(["--archive", str(tmp_path / "a"), "capture", *FAST, site.url("/page.html")]).exit_code == 0
    script = textwrap.dedent(f"""
        import sys
        from click.testing import CliRunner
        from archiver.cli import cli
        for args in (["history", {site.url("/page.html")!r}], ["search", "article"], ["watch", "list"],
                     ["diff", {site.url("/page.html")!r}]):
            result = CliRunner().invoke(cli, ["--archive", {str(tmp_path / "a")!r}, *args])
            assert result.exit_code in (0, 2), (args, result.output)
        heavy = ("httpx", "warcio", "trafilatura", "selectolax", "jinja2", "dask", "archiver.capture.run")
        print(sorted(m for m in heavy if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
