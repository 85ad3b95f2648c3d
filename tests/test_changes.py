"""Change detection (#29): a second capture is `changed` when the article
changed, and only then. Teaser lists and chrome lines left out of the
text, lines that come and go, the site's template, a watch's --ignore,
--trigger and --min-words, and moved paragraphs shown as moved. Pages are
served from a local server and captured through the real path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from siteserver import SiteServer

from archiver import Archive, Verdict, clean
from archiver.archive.catalog import Catalog
from archiver.archive.diff import render_unified, render_words, summarize_change
from archiver.cleaning.chromelines import chrome_line
from archiver.cli import cli
from archiver.errors import ConfigError
from archiver.schedule.runner import NotifyOptions, add_watch, run_due
from archiver.significance import ChangeRules, judge_change, line_keys

PARAS = [
    "The harbour authority said on Monday that the night ferry would keep running until the new bridge opens.",
    "Ridership fell by a fifth over the winter, according to figures the authority published last week.",
    "Residents of the outer islands had campaigned for two years to keep the service, which dates from 1952.",
    "A spokesperson said the timetable would be reviewed in the spring, once the bridge works are under way.",
    "The council will hear from the operator at its next meeting, which is open to the public.",
]


def page(paras: list[str], *, title: str = "Night ferry to keep running", around: str = "", inside: str = "") -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title} | Harbour News</title></head>"
            f"<body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>{around}"
            f"<article><h1>{title}</h1>{body}{inside}</article>"
            f"<footer><p>Harbour News, 1 Quay Street</p></footer></body></html>").encode()


def invoke(arch: Path, *args: str):
    return CliRunner().invoke(cli, ["--archive", str(arch), *args])


@pytest.fixture
def archive(tmp_path, fast_options, clock):
    return Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)


def capture(archive: Archive, site: SiteServer, path: str, body: bytes, clock) -> object:
    site.state.pages[path] = body
    clock.advance(hours=1)
    [c] = archive.capture([site.url(path)])
    return c


# -- cleaning: teaser lists and chrome lines -----------------------------------------------


def test_a_teaser_list_is_left_out_wherever_it_is_and_in_page_links_and_prose_stay():
    # A "pushdown promo" as a news site prints it: each item a link around an image and a headline.
    teasers = "".join(
        f"<article class='promo-item'><a href='/news/{n}'><img src='/i/{n}.jpg'><h3>{headline}</h3></a></article>"
        for n, headline in enumerate(["Council to vote on ferry subsidy", "Bridge works delayed by storms",
                                      "Islanders plan a protest march"]))
    toc = "<ul><li><a href='#a'>Ridership</a></li><li><a href='#b'>Campaign</a></li><li><a href='#c'>Timetable</a></li></ul>"
    prose = ("<p>See the <a href='/r1'>authority's report</a>, the <a href='/r2'>council minutes</a> and the"
             " <a href='/r3'>operator's statement</a> for the figures quoted here.</p>")
    html = page(PARAS, around=f"<section class='pushdown'><div>{teasers}</div></section>",
                inside=f"{toc}{prose}<div class='more'>{teasers}</div>").decode()
    snap = clean(html, url="https://news.example/ferry")
    assert "Bridge works delayed by storms" not in snap.text
    assert "Council to vote on ferry subsidy" not in snap.text
    assert "authority's report" in snap.text and all(p in snap.text for p in PARAS)


CHROME_LINES = [
    ("en", "Related: Council to vote on ferry subsidy", "related"),
    ("en", "READ MORE: Bridge works delayed by storms", "related"),
    ("en", "Popular on Harbour News", "related"),
    ("en", "5 min read", "reading time"),
    ("en", "1,204 shares", "counts"),
    ("en", "Sign up for our morning newsletter and get the news in your inbox.", "promo"),
    ("en", "© 2019 Harbour News Ltd. All rights reserved.", "copyright"),
    ("en", "Advertisement", "advertisement"),
    ("en", "We use cookies to improve your experience. By continuing you agree to our use of cookies.", "consent"),
    ("de", "Lesen Sie auch: Die Brücke kommt später", "related"),
    ("de", "Lesezeit: 4 Minuten", "reading time"),
    ("de", "Jetzt abonnieren und den Newsletter erhalten", "promo"),
    ("de", "Anzeige", "advertisement"),
    ("fr", "À lire aussi : le pont retardé par les tempêtes", "related"),
    ("fr", "Temps de lecture : 3 min", "reading time"),
    ("fr", "Abonnez-vous à notre newsletter", "promo"),
    ("fr", "Publicité", "advertisement"),
    ("fr", "Nous utilisons des cookies pour mesurer l'audience.", "consent"),
    ("es", "Lee también: El puente se retrasa", "related"),
    ("es", "12 comentarios", "counts"),
    ("es", "Todos los derechos reservados", "copyright"),
    ("pt", "Leia também: Ponte atrasada pelas tempestades", "related"),
    ("pt", "Tempo de leitura: 2 minutos", "reading time"),
    ("pt", "Assine a nossa newsletter", "promo"),
    ("it", "Leggi anche: il ponte è in ritardo", "related"),
    ("it", "Tutti i diritti riservati", "copyright"),
    ("it", "Pubblicità", "advertisement"),
    ("zh", "相关阅读：渡轮将继续运营", "related"),
    ("zh", "版权所有 © 港口新闻", "copyright"),
    ("zh", "广告", "advertisement"),
]

PROSE = [
    "The related question, the mayor said, is who pays for the bridge once the ferry stops.",
    "Readers who read more than five minutes a day were asked about the service in the survey.",
    "Es gibt auch Kommentare von Anwohnern, die den Newsletter der Gemeinde abonniert haben und sich beschweren.",
    "Le journal a publié une publicité pour le pont, ce qui a suscité des critiques de la part des habitants.",
    "La empresa dijo que todos los derechos de los trabajadores serán respetados durante las obras del puente.",
    "Os moradores leem também os avisos da prefeitura, que publicou o horário novo na semana passada.",
    "Il sindaco ha detto che la pubblicità del servizio sarà pagata dal comune fino alla primavera.",
    "The regulator said that sites which use cookies must ask before they set them, and we agree.",
    "市政府表示，渡轮将继续运营，直到新桥开通为止，相关费用由港务局承担。",
]


@pytest.mark.parametrize("lang,line,kind", CHROME_LINES, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(CHROME_LINES)])
def test_chrome_lines_are_told_by_signal_in_seven_languages(lang, line, kind):
    assert chrome_line(line) == kind
    assert chrome_line(f"- {line}") == kind  # as a list item too


@pytest.mark.parametrize("line", PROSE)
def test_prose_that_uses_the_same_words_is_article(line):
    assert chrome_line(line) is None


def test_a_consent_notice_goes_with_its_heading_and_buttons_and_nothing_else():
    from archiver.cleaning.chromelines import drop_chrome_lines

    paragraphs = [PARAS[0], "Your privacy matters", "We and our partners store information on your device, such as"
                  " cookies, to measure audiences and show personalised ads.", "Accept all\nSettings", PARAS[1],
                  "Short line one", "Short line two"]
    assert drop_chrome_lines(paragraphs) == [PARAS[0], PARAS[1], "Short line one", "Short line two"]


def test_chrome_lines_inside_the_article_leave_the_text_and_the_article_stays():
    inside = ("<p>Related: Council to vote on ferry subsidy</p><p>Tempo de leitura: 2 minutos</p>"
              "<p>Sign up for our morning newsletter and get the news in your inbox.</p><p>Advertisement</p>"
              "<p>copyright Harbour News 2019 - ISSN: 1234-5678</p>")
    body = PARAS[:2] + ["READ MORE: Bridge works delayed by storms"] + PARAS[2:]
    snap = clean(page(body, inside=inside).decode(), url="https://news.example/ferry")
    for line in ("Related", "Tempo de leitura", "newsletter", "Advertisement", "ISSN", "READ MORE"):
        assert line not in snap.text
    assert all(p in snap.text for p in PARAS)


# -- verdicts: lines that come and go, the template, rules ----------------------------------


def test_a_recurring_rotating_list_is_judged_unchanged_and_history_says_why(archive, fresh_site, clock, tmp_path):
    # A "quote of the day" box inside the article that alternates between two quotes.
    a = page(PARAS, inside="<blockquote><p>“The sea is the same, the boats change.” — harbour saying</p></blockquote>")
    b = page(PARAS, inside="<blockquote><p>“A ferry is a bridge that waits.” — island proverb</p></blockquote>")
    verdicts = [capture(archive, fresh_site, "/page/q", body, clock).verdict for body in (a, b, a, b, a)]
    # The second version is new; its first return is a change too (the line it removes had never gone
    # before); from then on the box only comes round again.
    assert verdicts == [Verdict.NEW, Verdict.CHANGED, Verdict.CHANGED, Verdict.UNCHANGED, Verdict.UNCHANGED]
    last = archive.history(fresh_site.url("/page/q"))[-1]
    assert "earlier snapshots" in (last.reason or "")
    assert last.text_sha256 != archive.history(fresh_site.url("/page/q"))[-2].text_sha256  # the text is kept
    out = invoke(archive.path, "history", fresh_site.url("/page/q"))
    assert out.exit_code == 0 and "earlier snapshots" in out.output
    data = json.loads(invoke(archive.path, "history", fresh_site.url("/page/q"), "--json").output)
    assert "earlier snapshots" in data[-1]["reason"]


def test_lines_of_texts_stored_before_lines_were_kept_are_read_from_their_files(archive, fresh_site, clock):
    a = page(PARAS, inside="<p>Quote: the sea is the same.</p>")
    b = page(PARAS, inside="<p>Quote: a ferry is a bridge that waits.</p>")
    for body in (a, b, a):
        capture(archive, fresh_site, "/page/old", body, clock)
    with Catalog(archive.path / "catalog.sqlite") as catalog, catalog.transaction():
        catalog.db.execute("DELETE FROM text_lines")  # an archive from before schema 14
    assert capture(archive, fresh_site, "/page/old", b, clock).verdict is Verdict.UNCHANGED
    with Catalog(archive.path / "catalog.sqlite") as catalog:
        assert catalog.db.execute("SELECT count(DISTINCT sha256) FROM text_lines").fetchone()[0] == 2


def test_a_line_every_earlier_snapshot_had_is_a_change_when_it_goes(archive, fresh_site, clock):
    a = page(PARAS, inside="<p>Quote: the sea is the same.</p>")
    b = page(PARAS, inside="<p>Quote: a ferry is a bridge that waits.</p>")
    for body in (a, b, a, b):
        capture(archive, fresh_site, "/page/q", body, clock)
    # The rotating line comes round again, but a paragraph every snapshot had is gone: a change.
    gone = page(PARAS[:2] + PARAS[3:], inside="<p>Quote: the sea is the same.</p>")
    assert capture(archive, fresh_site, "/page/q", gone, clock).verdict is Verdict.CHANGED
    # A reverted one-off edit is a change too: the line it removes had never gone before.
    edited = page([PARAS[0] + " It was a calm night.", *PARAS[1:]])
    capture(archive, fresh_site, "/page/r", page(PARAS), clock)
    assert capture(archive, fresh_site, "/page/r", edited, clock).verdict is Verdict.CHANGED
    assert capture(archive, fresh_site, "/page/r", page(PARAS), clock).verdict is Verdict.CHANGED


def test_the_site_template_is_learned_from_its_other_pages_and_shown_by_rules_explain(archive, fresh_site, clock,
                                                                                         tmp_path):
    def site_page(n: int, appeal: str) -> bytes:
        paras = [f"Story {n}: " + p for p in PARAS[:3]]
        return page(paras, title=f"Story {n}", inside=f"<p>{appeal}</p>")

    old = "Harbour News is funded by its readers. Give what you can this winter."
    new = "Harbour News is funded by its readers. Become a member for the spring."
    for n in range(1, 5):
        assert capture(archive, fresh_site, f"/page/s{n}", site_page(n, old), clock).verdict is Verdict.NEW
    # The site changes its appeal; the first pages recaptured cannot know yet that the new line is template.
    first = [capture(archive, fresh_site, f"/page/s{n}", site_page(n, new), clock).verdict for n in (2, 3, 4)]
    assert first == [Verdict.CHANGED, Verdict.CHANGED, Verdict.CHANGED]
    c = capture(archive, fresh_site, "/page/s1", site_page(1, new), clock)
    assert c.verdict is Verdict.UNCHANGED and "2 lines of the site's template" in c.reason
    # An edit of the article on the same page still counts.
    edited = site_page(1, new).replace(b"Ridership fell by a fifth", b"Ridership fell by a quarter")
    assert capture(archive, fresh_site, "/page/s1", edited, clock).verdict is Verdict.CHANGED

    saved = tmp_path / "s1.html"
    saved.write_bytes(site_page(1, new))
    out = invoke(archive.path, "rules", "explain", str(saved), "--url", fresh_site.url("/page/s1"), "--json")
    assert out.exit_code == 0, out.output
    template = json.loads(out.output)["template"]
    assert template["lines"] == [new] and template["min_pages"] == 3 and template["pages"] == 4
    text = invoke(archive.path, "rules", "explain", str(saved), "--url", fresh_site.url("/page/s1")).output
    assert "site template:" in text and new in text
    # Derived data: a reindex learns the same template again from the files.
    assert invoke(archive.path, "reindex").exit_code == 0
    again = json.loads(invoke(archive.path, "rules", "explain", str(saved), "--url", fresh_site.url("/page/s1"),
                              "--json").output)["template"]
    assert again == template


def test_capture_ignore_leaves_matching_lines_out_of_the_verdict(fresh_site, tmp_path):
    arch = tmp_path / "a"
    url = fresh_site.url("/page/i")
    fresh_site.state.pages["/page/i"] = page(PARAS, inside="<p>Last updated 10:42 by the night desk</p>")
    assert invoke(arch, "capture", url).exit_code == 0
    fresh_site.state.pages["/page/i"] = page(PARAS, inside="<p>Last updated 11:07 by the night desk</p>")
    out = invoke(arch, "capture", url, "--json", "--ignore", "/^Last updated \\d+:\\d+/")
    assert json.loads(out.output)["verdict"] == "unchanged"
    fresh_site.state.pages["/page/i"] = page(PARAS, inside="<p>Last updated 11:30 by the night desk</p>")
    assert json.loads(invoke(arch, "capture", url, "--json").output)["verdict"] == "changed"  # not told to ignore
    bad = invoke(arch, "capture", url, "--ignore", "/[unclosed/")
    assert bad.exit_code == 2 and "not a regular expression" in bad.output and "Traceback" not in bad.output


def test_capture_min_words_and_trigger(fresh_site, tmp_path):
    arch = tmp_path / "a"
    url = fresh_site.url("/page/m")
    fresh_site.state.pages["/page/m"] = page(PARAS)
    invoke(arch, "capture", url)

    def second(paras: list[str], *args: str) -> dict:
        fresh_site.state.pages["/page/m"] = page(paras)
        return json.loads(invoke(arch, "capture", url, "--json", *args).output)

    one_word = [PARAS[0].replace("Monday", "Tuesday"), *PARAS[1:]]
    assert second(one_word, "--min-words", "3")["verdict"] == "unchanged"
    [row] = [c for c in json.loads(invoke(arch, "history", url, "--json").output)[-1:]]
    assert "fewer than --min-words 3" in row["reason"]
    more = [*one_word, "The operator said it would add a second boat on Fridays."]
    assert second(more, "--min-words", "3")["verdict"] == "changed"
    budget = [*more, "The council approved the budget for the quay."]
    assert second(budget, "--trigger", "recall")["verdict"] == "unchanged"
    recall = [*budget, "A recall vote on the harbour master is set for May."]
    assert second(recall, "--trigger", "/recall vote/i")["verdict"] == "changed"


def test_a_watch_keeps_its_rules_and_its_notifications_follow_them(tmp_path, fast_options, clock, fresh_site):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock, workers=0)
    hook = SiteServer().start()
    try:
        url = fresh_site.url("/page/w")
        fresh_site.state.pages["/page/w"] = page(PARAS)
        out = invoke(archive.path, "watch", "add", url, "--every", "1h", "--trigger", "recall", "--ignore",
                     "Last updated", "--min-words", "2")
        assert out.exit_code == 0 and "1 trigger(s)" in out.output, out.output
        [listed] = json.loads(invoke(archive.path, "watch", "list", "--json").output)
        assert (listed["trigger"], listed["ignore"], listed["min_words"]) == (["recall"], ["Last updated"], 2)
        kept = json.loads((archive.path / "watches.json").read_text())
        assert "recall" in json.dumps(kept)  # the watch file keeps the rules, for a lost catalog
        target = NotifyOptions(apprise=(f"json://127.0.0.1:{hook.server_port}/notify",))

        def run(paras: list[str]) -> Verdict:
            fresh_site.state.pages["/page/w"] = page(paras)
            clock.advance(hours=2)
            with Catalog(archive.path / "catalog.sqlite") as catalog, catalog.transaction():
                catalog.db.execute("UPDATE watches SET next_due = 0")  # added on the real clock: due now
            [c] = run_due(archive, notify=target).captures
            return c.verdict

        assert run(PARAS) is Verdict.NEW
        assert run([*PARAS, "The council approved the budget for the quay."]) is Verdict.UNCHANGED
        assert run([*PARAS, "A recall vote on the harbour master is set for May."]) is Verdict.CHANGED
        posts = [json.loads(body) for path, body in hook.state.posts if path == "/notify"]
        assert len(posts) == 1 and "recall vote" in posts[0]["message"]
    finally:
        hook.stop()


def test_change_rules_are_checked_before_anything_is_kept(archive):
    with pytest.raises(ConfigError, match="empty pattern"):
        ChangeRules.make(ignore=[" "])
    with pytest.raises(ConfigError, match="not a regular expression"):
        ChangeRules.make(trigger=["/(/"])
    with pytest.raises(ConfigError):
        ChangeRules.from_json({"min_words": "many"})
    with pytest.raises(ConfigError):
        add_watch(archive, "https://news.example/a", every="1h", change_rules=ChangeRules.from_json({"ignore": 5}))
    assert not archive.exists() or not Catalog(archive.path / "catalog.sqlite").watches()


def test_judging_a_change_line_by_line():
    old = "\n\n".join(PARAS)
    # Order only: no line added or removed.
    assert not judge_change(old, "\n\n".join(PARAS[1:] + PARAS[:1])).changed
    # A word corrected in a long paragraph is one word for --min-words, not the paragraph.
    fixed = old.replace("Monday", "Tuesday")
    assert judge_change(old, fixed, rules=ChangeRules.make(min_words=1)).changed
    assert not judge_change(old, fixed, rules=ChangeRules.make(min_words=2)).changed
    # Quote B came back; Quote A, removed, had come and gone before. Quote C is new.
    seq = [line_keys(old + "\n\nQuote A"), line_keys(old + "\n\nQuote B")]
    assert not judge_change(old + "\n\nQuote A", old + "\n\nQuote B", earlier=seq).changed
    assert judge_change(old + "\n\nQuote A", old + "\n\nQuote C", earlier=seq).changed


# -- diffs: moves --------------------------------------------------------------------------


def test_a_moved_paragraph_is_shown_as_moved_in_every_rendering(archive, fresh_site, clock):
    url = fresh_site.url("/page/mv")
    capture(archive, fresh_site, "/page/mv", page(PARAS), clock)
    moved = [PARAS[0], PARAS[2], PARAS[3], PARAS[1], PARAS[4] + " The meeting is on Thursday."]
    c = capture(archive, fresh_site, "/page/mv", page(moved), clock)
    assert c.verdict is Verdict.CHANGED  # the edit; the move alone would not be
    d = archive.diff(url, context=0)
    ops = [ch.op for hunk in d.hunks for ch in hunk]
    assert "moved_out" in ops and "moved_in" in ops and "delete" not in ops and "insert" not in ops
    [out] = [ch for hunk in d.hunks for ch in hunk if ch.op == "moved_out"]
    assert out.old == PARAS[1] and (out.old_index, out.new_index) == (2, 4)  # the title is paragraph 0
    unified = render_unified(d)
    assert f"<{PARAS[1]}" in unified and f">{PARAS[1]}" in unified and f"-{PARAS[1]}" not in unified
    assert "moved here from paragraph 3" in render_words(d)
    js = json.loads(invoke(archive.path, "diff", url, "--format", "json").output)
    assert {"moved_out", "moved_in"} <= {ch["op"] for hunk in js["hunks"] for ch in hunk}
    html = invoke(archive.path, "diff", url, "--format", "html").output
    assert "moved here from paragraph 3" in html
    # What a notification says: the words of the edit, not the moved paragraph.
    s = summarize_change("\n\n".join(PARAS), "\n\n".join(moved))
    assert s.added == "The meeting is on Thursday." and s.removed == "" and s.words_added == 5
    # Moving only: unchanged, and why.
    again = capture(archive, fresh_site, "/page/mv", page([moved[1], moved[0], *moved[2:]]), clock)
    assert again.verdict is Verdict.UNCHANGED and "order" in again.reason


def test_a_paragraph_added_at_the_end_is_one_added_paragraph(archive, fresh_site, clock):
    url = fresh_site.url("/page/end")
    capture(archive, fresh_site, "/page/end", page(PARAS), clock)
    update = "Update: the authority corrected the ridership figure after publication."
    assert capture(archive, fresh_site, "/page/end", page([*PARAS, update]), clock).verdict is Verdict.CHANGED
    changes = [ch for hunk in archive.diff(url, context=0).hunks for ch in hunk]
    assert [(ch.op, ch.new) for ch in changes] == [("insert", update)]
