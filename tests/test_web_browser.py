"""The web interface in a real browser: Chromium through Playwright against
`archiver serve` (with pywb replay on its own origin) over an archive made in
the test. Screenshots of the main pages go to the test's temp folder, and
to $ARCHIVER_SCREENSHOTS when set (the manual's come from there)."""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright")
pytest.importorskip("pywb")

from archiver import Archive, Verdict  # noqa: E402
from chromium import CHROMIUM, needs_chromium  # noqa: E402
from ferrypages import FERRY, captured_ferry, page  # noqa: E402

pytestmark = needs_chromium


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, trust_env=False, timeout=2)
            return
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError(f"archiver serve exited: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


@pytest.fixture
def served(fresh_site, tmp_path, fast_options, clock):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    url, evil = fresh_site.url("/page/ferry"), fresh_site.url("/page/evil")
    for body in FERRY:
        clock.advance(hours=6)
        fresh_site.state.pages["/page/ferry"] = body
        archive.capture([url])
    fresh_site.state.pages["/page/evil"] = page("<script>window.__pwned = 1; alert(1)</script>",
                                                extra="<script>window.__pwned = 2; alert(2)</script>")
    [c] = archive.capture([evil])
    assert c.verdict is Verdict.NEW
    # A title of one unbroken run of letters, as long as a title is kept:
    # captured by the test once the README's dashboard picture is taken.
    fresh_site.state.pages["/page/unbroken"] = page("Unbroken" + "x" * 3000)
    ui, replay = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "serve", "--archive", str(archive.path),
                             "--port", str(ui), "--replay-port", str(replay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(f"http://127.0.0.1:{ui}/healthz", proc)
        wait_for(f"http://127.0.0.1:{replay}/", proc)
        yield {"ui": f"http://127.0.0.1:{ui}", "replay": f"http://127.0.0.1:{replay}", "url": url, "evil": evil,
               "archive": archive, "unbroken": fresh_site.url("/page/unbroken")}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_reading_the_archive_in_a_browser(served, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    errors: list[str] = []
    dialogs: list[str] = []
    ui = served["ui"]
    with sync_playwright() as p:
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        # Dashboard -> the URL's timeline.
        page.goto(ui + "/")
        assert page.locator("table.list").is_visible()
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
        # A title of 1,000 letters without a space breaks inside its cell:
        # nothing runs past the page, or under the verdict column beside it.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
            [c] = pool.submit(served["archive"].capture, [served["unbroken"]]).result()
        assert c.verdict is Verdict.NEW and len(c.title) == 1000
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        cell = page.locator("td.page", has_text="Unbroken").bounding_box()
        verdict = page.locator("table.list th", has_text="last verdict").bounding_box()
        assert cell is not None and verdict is not None and cell["x"] + cell["width"] <= verdict["x"] + 1
        page.get_by_role("link", name="Ferry to keep running for now").click()
        page.wait_for_url("**/timeline?**")
        assert page.locator("table.calendar").is_visible()
        assert page.locator("span.verdict.v-soft_error").count() == 1
        page.screenshot(path=str(shots / "timeline.png"), full_page=True)

        # The diff of the last two texts: inserted and deleted words marked.
        page.get_by_role("link", name="last change").click()
        page.wait_for_url("**/diff?**")
        assert page.locator("td.ins ins", has_text="five").first.is_visible()
        assert page.locator("td.del del", has_text="5").first.is_visible()
        page.keyboard.press("j")  # keyboard navigation between changes (app.js)
        assert page.locator(".chg.current").count() == 1
        page.screenshot(path=str(shots / "diff.png"), full_page=True)
        # The pickers: another pair of captures, submitted by changing a select.
        options = page.locator("select[name=from] option")
        assert options.count() >= 3
        page.select_option("select[name=view]", "inline")
        page.wait_for_selector("div.diff.inline")

        # The snapshot, then its replay from the WARC on pywb's origin.
        page.goto(ui + "/snapshot?url=" + served["url"])
        assert "Sentence five of" in page.inner_text("div.text")
        page.screenshot(path=str(shots / "snapshot.png"), full_page=True)
        replay_link = page.locator("a.replay").get_attribute("href")
        assert replay_link.startswith(served["replay"] + "/archive/")
        page.goto(replay_link)
        frame = page.frame_locator("iframe").first
        frame.locator("h1").first.wait_for(timeout=20000)
        assert "Ferry to keep running for now" in frame.locator("h1").first.inner_text()
        page.screenshot(path=str(shots / "replay.png"))

        # The page whose title and body are scripts: shown as text, never run here.
        interface_errors = [e for e in errors if e.startswith(ui)]
        page.goto(ui + "/snapshot?url=" + served["evil"])
        assert "<script>window.__pwned = 1" in page.inner_text("h1")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        page.goto(ui + "/")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        browser.close()
    assert dialogs == []
    assert [e for e in errors if e.startswith(ui)] == interface_errors == []
    for name in ("dashboard", "timeline", "diff", "snapshot", "replay"):
        data = (shots / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    keep = os.environ.get("ARCHIVER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy(png, Path(keep) / png.name)


def test_every_page_is_usable_on_a_360_px_screen(served, tmp_path):
    """A phone: nothing runs past the screen's edge, and a title wraps
    between words, not every few letters (list rows become labelled cards)."""
    from playwright.sync_api import sync_playwright

    ui, url = served["ui"], served["url"]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as p:
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 360, "height": 740})
        for name, path in (("dashboard", "/"), ("timeline", f"/timeline?url={url}"),
                           ("snapshot", f"/snapshot?url={url}"), ("diff", f"/diff?url={url}"),
                           ("search", "/search?q=ferry")):
            page.goto(ui + path)
            assert page.evaluate("document.documentElement.scrollWidth <= 360"), name
            page.screenshot(path=str(shots / f"{name}-360.png"), full_page=True)
        page.goto(ui + "/")
        title = page.get_by_role("link", name="Ferry to keep running for now").bounding_box()
        assert title is not None and title["width"] > 200 and title["height"] < 80  # two lines at most
        verdict = page.locator("td[data-label='last verdict']").first
        assert "last verdict" in verdict.evaluate("e => getComputedStyle(e, '::before').content")
        browser.close()
    keep = os.environ.get("ARCHIVER_SCREENSHOTS")
    if keep:
        for png in shots.glob("*.png"):
            shutil.copy(png, Path(keep) / png.name)


def test_logging_in_finding_editing_a_watch_and_capturing_in_the_background(fresh_site, tmp_path, fast_options, clock):
    """A person in Chromium on a server with a viewer login and a write token:
    logs in, filters the dashboard, changes and pauses a watch from its
    timeline, and captures a page in the background to its end."""
    from playwright.sync_api import sync_playwright

    from archiver.schedule.runner import add_watch

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    url = captured_ferry(archive, fresh_site, clock)
    fresh_site.state.pages["/page/other"] = page("Bridge works begin")
    archive.capture([fresh_site.url("/page/other")])
    add_watch(archive, url, every="6h")
    fresh_site.state.pages["/page/new"] = page("Quay reopens after repairs")
    token, viewer = "write-token-for-the-browser-test", "viewer-token-for-the-browser-test"
    ui = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "archiver", "serve", "--archive", str(archive.path), "--port", str(ui),
                             "--no-replay", "--token", token, "--viewer-token", viewer, "--allow-private",
                             "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(f"http://127.0.0.1:{ui}/healthz", proc)
        base = f"http://127.0.0.1:{ui}"
        with sync_playwright() as p:
            args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
            browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
            pg = browser.new_page(viewport={"width": 1280, "height": 800})
            pg.goto(base + "/")
            assert "/login" in pg.url
            pg.fill("input[name=token]", viewer)
            pg.click("text=Log in")
            pg.wait_for_selector("table.list")
            # Finding: the filter keeps one of the two pages.
            pg.fill("input[name=find]", "bridge")
            pg.click("text=Filter")
            pg.wait_for_url("**/?find=bridge**")
            assert pg.locator("table.list tbody tr").count() == 1 and "1 URL match" in pg.inner_text("main")
            # A watch changed, then paused, from its timeline.
            pg.goto(base + "/timeline?url=" + url)
            pg.click("text=Change this watch")
            pg.fill("form[action$='/watches/edit'] input[name=every]", "2h")
            pg.fill("form[action$='/watches/edit'] input[name=token]", token)
            pg.click("button[value=save]")
            pg.wait_for_selector("text=Watched every 2h")
            pg.click("text=Change this watch")
            pg.fill("form[action$='/watches/edit'] input[name=token]", token)
            pg.click("button[value=pause]")
            pg.wait_for_selector("section.watch strong.warn")
            assert "paused" in pg.inner_text("section.watch")
            # Capture now: a job page that refreshes itself until the capture is done.
            pg.goto(base + "/")
            pg.click("text=Add a watch or capture now")
            form = "form[action$='/captures']"
            pg.fill(f"{form} input[name=url]", fresh_site.url("/page/new"))
            pg.fill(f"{form} input[name=token]", token)
            pg.click(f"{form} button")
            pg.wait_for_url("**/jobs/**")
            pg.wait_for_selector("strong.job-done", timeout=60000)
            assert "Quay reopens after repairs" in pg.inner_text("main")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert [c.verdict for c in archive.history(fresh_site.url("/page/new"))] == [Verdict.NEW]
