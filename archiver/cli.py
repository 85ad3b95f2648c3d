"""The command line: parse, build options, call the library, render.

No archiving logic lives here. Every `ArchiverError` is caught once, in
`main`, and printed as one line (exit 2); a capture that failed is exit 1.
"""

from __future__ import annotations

import contextlib
import json
from urllib.parse import urlsplit
import logging
import os
import re
import shlex
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

# The cleaner (trafilatura, lxml), export, signing, notifications and the
# scheduler load their libraries in the commands that use them: every other
# command starts that much sooner, and `capture` leaves the cleaner to its
# worker processes.
from . import termout
from .archive.archive import Archive
from .archive.catalog import Catalog
from .archive.layout import Layout
from .config import (
    DEFAULT_BROWSER_TIMEOUT,
    DEFAULT_CONTACT,
    DEFAULT_HOST_DELAY,
    DEFAULT_MAX_BODY,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
    VERSION,
    BrowserOptions,
    CleanOptions,
    FetchOptions,
    WarcOptions,
    archive_dir,
)
from .archive.diff import render_html, render_unified, render_words
from .errors import ArchiverError, ConfigError
from .significance import ChangeRules
from .models import Capture, Snapshot, Verdict
from .crawl.traps import TrapBounds
from .cleaning.payload import read_source
from .capture.credentials import credential_set, inline_set
from .termout import Column
from .urls import check_url, host_of

# Fetching, ingest, rules and Dask are imported by the commands that use
# them (as `archive/archive.py` does for capture): commands that only read the
# catalog start in half the time.

EXIT_FAILED = 1
EXIT_USAGE = 2

VERDICT_STYLE = {
    Verdict.NEW: "green",
    Verdict.CHANGED: "yellow",
    Verdict.UNCHANGED: "dim",
    Verdict.HTTP_ERROR: "red",
    Verdict.SOFT_ERROR: "red",
    Verdict.BLOCKED: "magenta",
    Verdict.NOT_HTML: "cyan",
    Verdict.FAILED: "bold red",
}


class CliError(click.ClickException):
    """An ArchiverError on its way to the terminal: one line, exit 2."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {termout.safe(self.message)}", err=True)


# What a command stopped by Ctrl-C or SIGTERM leaves, said after "interrupted: ".
_LEFT_ON_STOP = {
    "capture": "what was captured so far is kept",
    "run": "what was captured so far is kept",
    "ingest": "what was ingested so far is kept",
    "export": "no package was written",
}


class _Stopped(Exception):
    """Ctrl-C (or SIGTERM) inside a command, past click, which would print
    an empty line for it (meant to end a terminal's "^C" line; in a
    service's log it is a line of nothing)."""


class ArchiverGroup(click.Group):
    """Catches ArchiverError once, for every command below it."""

    command_name: str | None = None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        self.command_name = name
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ArchiverError as exc:
            raise CliError(str(exc)) from None
        except sqlite3.Error as exc:  # a catalog query that failed on its way out: one line, no traceback
            from .archive.catalog import catalog_error

            raise CliError(str(catalog_error(exc))) from None
        except KeyboardInterrupt:
            raise _Stopped() from None

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        with _warnings_to_stderr():
            return self._main(*args, standalone_mode=standalone_mode, **kwargs)

    def _main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            try:
                return super().main(*args, standalone_mode=False, **kwargs)
            except _Stopped:
                raise click.Abort() from None  # what click gives such a caller for Ctrl-C
        with _stop_on_sigterm() as terminated:
            try:
                rc = super().main(*args, standalone_mode=False, **kwargs)
            except click.UsageError as exc:
                # One line, naming where to look, instead of click's three.
                where = exc.ctx.command_path if exc.ctx else "archiver"
                click.echo(f"error: {exc.format_message()} (see '{where} --help')", err=True)
                sys.exit(EXIT_USAGE)
            except click.ClickException as exc:
                exc.show()
                sys.exit(exc.exit_code)
            except (click.Abort, _Stopped):
                left = _LEFT_ON_STOP.get(self.command_name or "")
                said = "stopped (SIGTERM)" if terminated.is_set() else "interrupted"
                if not terminated.is_set() and sys.stderr.isatty():
                    click.echo(err=True)  # past the terminal's "^C"
                click.echo(f"{said}: {left}" if left else said, err=True)
                sys.exit(128 + signal.SIGTERM if terminated.is_set() else 130)
            sys.exit(rc or 0)


class _WarningLines(logging.Handler):
    """The package's log warnings, each one printable line on stderr,
    `warning: ...`: a library only logs (a damaged snapshot file met while
    reading, a lease `run --loop` could not renew, a heartbeat not written),
    and with nothing configured those went nowhere. What a command reports
    itself (ingest's and reindex's problems) is logged below this level."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _warn(record.getMessage())
        except Exception:  # a warning must never end the command (a closed pipe, a bad format)
            pass


def _warn(text: str) -> None:
    """One `warning:` line on stderr: printable, whitespace folded, written
    to the stream of the moment (a progress bar redirects it)."""
    click.echo(f"warning: {termout.safe(' '.join(text.split()))}", err=True)


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    logger = logging.getLogger("archiver")
    if any(isinstance(h, _WarningLines) for h in logger.handlers):  # a command run from a command
        yield
        return
    handler = _WarningLines()
    logger.addHandler(handler)
    # Another library's warning, where it has no handler of its own, went to
    # Python's last-resort handler: written raw, and some quote what a page
    # or a WARC file sent (warcio: "Replacing spaces in invalid
    # WARC-Target-URI: ...", escape sequences and all). It is one printable
    # line too, in this process and the cleaning processes forked from it.
    last_resort, logging.lastResort = logging.lastResort, _WarningLines()
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logging.lastResort = last_resort


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[threading.Event]:
    """SIGTERM (`systemctl stop`, `docker stop`, `kill`) stops a command the
    way Ctrl-C does: what is recorded is kept, the WARC file is closed, a
    looping runner's heartbeat says it stopped (else `watch check` reports
    it killed). It is turned into a SIGINT to this process, so it takes the
    same path, whatever the command is doing (asyncio's own Ctrl-C handling
    while fetching included). The event says it happened."""
    terminated = threading.Event()

    def on_sigterm(signum: int, frame: Any) -> None:
        terminated.set()
        if callable(signal.getsignal(signal.SIGINT)):
            signal.raise_signal(signal.SIGINT)
        else:  # started with Ctrl-C ignored (`cmd &` in a script): a SIGINT would be lost
            raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield terminated  # signal handlers belong to the main thread
        return
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", text, re.I)
    if not m:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 50MB, 512KiB, 1000000)")
    unit = (m.group(2) or "").lower().rstrip("b").rstrip("i")
    factor = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[unit]
    value = int(float(m.group(1)) * factor)
    if value <= 0:
        raise click.BadParameter("must be more than 0")
    return value


@click.group(cls=ArchiverGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--archive",
    "archive_path",
    metavar="DIR",
    default=None,
    help="Archive folder (default: $ARCHIVER_HOME, else ./snapshots).",
)
@click.version_option(VERSION, prog_name="archiver")
@click.pass_context
def cli(ctx: click.Context, archive_path: str | None) -> None:
    """Capture web pages as WARC files, clean them to article text, and track how they change."""
    ctx.obj = {"archive": archive_dir(archive_path)}


def archive_option(command: Any) -> Any:
    """`--archive DIR` after the subcommand too (`archiver history URL --archive DIR`)."""

    def store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.ensure_object(dict)["archive"] = archive_dir(value)

    return click.option("--archive", metavar="DIR", expose_value=False, callback=store,
                        help="Archive folder (default: $ARCHIVER_HOME, else ./snapshots).")(command)


# -- options shared by capture, run and ingest -----------------------------------

_CONTACT = click.option("--contact", default=lambda: os.environ.get("ARCHIVER_CONTACT", DEFAULT_CONTACT),
                        show_default="$ARCHIVER_CONTACT or the project URL",
                        help="URL or e-mail put in the User-Agent (and warcinfo), so site owners can reach you.")
FETCH_FLAGS = (
    _CONTACT,
    click.option("--delay", type=click.FloatRange(min=0), default=DEFAULT_HOST_DELAY, show_default=True,
                 help="Seconds between request starts to one host."),
    click.option("--per-host", type=click.IntRange(1, 2), default=2, show_default=True,
                 help="Connections at once to one host."),
    click.option("--timeout", type=click.FloatRange(min=0.1), default=DEFAULT_READ_TIMEOUT, show_default=True,
                 help="Read timeout in seconds (a URL gets 120 s in all, retries included)."),
    click.option("--retries", type=click.IntRange(0, 10), default=DEFAULT_RETRIES, show_default=True,
                 help="Retries on connection errors and 429/502/503/504."),
    click.option("--max-size", default=str(DEFAULT_MAX_BODY // 1024**2) + "MB", show_default=True,
                 help="Body size cap; longer bodies are kept truncated."),
    click.option("--ignore-robots", is_flag=True, help="Fetch even what robots.txt disallows."),
    click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Trust the CA certificates in this PEM file for HTTPS, instead of the system's."),
)
_RULES = click.option("--rules", "rules_dir", metavar="DIR",
                      help="A folder of rule files to add to the built-in ones (a file of the same name replaces one).")
WORK_FLAGS = (
    click.option("--workers", type=click.IntRange(min=0), default=None,
                 help="Processes that clean pages (default: one per core; 0: clean in this process, for debugging)."),
    click.option("--dask", "dask_address", metavar="ADDRESS",
                 help="Clean on a Dask cluster instead: a scheduler address, or 'local'."),
    _RULES,
)


AUTH_FLAGS = (
    click.option("--auth", "auth_name", metavar="NAME", help="Fetch with this credential set (credentials.toml:"
                 " headers, cookies.txt, basic or bearer credentials, a browser storage state)."),
    click.option("--header", "headers", metavar="'NAME: VALUE'", multiple=True,
                 help="An extra request header, sent to the pages' own hosts only (repeatable)."),
    click.option("--cookies", "cookies_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
                 help="A Netscape cookies.txt (as browsers' exporters write it) for the pages' own hosts."),
    click.option("--keep-auth-headers", is_flag=True, help="Keep the values of Cookie, Authorization and the headers"
                 " given with --header or --auth in the WARC request records (redacted by default: anyone with the"
                 " WARC could use them)."),
)

BROWSER_FLAGS = (
    click.option("--browser-path", metavar="PATH",
                 help="The Chromium to drive (default: $ARCHIVER_CHROMIUM, Playwright's own, then the system's)."),
    click.option("--browser-timeout", type=click.FloatRange(min=1), default=DEFAULT_BROWSER_TIMEOUT,
                 show_default=True, help="Seconds a page may take in the browser: load, network idle, scrolling,"
                 " screenshot."),
)


CHANGE_FLAGS = (
    click.option("--ignore", "ignore", metavar="TEXT|/REGEX/", multiple=True,
                 help="Lines holding this text (case ignored) or matching /REGEX/ do not make a change (repeatable)."),
    click.option("--trigger", "trigger", metavar="TEXT|/REGEX/", multiple=True,
                 help="Judge a capture changed only when an added line holds this text or matches /REGEX/ (repeatable)."),
    click.option("--min-words", "min_words", type=click.IntRange(min=0), default=0,
                 help="Judge a capture changed only when at least this many words changed."),
)


def flags(*options: Any) -> Any:
    """Apply a group of shared options to a command."""

    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def _archive(ctx: click.Context, opts: dict[str, Any]) -> Archive:
    """The archive a command works on, with the options its shared flags gave."""
    fetch = FetchOptions(contact=opts["contact"])
    if "delay" in opts:
        try:
            max_body = _size(opts["max_size"])
        except click.BadParameter as exc:
            raise click.BadParameter(str(exc.message), param_hint="--max-size") from None
        fetch = FetchOptions(contact=opts["contact"], host_delay=opts["delay"], per_host=opts["per_host"],
                             read_timeout=opts["timeout"], retries=opts["retries"], max_body=max_body,
                             obey_robots=not opts["ignore_robots"], ca_bundle=opts.get("ca_bundle"))
    if opts.get("rules_dir"):
        from .cleaning.rules import load_rules
        load_rules(opts["rules_dir"])  # a bad rules folder is one clear error before anything is fetched
    browser = BrowserOptions(executable=opts.get("browser_path"),
                             timeout=opts.get("browser_timeout") or DEFAULT_BROWSER_TIMEOUT)
    warc = WarcOptions(keep_auth_headers=bool(opts.get("keep_auth_headers")))
    if warc.keep_auth_headers:
        click.echo("warning: --keep-auth-headers: Cookie, Authorization and --header values go into the WARC files"
                   " as sent; anyone with those files can use them", err=True)
    archive = Archive(ctx.obj["archive"], fetch_options=fetch, warc_options=warc,
                      clean_options=CleanOptions(rules_dir=opts.get("rules_dir")), browser_options=browser,
                      workers=opts.get("workers"))
    if opts.get("auth_name") and (opts.get("headers") or opts.get("cookies_file")):
        raise ConfigError("--auth names a whole credential set: give it, or --header/--cookies, not both")
    archive.change_rules = ChangeRules.make(opts.get("ignore") or (), opts.get("trigger") or (),
                                            opts.get("min_words") or 0)
    if opts.get("auth_name"):
        archive.credentials = credential_set(opts["auth_name"], archive.path)
    else:
        archive.credentials = inline_set(opts.get("headers") or (), opts.get("cookies_file"))
    return archive


# -- capture ---------------------------------------------------------------


def _notify_lines(path: str | None) -> tuple[str, ...]:
    """The Apprise URLs of a --notify-file: one a line; blank lines and
    lines starting with # are skipped."""
    if not path:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --notify-file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    lines = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
    if not lines:
        raise ConfigError(f"--notify-file {path} names no notification URL")
    return lines


def _read_url_lines(path: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(where, URL) for each URL line of a file or stdin, and one message per
    line that is not text. Lines are decoded one by one, so a stray byte
    costs its own line, not the whole list; a UTF-8 BOM is ignored."""
    name = "stdin" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read URL file {name}: {exc.strerror}") from exc
    urls: list[tuple[str, str]] = []
    problems: list[str] = []
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{name}:{n}: not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1});"
                            " line skipped")
            continue
        text = text.replace("\ufeff", "").strip()
        if text and not text.startswith("#"):
            urls.append((f"{name}:{n}", text))
    if not urls and not problems:
        problems.append(f"{name}: holds no URLs (one per line; lines starting with # are comments)")
    return urls, problems


@cli.command()
@archive_option
@click.argument("urls", nargs=-1)
@click.option("-i", "--input", "url_file", metavar="URLFILE", help="Read URLs from a file, one per line ('-' for stdin).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per URL, one per line.")
@click.option("--browser", "use_browser", is_flag=True,
              help="Load the pages in Chromium (pages that build their text with JavaScript): every exchange,"
              " a screenshot and the rendered DOM go into the WARC.")
@flags(*FETCH_FLAGS, *AUTH_FLAGS, *BROWSER_FLAGS, *WORK_FLAGS, *CHANGE_FLAGS)
@click.pass_context
def capture(ctx: click.Context, urls: tuple[str, ...], url_file: str | None, as_json: bool, use_browser: bool,
            **opts: Any) -> None:
    """Capture URLs into the archive's WARC files and catalog."""
    given: list[tuple[str, str]] = [("", u) for u in urls]
    bad = 0
    if url_file:
        from_file, problems = _read_url_lines(url_file)
        given += from_file
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
            bad += 1
    if not given and not bad:
        raise click.UsageError("no URL given (pass URLs or -i URLFILE)")
    valid: list[str] = []
    for where, raw in given:
        try:
            valid.append(check_url(raw))
        except ConfigError as exc:
            click.echo(f"error: {where + ': ' if where else ''}{exc}", err=True)
            bad += 1
    archive = _archive(ctx, opts)
    done = _capture_shown(archive, valid, opts, as_json=as_json, browser=use_browser)
    if bad:
        ctx.exit(EXIT_USAGE)
    if any(c.verdict is Verdict.FAILED for c in done):
        ctx.exit(EXIT_FAILED)


def _capture_shown(archive: Archive, urls: list[str], opts: dict[str, Any], *, as_json: bool,
                   browser: bool = False) -> list[Capture]:
    """Capture `urls` as the command line shows it: a JSON line per capture,
    or a progress bar (on a terminal) and then the table."""
    done: list[Capture] = []

    def emit(c: Capture) -> None:
        if as_json:
            click.echo(json.dumps(c.to_json(), ensure_ascii=False))

    if urls:
        from .workers.cluster import dask_executor
        err = Console(stderr=True)
        with dask_executor(opts["dask_address"], workers=opts["workers"]) as executor:
            if not as_json and err.is_terminal and len(urls) > 1:
                with Progress(TextColumn("capturing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                              console=err, transient=True) as progress:
                    task = progress.add_task("capture", total=len(urls))

                    def step(c: Capture) -> None:
                        emit(c)
                        progress.advance(task)

                    done = archive.capture(urls, on_capture=step, executor=executor, browser=browser)
            else:
                done = archive.capture(urls, on_capture=emit, executor=executor, browser=browser)
    if not as_json and done:
        _capture_table(done, archive.path)
    return done


@cli.command()
@archive_option
@click.argument("seeds", nargs=-1)
@click.option("--scope", default="prefix", show_default=True, metavar="page|prefix|host|domain|REGEX",
              help="What links are followed: the seeds only, their folders, their hosts, their registered domains,"
              " or URLs a regular expression finds.")
@click.option("--depth", type=click.IntRange(min=0), default=5, show_default=True,
              help="Links followed from a seed, at most.")
@click.option("--limit", type=click.IntRange(min=1), help="Pages captured at most (the rest stay queued).")
@click.option("--include", multiple=True, metavar="REGEX", help="Follow only URLs this matches (repeatable).")
@click.option("--exclude", multiple=True, metavar="REGEX", help="Never follow URLs this matches (repeatable).")
@click.option("--browser", "use_browser", is_flag=True, help="Load every page in Chromium; links come from its DOM.")
@click.option("--sitemap", is_flag=True, help="Also read the pages the seeds' sites list: the Sitemap lines of"
              " robots.txt and /sitemap.xml (sitemap indexes and gzipped sitemaps too; a page whose lastmod is"
              " older than its last capture is skipped).")
@click.option("-i", "--input", "seed_file", metavar="FILE", help="Seeds from a file too: bookmarks HTML, OPML or one"
              " URL a line.")
@click.option("--resume", "resume_id", metavar="ID", help="Go on with a crawl that stopped (killed, or at --limit).")
@click.option("--max-path-segments", type=click.IntRange(min=1), default=TrapBounds.path_segments, show_default=True,
              help="Paths deeper than this are a trap.")
@click.option("--max-query-variants", type=click.IntRange(min=1), default=TrapBounds.query_variants,
              show_default=True, help="URLs of one path that differ only in their query, at most.")
@click.option("--max-digit-steps", type=click.IntRange(min=1), default=TrapBounds.digit_steps, show_default=True,
              help="Links in a row that differ from their page only in numbers (calendars, pagination), at most.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per capture, then the crawl's summary.")
@flags(*FETCH_FLAGS, *WORK_FLAGS)
@click.pass_context
def crawl(ctx: click.Context, seeds: tuple[str, ...], scope: str, depth: int, limit: int | None,
          include: tuple[str, ...], exclude: tuple[str, ...], use_browser: bool, sitemap: bool, seed_file: str | None,
          resume_id: str | None,
          max_path_segments: int, max_query_variants: int, max_digit_steps: int, as_json: bool, **opts: Any) -> None:
    """Capture pages found by following links from SEEDS, within a scope.
    The frontier is kept in the catalog: a crawl that stops resumes with --resume ID."""
    from .crawl import CrawlSettings, resume_crawl, start_crawl

    seeds_given = list(seeds)
    if seed_file:
        from .crawl.imports import read_url_file

        found = read_url_file(seed_file)
        for problem in found.problems:
            click.echo(f"warning: {seed_file}: {problem}", err=True)
        seeds_given += found.urls
    if bool(seeds_given or seed_file) == bool(resume_id):
        raise click.UsageError("give seed URLs (or -i FILE), or --resume ID, not both")
    archive = _archive(ctx, opts)

    def emit(c: Capture) -> None:
        if as_json:
            click.echo(json.dumps(c.to_json(), ensure_ascii=False))

    from .workers.cluster import dask_executor
    with dask_executor(opts["dask_address"], workers=opts["workers"]) as executor:
        given_delay = ctx.get_parameter_source("delay") is not click.core.ParameterSource.DEFAULT
        if resume_id:
            report = resume_crawl(archive, resume_id, on_capture=emit, executor=executor, limit=limit,
                                  delay=opts["delay"] if given_delay else None)
        else:
            settings = CrawlSettings(scope=scope, depth=depth, limit=limit, include=include, exclude=exclude,
                                     browser=use_browser, sitemap=sitemap, delay=opts["delay"],
                                     bounds=TrapBounds(path_segments=max_path_segments,
                                                       query_variants=max_query_variants,
                                                       digit_steps=max_digit_steps))
            report = start_crawl(archive, seeds_given, settings, on_capture=emit, executor=executor)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        out = termout.console()
        counts = report.counts
        out.print(termout.line(f"crawl {report.id}", f"{report.state}: {counts['done']} captured, {counts['failed']}"
                               f" failed, {counts['blocked']} blocked by robots.txt, {counts['bounded']} stopped"
                               f" by a bound, {counts['skipped']} unchanged by their sitemap dates, {counts['queued']} queued;"
                               f" this run recorded {report.captured}"),
                  crop=False)
        for reason, n in report.bounded.items():
            out.print(termout.line(f"  {n} stopped", reason), crop=False)
        if report.note:
            out.print(termout.line("  note", report.note), crop=False)
    if report.failed:
        ctx.exit(EXIT_FAILED)


@cli.command("import")
@archive_option
@click.argument("file")
@click.option("--watch", "every", metavar="DURATION", help="Watch each URL on this schedule (6h, 1d ...) instead of"
              " capturing it once now.")
@click.option("--tag", help="A tag for the watches (default: a bookmark's own tags).")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per capture or watch.")
@flags(*FETCH_FLAGS, *WORK_FLAGS)
@click.pass_context
def import_urls(ctx: click.Context, file: str, every: str | None, tag: str | None, as_json: bool, **opts: Any) -> None:
    """Capture (or --watch) the URLs of a browser's exported bookmarks (HTML),
    an OPML list of feeds, or a plain list (one URL a line)."""
    from .archive.watchfile import save_watch_file
    from .crawl.imports import read_url_file
    from .schedule.runner import add_watch, parse_duration

    found = read_url_file(file)
    for problem in found.problems:
        click.echo(f"warning: {file}: {problem}", err=True)
    if not found.urls:
        raise ConfigError(f"{file}: no URL to import")
    archive = _archive(ctx, opts)
    if every:
        parse_duration(every)  # checked before the first watch is added
        for url in found.urls:
            w = add_watch(archive, url, every=every, tag=tag or found.tags.get(url) or None, save_file=False)
            if as_json:
                click.echo(json.dumps(w.to_json(), ensure_ascii=False))
        with archive.catalog() as catalog:
            save_watch_file(archive.path, catalog.watches())
        if not as_json:
            click.echo(f"watching {len(found.urls)} URL(s) from {file} ({found.kind}) every {every}")
        return
    done = _capture_shown(archive, found.urls, opts, as_json=as_json)
    if any(c.verdict is Verdict.FAILED for c in done):
        ctx.exit(EXIT_FAILED)


def _verdict(c: Capture, mark: str = "") -> Text:
    return Text(mark + c.verdict.value, style=VERDICT_STYLE.get(c.verdict, ""))


def _title_or_reason(c: Capture) -> str:
    """A capture in a table: a text's title, with what was left out of the
    text if something was (a document read in part); or why it has none."""
    if c.verdict.has_text:
        return " - ".join(part for part in (c.title, c.reason) if part)
    return c.reason or c.title or ""


def _capture_table(captures: list[Capture], archive_path: Any) -> None:
    out = termout.console()
    termout.print_table(
        [Column("verdict"), Column("status"), Column("url"), Column("title or reason", flex=True)],
        [[_verdict(c), c.status_code or "-", c.url,
          _title_or_reason(c)] for c in captures],
        out=out)
    for name in sorted({c.warc_file for c in captures if c.warc_file}):
        out.print(termout.line("written to", os.path.join(str(archive_path), name)), crop=False)


def _type_of(path: str) -> str | None:
    """A saved file's type, from its name (a PDF is also known by its first bytes)."""
    name = path.lower().removesuffix(".gz")
    return {".pdf": "application/pdf", ".txt": "text/plain", ".text": "text/plain"}.get(os.path.splitext(name)[1])


def _markdown(snap: Snapshot) -> str:
    lines = []
    if snap.title:
        lines += [f"# {snap.title}", ""]
    meta = [", ".join(snap.authors) if snap.authors else "", snap.published or "", snap.sitename or ""]
    meta = [m for m in meta if m]
    if meta:
        lines += ["*" + " · ".join(meta) + "*", ""]
    if snap.canonical_url:
        lines += [f"<{snap.canonical_url}>", ""]
    lines.append(snap.text)
    return "\n".join(lines).rstrip() + "\n"


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--url", help="The page's URL: picks the site rules and resolves links.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@_RULES
def clean(paths: tuple[str, ...], url: str | None, fmt: str, rules_dir: str | None) -> None:
    """Clean saved pages and documents (.html, .pdf, .txt, any of them .gz, or
    - for stdin) to article text and metadata. Needs no archive."""
    from .cleaning.snapshot import clean_page

    options = CleanOptions(rules_dir=rules_dir)
    if rules_dir:
        from .cleaning.rules import load_rules
        load_rules(rules_dir)  # a bad rules folder is one clear error before any page
    bad = 0
    several = len(paths) > 1
    for path in paths:
        try:
            data = read_source(path, max(options.max_html_bytes, options.max_document_bytes))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            click.echo(f"error: cannot read {termout.safe(path)}: {termout.safe(reason)}", err=True)
            bad += 1
            continue
        snap = clean_page(data, url, options=options, content_type=_type_of(path))
        if fmt == "json":
            click.echo(json.dumps(snap.to_json(path if several else None), ensure_ascii=False))
            continue
        # Why there is no text, or what of it is missing. The reason can quote
        # the document (a PDF parser's message), and a file's name is whatever
        # the site that sent it chose.
        said = snap.partial if snap.status == "ok" else snap.status + (f": {snap.error}" if snap.error else "")
        if said:
            click.echo(termout.safe(" ".join(f"{path}: {said}".split())), err=True)
        if several:
            click.echo(f"==> {termout.safe(path)} <==")
        if fmt == "markdown":
            click.echo(_markdown(snap), nl=False)
        elif snap.text:
            click.echo(snap.text)
    if bad:
        sys.exit(EXIT_USAGE)


@cli.command()
@archive_option
@click.argument("url", required=False)
@click.option("--crawl", "crawl_id", metavar="ID", help="A crawl instead: its seeds, scope and state, and every URL"
              " it found with what became of it.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, oldest first (a crawl: an object with its pages).")
@click.pass_context
def history(ctx: click.Context, url: str | None, crawl_id: str | None, as_json: bool) -> None:
    """Every capture of a URL, oldest first; or what a crawl did (--crawl ID)."""
    if bool(url) == bool(crawl_id):
        raise click.UsageError("give a URL or --crawl ID")
    if crawl_id:
        _crawl_history(ctx, crawl_id, as_json)
        return
    assert url is not None
    captures = Archive(ctx.obj["archive"]).history(url)
    if as_json:
        click.echo(json.dumps([c.history_json() for c in captures], ensure_ascii=False))
        return
    rows = [[c.timestamp, _verdict(c, "* " if c.verdict in (Verdict.NEW, Verdict.CHANGED) else "  "),
             c.status_code or "-", "-" if c.word_count is None else c.word_count, _title_or_reason(c)]
            for c in captures]
    termout.print_table([Column("timestamp"), Column("verdict"), Column("status"), Column("words", right=True),
                         Column("title or reason", flex=True)], rows, title=url)


def _crawl_history(ctx: click.Context, crawl_id: str, as_json: bool) -> None:
    archive = Archive(ctx.obj["archive"])
    if not archive.exists():
        raise ConfigError(f"no archive at {archive.path} (capture something first, or pass --archive)")
    from .crawl.run import find_crawl

    with archive.reader() as catalog:
        crawl = find_crawl(catalog, crawl_id)
        pages = catalog.crawl_pages(crawl_id)
    if as_json:
        click.echo(json.dumps({**crawl, "pages": pages}, ensure_ascii=False))
        return
    counts = ", ".join(f"{n} {state}" for state, n in crawl["counts"].items() if n)
    out = termout.console()
    out.print(termout.line(f"crawl {crawl_id}", f"started {crawl['created']}, scope {crawl['settings']['scope']},"
                           f" depth {crawl['settings']['depth']}: {crawl['state']}; {counts}"), crop=False)
    out.print(termout.line("seeds", ", ".join(crawl["seeds"])), crop=False)
    if crawl["note"]:
        out.print(termout.line("note", crawl["note"]), crop=False)
    termout.print_table(
        [Column("timestamp"), Column("state"), Column("depth", right=True), Column("url"),
         Column("verdict, title or reason", flex=True)],
        [[p["timestamp"] or "-", p["state"], p["depth"], p["url"],
          p["reason"] or " ".join(x for x in (p["verdict"], p["title"]) if x)] for p in pages], out=out)


@cli.command()
@archive_option
@click.argument("url")
@click.option("--at", "at", metavar="TIMESTAMP", help="A capture's 14-digit timestamp, or any unique prefix.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, url: str, at: str | None, as_json: bool) -> None:
    """A snapshot's text and metadata: the current one, or as of TIMESTAMP."""
    shown = Archive(ctx.obj["archive"]).show(url, at)
    if shown.asked is not shown.capture and shown.asked.timestamp != shown.capture.timestamp:
        click.echo(f"note: the capture at {shown.asked.timestamp} was {shown.asked.verdict.value}"
                   f" ({shown.asked.reason or 'no text'}); showing the text from {shown.capture.timestamp}", err=True)
    if as_json:
        click.echo(json.dumps(shown.to_json(), ensure_ascii=False))
        return
    snap = shown.snapshot
    head = [snap.title or url]
    byline = [b for b in (", ".join(snap.authors), snap.published or "", snap.sitename or "") if b]
    if byline:
        head.append(" · ".join(byline))
    head.append(f"{url} @ {shown.capture.timestamp}")
    click.echo("\n".join(termout.safe(h) for h in head) + "\n\n" + snap.text)


@cli.command()
@archive_option
@click.argument("url")
@click.option("--from", "from_ts", metavar="TIMESTAMP", help="The older capture (default: the text before the newest).")
@click.option("--to", "to_ts", metavar="TIMESTAMP", help="The newer capture (default: the newest good one).")
@click.option("--format", "fmt", type=click.Choice(["unified", "words", "json", "html"]), default="unified", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file (handy with --format html).")
@click.pass_context
def diff(ctx: click.Context, url: str, from_ts: str | None, to_ts: str | None, fmt: str, output: str | None) -> None:
    """What changed between two snapshots of a URL."""
    d = Archive(ctx.obj["archive"]).diff(url, from_ts, to_ts)
    color = fmt == "words" and output is None and sys.stdout.isatty()
    rendered = {
        "unified": lambda: render_unified(d),
        "words": lambda: render_words(d, color=color),
        "json": lambda: json.dumps(d.to_json(), ensure_ascii=False) + "\n",
        "html": lambda: render_html(d),
    }[fmt]()
    if output:
        try:
            with open(output, "w", encoding="utf-8") as f:
                f.write(rendered)
        except OSError as exc:
            raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
        click.echo(f"written to {output}", err=True)
    else:
        click.echo(rendered, nl=False)


@cli.command()
@archive_option
@click.argument("query")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--all-versions", "versions", is_flag=True,
              help="Search every text each page has had, not only its current one (each hit: the first capture"
              " of that text).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def search(ctx: click.Context, query: str, limit: int, versions: bool, as_json: bool) -> None:
    """Full-text search over the current snapshots (article text and titles)."""
    hits = Archive(ctx.obj["archive"]).search(query, limit, versions=versions)
    if as_json:
        click.echo(json.dumps([h.to_json() for h in hits], ensure_ascii=False))
        return
    if not hits:
        click.echo("no match", err=True)
        return
    out = termout.console()
    for h in hits:
        out.print(termout.line(Text(termout.safe(h.title or h.url), style="bold"), "", h.url, "@", h.timestamp),
                  crop=False)
        out.print(termout.line(" ", h.snippet), crop=False)


@cli.command()
@archive_option
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the catalog from the WARC and snapshot files."""
    report = Archive(ctx.obj["archive"]).reindex()
    for problem in report.problems:
        _warn(problem)
    click.echo(f"indexed {report.captures} captures, {report.records} records and {report.texts} texts"
               f" from {report.warc_files} WARC files")
    for source, urls in report.restored.items():
        click.echo(f"restored {len(urls)} watch(es) from {source}")
    if report.watches_kept:
        click.echo(f"kept {report.watches_kept} watch(es) the catalog had")


@cli.group(cls=ArchiverGroup)
def watch() -> None:
    """Watch lists for scheduled archiving."""


@watch.command("add")
@archive_option
@click.argument("url")
@click.option("--every", metavar="DURATION", help="30m, 6h, 1d, 2w ...")
@click.option("--cron", metavar="EXPR", help='A cron schedule, e.g. "0 */6 * * *" (UTC).')
@click.option("--tag", help="A label to group watches by.")
@click.option("--browser", "use_browser", is_flag=True, help="Capture it in Chromium (a page that needs JavaScript).")
@click.option("--notify", "apprise_urls", metavar="URL", multiple=True,
              help="Its own Apprise URL for messages (repeatable), besides those 'run --notify' gives.")
@click.option("--notify-file", "notify_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Apprise URLs, one a line, read from this file (keeps their tokens out of the process list).")
@click.option("--auth", "auth_name", metavar="NAME", help="Capture it with this credential set (by name; the"
              " secrets stay in credentials.toml, never in the catalog).")
@click.option("--header", "headers", metavar="'NAME: VALUE'", multiple=True,
              help="A request header of its own (repeatable; kept in the catalog, so no credentials: use --auth).")
@click.option("--cookies", "cookies_file", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="A cookies.txt it is captured with (the catalog keeps its path, not its content).")
@click.option("--between", metavar="HH:MM-HH:MM", help="Capture it only in these hours (e.g. 08:00-20:00).")
@click.option("--tz", metavar="ZONE", help="The time zone of --between (e.g. Asia/Hong_Kong; default UTC).")
@click.option("--follow", is_flag=True, help="A section page or feed: on each run, the links it has within --scope"
              " that were never captured are captured once.")
@click.option("--scope", metavar="page|prefix|host|domain|REGEX", help="What --follow follows (default: prefix, the"
              " page's folder).")
@click.option("--watch-new", metavar="DURATION", help="Watch each new page --follow finds on this schedule too.")
@flags(*CHANGE_FLAGS)
@click.pass_context
def watch_add(ctx: click.Context, url: str, every: str | None, cron: str | None, tag: str | None,
              use_browser: bool, apprise_urls: tuple[str, ...], notify_file: str | None, auth_name: str | None,
              headers: tuple[str, ...],
              cookies_file: str | None, between: str | None, tz: str | None, follow: bool, scope: str | None,
              watch_new: str | None, ignore: tuple[str, ...], trigger: tuple[str, ...], min_words: int) -> None:
    """Watch a URL on a schedule (it is due at once)."""
    from .schedule.runner import add_watch

    if (scope or watch_new) and not follow:
        raise click.UsageError("--scope and --watch-new go with --follow")
    w = add_watch(Archive(ctx.obj["archive"]), url, every=every, cron=cron, tag=tag, browser=use_browser,
                  notify=apprise_urls + _notify_lines(notify_file), auth=auth_name, between=between, tz=tz,
                  headers=headers, cookies=cookies_file,
                  change_rules=ChangeRules.make(ignore, trigger, min_words),
                  follow={"scope": scope or "prefix", "watch_new": watch_new} if follow else None)
    how = ", in the browser" if w.browser else ""
    how += f", between {w.active_hours} {w.tz or 'UTC'}" if w.active_hours else ""
    how += f", credentials {w.auth}" if w.auth else ""
    how += ", its own cookies" if w.cookies else ""
    how += f", {len(w.headers)} header(s)" if w.headers else ""
    how += f", notifying {len(w.notify)} target(s)" if w.notify else ""
    rules = w.change_rules
    how += f", ignoring {len(rules['ignore'])} pattern(s)" if rules.get("ignore") else ""
    how += f", {len(rules['trigger'])} trigger(s)" if rules.get("trigger") else ""
    how += f", at least {rules['min_words']} words" if rules.get("min_words") else ""
    if w.follow:
        how += f", following new links within scope {w.follow['scope']}"
        how += f" (watched every {w.follow['watch_new']})" if w.follow.get("watch_new") else ""
    click.echo(termout.safe(f"watching {w.url} ({w.schedule}{', tag ' + w.tag if w.tag else ''}{how})"))


@watch.command("list")
@archive_option
@click.option("--tag", help="Only watches with this tag.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def watch_list(ctx: click.Context, tag: str | None, as_json: bool) -> None:
    """Watched URLs: schedule, last good capture, failures, next due."""
    from .schedule.runner import check_watches, list_watches, runner_state

    watches = list_watches(Archive(ctx.obj["archive"]), tag=tag)
    if as_json:
        click.echo(json.dumps([w.to_json() for w in watches], ensure_ascii=False))
        return
    rows = []
    for w in watches:
        data = w.to_json()
        notes: Text | str = Text(f"rule rot: {len(w.rule_rot)} selector(s)", style="yellow") if w.rule_rot else ""
        if w.problem:
            notes = Text(f"set aside: {w.problem}", style="red")
        if w.paused:
            notes = Text("paused", style="yellow")
        fails = Text(str(w.failures), style="red") if w.failures else "0"
        rows.append([w.url, w.schedule, data["next_due"].replace("T", " ").rstrip("Z"), w.last_verdict or "-",
                     w.last_good or "-", fails, w.tag or "", notes])
    termout.print_table([Column("url"), Column("schedule"), Column("next due (UTC)"), Column("last"),
                         Column("last good"), Column("failures", right=True), Column("tag"), Column("notes", flex=True)],
                        rows)
    archive = Archive(ctx.obj["archive"])
    state = runner_state(archive)
    flagged = check_watches(archive)
    if state:
        click.echo(termout.safe(state))
    if flagged:
        click.echo(f"{len(flagged)} thing(s) need attention: see 'archiver watch check'")


@watch.command("check")
@archive_option
@click.option("--failing", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Flag watches that failed this many times in a row.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def watch_check(ctx: click.Context, failing: int, as_json: bool) -> None:
    """Can the schedule be trusted? Flags stale watches (no good capture in
    twice their interval), failing ones, rules that stopped matching,
    overdue watches and a runner that stopped. Exit 0 when all is well, 1 when not."""
    from .schedule.runner import check_watches, runner_state

    archive = Archive(ctx.obj["archive"])
    flagged = check_watches(archive, failing_after=failing)
    if as_json:
        click.echo(json.dumps({"ok": not flagged, "runner": runner_state(archive),
                               "flags": [f.to_json() for f in flagged]}, ensure_ascii=False))
    else:
        out = termout.console()
        for f in flagged:
            out.print(termout.line(f.kind, f.url or "", f.message), crop=False)
        state = runner_state(archive)
        if state:
            click.echo(termout.safe(state))
        click.echo("all watches look healthy" if not flagged else f"{len(flagged)} thing(s) need attention")
    ctx.exit(0 if not flagged else 1)


@watch.command("remove")
@archive_option
@click.argument("url")
@click.pass_context
def watch_remove(ctx: click.Context, url: str) -> None:
    """Stop watching a URL (its captures stay in the archive)."""
    from .schedule.runner import remove_watch

    remove_watch(Archive(ctx.obj["archive"]), url)
    click.echo(f"no longer watching {url}")


def _set_paused(ctx: click.Context, url: str, paused: bool) -> None:
    from .schedule.runner import edit_watch

    w = edit_watch(Archive(ctx.obj["archive"]), url, {"paused": paused})
    click.echo(termout.safe(f"paused {w.url} ('archiver watch resume' it)" if paused else f"resumed {w.url} ({w.schedule})"))


@watch.command("pause")
@archive_option
@click.argument("url")
@click.pass_context
def watch_pause(ctx: click.Context, url: str) -> None:
    """Stop capturing a watched URL for now (the watch and its captures stay)."""
    _set_paused(ctx, url, True)


@watch.command("resume")
@archive_option
@click.argument("url")
@click.pass_context
def watch_resume(ctx: click.Context, url: str) -> None:
    """Capture a paused watch again (at once, if it fell due while paused)."""
    _set_paused(ctx, url, False)


@watch.command("import")
@archive_option
@click.argument("file")
@click.option("--every", metavar="DURATION", help="Schedule for a plain URL list (or the TOML default).")
@click.option("--cron", metavar="EXPR")
@click.option("--tag")
@click.pass_context
def watch_import(ctx: click.Context, file: str, every: str | None, cron: str | None, tag: str | None) -> None:
    """Add many watches: a URL per line, or TOML [[watch]] entries with their own schedules."""
    from .schedule.runner import import_watches

    added = import_watches(Archive(ctx.obj["archive"]), file, every=every, cron=cron, tag=tag)
    click.echo(f"watching {len(added)} URL(s) from {file}")


@cli.command()
@archive_option
@click.option("--loop", is_flag=True, help="Keep running: sleep until the next watch is due.")
@click.option("--notify", "apprise_urls", metavar="URL", multiple=True, envvar="ARCHIVER_NOTIFY",
              help="Send a message for every change to this Apprise URL (mailto://, ntfy://, matrix://, slack://,"
              " tgram://, json:// ...; repeatable; or $ARCHIVER_NOTIFY, URLs separated by spaces, which keeps"
              " their tokens out of the process list). Watches can have their own (watch add --notify).")
@click.option("--notify-file", "notify_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Apprise URLs, one a line, read from this file.")
@click.option("--notify-url", "notify_urls", metavar="URL", multiple=True,
              help="POST a JSON message here for every change (repeatable).")
@click.option("--notify-cmd", "notify_cmds", metavar="CMD", multiple=True,
              help="Run this program for every change, the JSON on stdin (split into words like a shell would, but"
              " never run by one; repeatable).")
@click.option("--notify-timeout", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              metavar="SECONDS", help="The time one delivery may take; past it, it is tried again later"
              " (deliveries run beside the captures and never hold them back).")
@click.option("--notify-errors", type=click.IntRange(1, 1000), metavar="N",
              help="Also notify when a page has been an error for N captures in a row, and when it recovers.")
@click.option("--notify-template", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="A Jinja2 template for Apprise messages (first line: the title).")
@click.option("--base-url", metavar="URL", default=lambda: os.environ.get("ARCHIVER_BASE_URL"),
              help="Where 'archiver serve' is reachable: messages link the diff page ($ARCHIVER_BASE_URL).")
@click.option("--json", "as_json", is_flag=True, help="A JSON summary per run.")
@flags(*FETCH_FLAGS, *AUTH_FLAGS, *BROWSER_FLAGS, *WORK_FLAGS, *CHANGE_FLAGS)
@click.pass_context
def run(ctx: click.Context, loop: bool, apprise_urls: tuple[str, ...], notify_file: str | None,
        notify_urls: tuple[str, ...],
        notify_cmds: tuple[str, ...], notify_timeout: float, notify_errors: int | None, notify_template: str | None, base_url: str | None,
        as_json: bool, **opts: Any) -> None:
    """Capture every watch that is due, once, and exit (or --loop)."""
    from .schedule.runner import NotifyOptions, RunSummary, run_due, run_loop
    from .schedule.notify import check_apprise_url, check_template

    for notify_url in notify_urls:
        check_url(notify_url)
    if base_url:
        check_url(base_url)
    commands: list[tuple[str, ...]] = []
    for notify_cmd in notify_cmds:
        try:
            command = tuple(shlex.split(notify_cmd))
        except ValueError as exc:
            raise click.BadParameter(f"cannot split {notify_cmd!r} into words: {exc}", param_hint="--notify-cmd")
        if not command:
            raise click.BadParameter("empty command", param_hint="--notify-cmd")
        commands.append(command)
    template = None
    if notify_template:
        try:
            template = check_template(Path(notify_template).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {notify_template}: {exc}") from None
    apprise = tuple(check_apprise_url(u) for u in apprise_urls + _notify_lines(notify_file))
    archive = _archive(ctx, opts)
    notify = NotifyOptions(webhooks=notify_urls, commands=tuple(commands), apprise=apprise, errors_after=notify_errors,
                           template=template, base_url=base_url, time_limit=notify_timeout)
    err = Console(stderr=True)

    def report(summary: RunSummary) -> None:
        if as_json:
            click.echo(json.dumps(summary.to_json(), ensure_ascii=False))
            return
        counts = summary.counts()
        notified = f"{summary.notified}" + (f" ({summary.notify_failed} failed)" if summary.notify_failed else "")
        out = termout.console()
        termout.print_table([Column(k, right=True) for k in ("captured", "new", "changed", "unchanged", "errors", "notified")],
                            [[*(counts[k] for k in ("captured", "new", "changed", "unchanged", "errors")), notified]],
                            out=out, title="run summary")
        for c in summary.captures:
            if c.verdict not in (Verdict.UNCHANGED, Verdict.NEW):
                out.print(termout.line(_verdict(c), c.url, c.reason or c.title or ""), crop=False)
        for section, pages in summary.new_pages.items():
            out.print(termout.line(f"{len(pages)} new page(s) in", section + ":", ", ".join(pages)), crop=False)
        err_out = termout.console(stderr=True)
        for problem in summary.notify_errors:
            err_out.print(termout.line("warning: notification not delivered:", problem), crop=False)
        for problem in summary.unscheduled:
            err_out.print(termout.line("warning: watch set aside:", problem), crop=False)

    from .workers.cluster import dask_executor
    with dask_executor(opts["dask_address"], workers=opts["workers"]) as executor:
        if loop:
            run_loop(archive, notify=notify, on_summary=report, executor=executor)
            return
        if err.is_terminal and not as_json:
            with Progress(TextColumn("capturing due watches"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=err, transient=True) as progress:
                task = progress.add_task("run", total=None)
                summary = run_due(archive, notify=notify, on_start=lambda n: progress.update(task, total=n),
                                  on_capture=lambda c: progress.advance(task), executor=executor)
        else:
            summary = run_due(archive, notify=notify, executor=executor)
    report(summary)
    if any(c.verdict is Verdict.FAILED for c in summary.captures):
        ctx.exit(EXIT_FAILED)


@cli.group(cls=ArchiverGroup)
def notify() -> None:
    """Notification targets (Apprise URLs)."""


@notify.command("test")
@click.argument("url")
def notify_test(url: str) -> None:
    """Send a test message to an Apprise URL (its secrets are never printed)."""
    from .schedule.notify import check_apprise_url, deliver, mask_url

    check_apprise_url(url)
    try:
        deliver(url, "archiver: test message", "If you can read this, archiver can reach you here.")
    except OSError as exc:
        raise ConfigError(f"not delivered: {exc}") from None
    click.echo(f"sent a test message to {mask_url(url)}")


@cli.command()
@archive_option
@click.argument("warcs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per capture added.")
@flags(_CONTACT, *WORK_FLAGS, *CHANGE_FLAGS)
@click.pass_context
def ingest(ctx: click.Context, warcs: tuple[str, ...], as_json: bool, **opts: Any) -> None:
    """Add snapshots from WARC files written by other tools (wget, Heritrix,
    browsertrix, Common Crawl); their records are copied into the archive."""
    archive = _archive(ctx, opts)
    err = Console(stderr=True)
    started = time.perf_counter()
    from .workers.cluster import dask_executor
    from .capture.ingest import ingest_warcs
    with dask_executor(opts["dask_address"], workers=opts["workers"]) as executor:
        if err.is_terminal and not as_json:
            with Progress(TextColumn("ingesting"), BarColumn(), TextColumn("{task.completed} records"),
                          TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=err,
                          transient=True) as progress:
                task = progress.add_task("ingest", total=None, rate="")

                def tick(n: int) -> None:
                    done = progress.tasks[0].completed + n
                    rate = done / max(time.perf_counter() - started, 1e-9)
                    progress.update(task, advance=n, rate=f"{rate:.0f} records/s")

                report = ingest_warcs(archive, list(warcs), executor=executor, on_record=tick)
        else:
            report = ingest_warcs(archive, list(warcs), executor=executor)
    for problem in report.problems:
        _warn(problem)
    if as_json:
        for c in report.captures:
            click.echo(json.dumps(c.to_json(), ensure_ascii=False))
        return
    counts: dict[str, int] = {}
    for c in report.captures:
        counts[c.verdict.value] = counts.get(c.verdict.value, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no captures"
    rate = report.records / max(time.perf_counter() - started, 1e-9)
    click.echo(f"{report.records} records read from {report.files} file(s) ({rate:.0f} records/s), {report.copied}"
               f" copied ({report.skipped_known} already in the archive); captures: {summary}")


@cli.command()
@archive_option
@click.option("--wacz", "wacz_path", metavar="OUT.wacz", required=True, help="The package to write.")
@click.option("--sign", is_flag=True, help="Sign the package (WACZ signing recommendation): with the archive's own"
              " ECDSA P-256 key, made once in keys/, or with --sign-cert/--sign-key.")
@click.option("--sign-cert", metavar="CERT.pem", type=click.Path(exists=True, dir_okay=False),
              help="Sign as a domain: its TLS certificate chain (PEM, leaf first) ...")
@click.option("--sign-key", metavar="KEY.pem", type=click.Path(exists=True, dir_okay=False),
              help="... and that certificate's ECDSA private key.")
@click.option("--tsa", "tsa_url", metavar="URL", help="Add an RFC 3161 timestamp of the signature from this"
              " timestamp authority (none by default).")
@click.option("--skip-missing", is_flag=True, help="Leave out the captures whose WARC files are missing (without"
              " it, a missing file stops the export), and say how many.")
@click.option("--crawl", "crawl_id", metavar="ID", help="Export the pages a crawl captured (its seeds marked as"
              " seeds in pages.jsonl).")
@click.argument("urls", nargs=-1)
@click.pass_context
def export(ctx: click.Context, wacz_path: str, sign: bool, sign_cert: str | None, sign_key: str | None,
           tsa_url: str | None, skip_missing: bool, crawl_id: str | None, urls: tuple[str, ...]) -> None:
    """Export the archive (or some URLs of it, or a crawl) as a WACZ package."""
    from .archive.export import export_wacz
    from .evidence.signing import anonymous_signer, domain_signer

    archive = Archive(ctx.obj["archive"])
    seeds: list[str] = []
    if crawl_id:
        if urls:
            raise click.UsageError("give URLs or --crawl ID, not both")
        if not archive.exists():
            raise ConfigError(f"no archive at {archive.path} (capture something first, or pass --archive)")
        from .crawl.run import find_crawl

        with archive.reader() as catalog:
            seeds = find_crawl(catalog, crawl_id)["seeds"]
            urls = tuple(r["url"] for r in catalog.frontier(crawl_id, state="done", limit=10**9)
                         if r["capture_id"] is not None)
        if not urls:
            raise ConfigError(f"crawl {crawl_id} has captured nothing yet")
    signer, public = None, None
    if bool(sign_cert) != bool(sign_key):
        raise ConfigError("--sign-cert and --sign-key go together")
    if sign_cert and sign_key:
        signer = domain_signer(sign_cert, sign_key)
    elif sign:
        if not archive.exists():
            raise ConfigError(f"no archive at {archive.path} (capture something first, or pass --archive)")
        signer, public = anonymous_signer(archive.path)
    if tsa_url:
        check_url(tsa_url)
    report = export_wacz(archive, wacz_path, list(urls) or None, signer=signer, tsa_url=tsa_url,
                         skip_missing=skip_missing, seeds=seeds)
    click.echo(f"wrote {report.path}: {report.warc_files} WARC file(s), {report.index_lines} index lines,"
               f" {report.pages} pages")
    if report.left_out or report.missing_files:
        click.echo(f"warning: left out {report.left_out} capture(s) recorded in {len(report.missing_files)} missing"
                   f" WARC file(s): {', '.join('warc/' + n for n in report.missing_files)}", err=True)
    if signer is not None:
        who = f"domain {signer.domain}" if signer.domain else f"the archive's key (public key: {public})"
        click.echo(f"signed with {who}, SHA-256 {report.signed_by}" + ("; timestamped" if report.timestamped else ""))


@cli.command()
@archive_option
@click.argument("package", required=False, type=click.Path(dir_okay=False))
@click.option("--key", "key_path", metavar="PUBKEY", help="A package: the public key (PEM, or base64 DER) it must be"
              " signed with.")
@click.option("--tsa-cert", metavar="CERT.pem", type=click.Path(exists=True, dir_okay=False),
              help="A package: the timestamp authority's certificate (or its root) to check the timestamp against.")
@click.option("--ca", "ca_path", metavar="CA.pem", type=click.Path(exists=True, dir_okay=False),
              help="A package signed as a domain: trust these roots instead of the system's.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Processes reading WARC files (default: one per core).")
@click.option("--add-unlisted", is_flag=True, help="Record the hash of closed WARC files the manifest does not list"
              " yet (an archive made before fixity was kept), once they read back whole.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def verify(ctx: click.Context, package: str | None, key_path: str | None, tsa_cert: str | None, ca_path: str | None,
           workers: int | None, add_unlisted: bool, as_json: bool) -> None:
    """Check that the archive (or a WACZ package) is intact: exit 0 when it
    is, 1 when anything is not, each problem named with its file and offset."""
    from .evidence.signing import load_certificates, load_public_key, verify_package

    if package is not None:
        if not os.path.exists(package):
            raise ConfigError(f"{package}: no such file")
        key = load_public_key(key_path) if key_path else None
        tsa_roots = load_certificates(tsa_cert) if tsa_cert else None
        ca = load_certificates(ca_path) if ca_path else None
        pkg = verify_package(package, key=key, tsa_roots=tsa_roots, domain_roots=ca)
        if _findings(as_json, pkg.to_json(), pkg.problems, pkg.notes):
            state = "intact" if pkg.ok else f"NOT intact ({len(pkg.problems)} problem(s))"
            click.echo(f"{termout.safe(package)}: {state}; {pkg.files} files checked")
            if pkg.signed:
                s = pkg.signer
                who = (f"domain {s.get('domain')}" if s.get("kind") == "domain"
                       else f"key {str(s.get('key_sha256', ''))[:16]}…" + (" (the given key)" if s.get("key_pinned")
                                                                          else ""))
                click.echo(f"signed by {termout.safe(who)} at {termout.safe(str(s.get('created')))}")
            if pkg.timestamp:
                t = pkg.timestamp
                click.echo(f"timestamped {t['time']} by {termout.safe(t['authority'])}"
                           + ("" if t["anchored"] else " (authority not pinned)"))
        ctx.exit(0 if pkg.ok else 1)
    if key_path or tsa_cert or ca_path:
        raise ConfigError("--key, --tsa-cert and --ca check a package: give its PACKAGE.wacz")
    archive = Archive(ctx.obj["archive"])
    if not archive.exists():
        raise ConfigError(f"no archive at {archive.path} (capture something first, or pass --archive)")
    err = Console(stderr=True)
    if err.is_terminal and not as_json:
        with Progress(TextColumn("verifying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            task = progress.add_task("verify", total=None)
            report = archive.verify(workers=workers, add_unlisted=add_unlisted,
                                    progress=lambda done, total: progress.update(task, completed=done, total=total))
    else:
        report = archive.verify(workers=workers, add_unlisted=add_unlisted)
    notes = [f"added to the manifest: {rel}" for rel in report.added]
    notes += [f"{name} was left open by a process that ended (killed): the next capture recovers it"
              if name in report.abandoned_open else f"{name} is still being written: checked once it is closed"
              for name in report.skipped_open]
    if _findings(as_json, report.to_json(), report.problems, notes):
        state = "intact" if report.ok else f"NOT intact ({len(report.problems)} problem(s))"
        click.echo(f"{report.path}: {state}; {report.warc_files} WARC file(s), {report.bytes / 1e6:.1f} MB,"
                   f" {report.records} records, {report.catalog_rows} catalog rows, {report.snapshots} snapshot files")
    ctx.exit(0 if report.ok else 1)


def _findings(as_json: bool, data: dict[str, Any], problems: list[Any], notes: list[str]) -> bool:
    """`verify`'s output: the JSON object, or one line per problem and note
    (then True: the caller adds its summary)."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return False
    for problem in problems:
        click.echo(f"problem: {termout.safe(str(problem))}")
    for note in notes:
        click.echo(f"note: {termout.safe(note)}")
    return True


@cli.command()
@archive_option
@click.pass_context
def index(ctx: click.Context) -> None:
    """Write a sorted CDXJ index of the archive's WARC files (index.cdxj,
    filenames relative to warc/), as pywb reads it."""
    from .archive.export import write_index

    out, lines, files = write_index(Archive(ctx.obj["archive"]))
    click.echo(f"wrote {out}: {lines} lines from {files} WARC file(s)")


@cli.group(cls=ArchiverGroup)
def rules() -> None:
    """Site rule files."""


@rules.command("check")
@click.argument("directory", required=False)
@click.option("--json", "as_json", is_flag=True)
def rules_check(directory: str | None, as_json: bool) -> None:
    """Validate every rule file (unknown keys, bad selectors, bad regexes)."""
    from .cleaning.rules import check_rules
    good, bad = check_rules(directory)
    if as_json:
        click.echo(json.dumps({"ok": [r.path for r in good],
                               "errors": [{"path": e.path, "key": e.key, "message": str(e)} for e in bad]}))
    else:
        for r in good:
            click.echo(f"ok    {r.path}")
        for e in bad:
            click.echo(f"error {e}", err=True)
    if bad:
        sys.exit(EXIT_USAGE)


def _template_report(ctx: click.Context, url: str | None, text: str) -> dict[str, Any] | None:
    """What the archive has learned of the page's site template (None without an archive or a URL)."""
    from .significance import TEMPLATE_PAGES

    archive = Archive(ctx.obj.get("archive") if ctx.obj else None)
    if not url or not text or not archive.exists():
        return None
    pages, lines = archive.template_lines(url, text)
    return {"site": host_of(url, site=True), "pages": pages, "min_pages": TEMPLATE_PAGES, "lines": lines}


@rules.command("explain")
@archive_option
@click.argument("path_or_url")
@click.option("--url", help="The page's URL, when PATH_OR_URL is a saved file.")
@_RULES
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rules_explain(ctx: click.Context, path_or_url: str, url: str | None, rules_dir: str | None, as_json: bool) -> None:
    """Show which rule files apply to a page, what each selector removed,
    whether the page is an error stub and why, and which site selectors
    matched nothing (rule rot). A URL is fetched (not archived)."""
    from .cleaning.snapshot import explain_page

    options = CleanOptions(rules_dir=rules_dir)
    status_code = None
    if path_or_url.startswith(("http://", "https://")):
        url = check_url(path_or_url)
        from .capture.fetch import fetch_page
        page = fetch_page(url, FetchOptions(host_delay=0, retries=1), max_bytes=options.max_html_bytes)
        data, status_code = page.body, page.status_code
    else:
        try:
            data = read_source(path_or_url, options.max_html_bytes)
        except OSError as exc:
            raise ConfigError(f"cannot read {path_or_url}: {exc.strerror or exc}") from None
    ex = explain_page(data, url, options=options, status_code=status_code)
    removals = [{"rule": r.rule, "selector": r.selector, "removed": r.removed, "guarded": r.guarded,
                 "preview": r.preview} for r in ex.pruned.reports if r.removed or r.guarded]
    report = {
        "url": url,
        "rules": [r.path for r in ex.rules],
        "main": ex.pruned.main_used,
        "removed": removals,
        "unmatched": [{"rule": r, "selector": sel} for r, sel in ex.pruned.unmatched],
        "status": ex.snapshot.status,
        "error": ex.snapshot.error,
        "signs": [{"rule": s.rule, "kind": s.kind, "where": s.where, "pattern": s.pattern, "decisive": s.decisive}
                  for s in ex.pruned.signs],
        "title": ex.snapshot.title,
        "word_count": ex.snapshot.word_count,
        "template": _template_report(ctx, url, ex.snapshot.text),
    }
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    out = termout.console()
    out.print(termout.line(Text("rule files:", style="bold"), ", ".join(report["rules"]) or "none"), crop=False)
    if ex.pruned.main_used:
        out.print(termout.line(Text("main content:", style="bold"), ex.pruned.main_used), crop=False)
    termout.print_table([Column("rule"), Column("selector"), Column("removed", right=True),
                         Column("guarded", right=True), Column("first text removed", flex=True)],
                        [[r["rule"], r["selector"], r["removed"], r["guarded"], r["preview"]] for r in removals], out=out)
    if any(r["guarded"] for r in removals):
        out.print(termout.line(Text("guard:", style="yellow"),
                               "some matches were kept (page wrappers, or nodes with >30% of the text)"), crop=False)
    for item in report["unmatched"] if ex.snapshot.status == "ok" else []:
        out.print(termout.line(Text("rule rot:", style="yellow"), item["rule"], "selector", repr(item["selector"]),
                               "matched nothing on this page"), crop=False)
    if ex.snapshot.status == "error_stub":
        out.print(termout.line(Text("error stub:", style="red"), ex.snapshot.error), crop=False)
    else:
        out.print(termout.line(f"status: {ex.snapshot.status}; title:", repr(ex.snapshot.title) + ";",
                               f"{ex.snapshot.word_count} words"), crop=False)
    template = report["template"]
    if template is not None:
        out.print(termout.line(Text("site template:", style="bold"),
                               f"{len(template['lines'])} line(s) of this page are on {template['min_pages']} or more"
                               f" other pages of {template['site']} in the archive ({template['pages']} pages);"
                               " they never make a capture changed"), crop=False)
        for line in template["lines"][:20]:
            out.print(termout.line("  ", line[:200]), crop=False)
    for sign in report["signs"]:
        if ex.snapshot.status != "error_stub":
            out.print(termout.line("note: error sign ignored on a page with article text:", sign["rule"], sign["where"],
                                   "matches", repr(sign["pattern"])), crop=False)


@cli.command()
@archive_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--replay-port", type=click.IntRange(1, 65535), default=8081, show_default=True,
              help="pywb's port: archived pages replay on this origin, never the interface's.")
@click.option("--no-replay", is_flag=True, help="Serve without pywb replay.")
@click.option("--token", envvar="ARCHIVER_TOKEN", help="Allow writes (add a watch, capture now) to whoever presents"
              " this token ($ARCHIVER_TOKEN). Without one, the server is read-only.")
@click.option("--token-file", type=click.Path(dir_okay=False), help="Read the token from this file.")
@click.option("--workers", type=click.IntRange(1, 32), default=None,
              help="Server processes (default: one per core, at most 4).")
@click.option("--allowed-host", "allowed_hosts", metavar="NAME", multiple=True,
              help="A host name the server is reached by (a reverse proxy's, repeatable). Requests for other names"
              " are refused (DNS rebinding); IP addresses and localhost always answer.")
@click.option("--viewer-token", envvar="ARCHIVER_VIEWER_TOKEN", help="Reads need this token too (given once on"
              " the login page, or as Authorization: Bearer); without it the archive is readable by all who reach it.")
@click.option("--viewer-token-file", type=click.Path(dir_okay=False), help="Read the viewer token from this file.")
@click.option("--base-url", metavar="URL", help="Where people reach the interface, when a reverse proxy is in front"
              " of it (https://archive.example.org/, or under a path: .../archiver/): links and feeds use it, and"
              " its host name is allowed.")
@click.option("--replay-base-url", metavar="URL", help="Where people reach replay behind the proxy (an origin of its"
              " own, e.g. https://replay.example.org): the replay links use it.")
@click.option("--allow-private", is_flag=True, help="Let captures and watches asked for through the interface reach"
              " private, loopback and link-local addresses (refused by default: the server captures for others).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, replay_port: int, no_replay: bool, token: str | None,
          token_file: str | None, workers: int | None, viewer_token: str | None, viewer_token_file: str | None,
          base_url: str | None, replay_base_url: str | None, allowed_hosts: tuple[str, ...],
          allow_private: bool) -> None:
    """Serve the archive in a browser: dashboard, timelines, diffs, search, feeds, JSON API."""
    import ipaddress

    from .web.replay import ReplayServer, pywb_available
    from .web.app import create_app
    from .web.server import run_server

    if token_file:
        try:
            token = open(token_file, encoding="utf-8").read().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read token file {token_file}: {exc.strerror}") from None
    if viewer_token_file:
        try:
            viewer_token = open(viewer_token_file, encoding="utf-8").read().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read viewer token file {viewer_token_file}: {exc.strerror}") from None
    for name, value in (("the token", token), ("the viewer token", viewer_token)):
        if value is not None and len(value) < 16:
            raise ConfigError(f"{name} must be at least 16 characters (e.g. python -c 'import secrets;"
                              " print(secrets.token_urlsafe())')")
    if replay_port == port and not no_replay:
        raise ConfigError("--replay-port must differ from --port: replay needs an origin of its own")
    archive = Archive(ctx.obj["archive"])
    if not archive.exists():
        raise ConfigError(f"{archive.path} holds no archive yet (archiver capture URL makes one)")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
        allowed_hosts = (*allowed_hosts, host)  # served under the name it listens on
    for name, value in (("--base-url", base_url), ("--replay-base-url", replay_base_url)):
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ConfigError(f"{name} {value!r}: an http(s) URL with a host (and maybe a path), nothing more")
    if base_url and replay_base_url and urlsplit(base_url).netloc == urlsplit(replay_base_url).netloc:
        raise ConfigError("--replay-base-url must be another origin than --base-url: archived pages never run on"
                          " the interface's origin")
    err = termout.console(stderr=True)
    unspecified = host in ("0.0.0.0", "::")
    if unspecified and not no_replay and not replay_base_url:
        err.print(termout.line(f"warning: replay links would point at {host}: give --replay-base-url with the"
                               " address people reach replay at"), crop=False)
    if not loopback and viewer_token is None:
        err.print(termout.line("warning: serving on", host, "for anyone who can reach it: the archive is readable"
                               " by all of them (--viewer-token asks for a login; writes stay off without --token)"),
                  crop=False)
    replay = None
    if not no_replay:
        if pywb_available():
            shown_host = f"[{host}]" if ":" in host else host
            replay = ReplayServer(archive.path, Layout.of(archive.path).catalog, host=host, port=replay_port,
                                  interface_url=base_url or f"http://{shown_host}:{port}/")
            try:
                replay.start(keep_current=False)  # its thread starts after the server processes fork
            except RuntimeError as exc:
                err.print(termout.line("warning: replay is off:", str(exc)), crop=False)
                replay = None
        else:
            err.print(termout.line("warning: replay is off: pywb is not installed (pip install 'archiver[serve]')"),
                      crop=False)
    create_app(archive)  # the catalog migrated once, before any server process opens it
    if not archive.read_only():
        with Catalog(Layout.of(archive.path).catalog) as catalog:
            catalog.abandon_jobs(now=time.time())  # a job the last server left running will never end
    workers = workers or max(1, min(os.cpu_count() or 1, 4))
    if replay is not None and replay_base_url:
        replay.public_url = replay_base_url.rstrip("/")
    replay_url = replay.url_for if replay else None
    shown = f"[{host}]" if ":" in host else host

    def listening() -> None:
        click.echo(f"serving {archive.path} on http://{shown}:{port}/"
                   + (f" (reached at {base_url})" if base_url else "")
                   + (f" (replay on {replay.base_url}/{', reached at ' + replay_base_url if replay_base_url else ''})"
                      if replay else "") + "; Ctrl-C stops")
        sys.stdout.flush()

    try:
        run_server(lambda: create_app(archive, token=token, replay_url=replay_url, allowed_hosts=allowed_hosts,
                                      allow_private=allow_private, base_url=base_url, viewer_token=viewer_token),
                   host=host, port=port,
                   workers=workers, started=replay.keep_current if replay else None, listening=listening)
    finally:
        if replay is not None:
            replay.stop()


def main() -> None:
    """Console entry point."""
    cli(prog_name="archiver")
