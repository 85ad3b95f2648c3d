"""Other scripts and other markups: Chinese, Japanese, Korean, Arabic and
Persian through clean, search, diff and the HTML diff page; titles' site
names learned from a host's other pages; numbered lists; footnote markers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import archiver
from archiver import Archive, Verdict
from archiver.archive.cjk import index_terms, query_phrases
from archiver.cli import cli
from archiver.archive.diff import render_html, word_diff
from archiver.cleaning.normalize import count_words, learned_suffixes, normalize_text

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "scripts"))
import pages as P  # noqa: E402

ZH_URL = "https://news.example.cn/2024/05/archives"


# -- Chinese ---------------------------------------------------------------


def test_chinese_article_cleans_with_pull_quotes_once_and_no_site_suffix():
    snap = archiver.clean(P.chinese_article().encode(), ZH_URL)
    assert snap.status == "ok"
    assert snap.title == P.ZH_TITLE  # " | 中国人权" gone
    assert snap.page_title == f"{P.ZH_TITLE} | {P.ZH_SITE}"  # kept as the page gave it
    assert snap.language == "zh"
    assert snap.authors == ("王明",)
    assert snap.published == P.ZH_DATE
    for para in P.ZH_PARAS:
        assert snap.text.count(para) == 1, para[:10]
    # The pull quotes (a sentence from inside paragraph 1, all of paragraph 3) are not printed twice.
    for _, quote in P.ZH_PULL_QUOTES:
        assert snap.text.count(quote) == 1
    for chrome in ("首页", "关于我们", "版权所有"):
        assert chrome not in snap.text
    # Full-width punctuation stays full width; no spaces are put between characters.
    assert "，" in snap.text and "。" in snap.text and "“" in snap.text and "：" in snap.text
    assert "档 案" not in snap.text


def test_cjk_word_counts_count_characters():
    assert count_words("档案馆保存记录") == 7
    assert count_words("archive 档案 record") == 4
    assert count_words("記録を保存する") == 7  # kana and kanji alike
    assert count_words("기록실이 있었다") == 2  # Korean writes spaces: counted like English
    snap = archiver.clean(P.chinese_article().encode(), ZH_URL)
    han = sum(1 for ch in snap.text if "\u4e00" <= ch <= "\u9fff")
    assert snap.word_count >= han and snap.word_count < han + 40


def test_normalisation_keeps_ideographic_space_and_joiners():
    [line] = normalize_text("第一章\u3000档案")
    assert line == "第一章\u3000档案"
    [fa] = normalize_text(P.FA_PARAS[0])
    assert "\u200c" in fa
    [zw] = normalize_text("a\u200bb")
    assert zw == "ab"  # a zero-width space carries nothing


def test_japanese_and_korean_articles_clean():
    ja = archiver.clean(P.simple_article("ja", "記録と余白", P.JA_PARAS).encode(), "https://ja.example.jp/a")
    ko = archiver.clean(P.simple_article("ko", "기록과 여백", P.KO_PARAS).encode(), "https://ko.example.kr/a")
    for snap, paras in ((ja, P.JA_PARAS), (ko, P.KO_PARAS)):
        assert snap.status == "ok"
        for para in paras:
            assert para in snap.text


def test_cjk_index_terms_and_queries():
    assert index_terms("地方档案") == "地方 方档 档案 案"
    assert index_terms("no cjk here") == ""
    assert query_phrases("档案") == (['"档案"'], [])
    assert query_phrases("档") == (['"档" *'], [])
    assert query_phrases("地方档案馆") == (['"地方 方档 档案 案馆"'], [])
    assert query_phrases("WARC档案") == (['"档案"'], ["WARC"])


# -- Right to left ---------------------------------------------------------


def test_arabic_article_survives_clean():
    snap = archiver.clean(P.arabic_article().encode(), "https://ar.example.org/archive")
    assert snap.status == "ok"
    assert snap.title == P.AR_TITLE
    assert snap.language == "ar"
    for para in P.AR_PARAS:
        assert para in snap.text
    assert "الرئيسية" not in snap.text


def test_persian_zero_width_non_joiners_survive_extraction():
    snap = archiver.clean(P.persian_article().encode(), "https://fa.example.org/archive")
    assert snap.status == "ok"
    for para in P.FA_PARAS:
        assert para in snap.text
    assert "می\u200cخواهم" in snap.text and "میخواهم" not in snap.text
    # As entities too, and the escape mark itself passes through untouched.
    html = P.persian_article().replace("\u200c", "&zwnj;").replace("</h1>", "</h1><p>\u2af8 stays \u2af8.</p>")
    snap = archiver.clean(html.encode(), "https://fa.example.org/archive")
    assert "می\u200cخواهم" in snap.text and "\u2af8 stays \u2af8." in snap.text


def test_word_diff_splits_chinese_by_character():
    ops = word_diff("当局公开档案。", "当局销毁档案。")
    assert ("delete", "公开") in ops and ("insert", "销毁") in ops
    assert ("equal", "当局") in ops


# -- Through the archive -----------------------------------------------------


def _two_captures(fresh_site, tmp_path, fast_options, clock, path, first, second):
    url = fresh_site.url(path)
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    fresh_site.state.pages[path] = first.encode()
    archive.capture([url])
    clock.advance(hours=1)
    fresh_site.state.pages[path] = second.encode()
    [c] = archive.capture([url])
    return archive, url, c


def test_search_finds_a_two_character_chinese_word(fresh_site, tmp_path, fast_options, clock):
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    fresh_site.state.pages["/page/zh"] = P.chinese_article().encode()
    fresh_site.state.pages["/page/ja"] = P.simple_article("ja", "記録と余白", P.JA_PARAS).encode()
    fresh_site.state.pages["/page/ko"] = P.simple_article("ko", "기록과 여백", P.KO_PARAS).encode()
    fresh_site.state.pages["/page/ar"] = P.arabic_article().encode()
    urls = [fresh_site.url(p) for p in ("/page/zh", "/page/ja", "/page/ko", "/page/ar")]
    assert [c.verdict for c in archive.capture(urls)] == [Verdict.NEW] * 4
    hits = archive.search(P.ZH_WORD, 10)
    assert [h.url for h in hits] == [urls[0]]
    assert f"[{P.ZH_WORD}]" in hits[0].snippet
    assert [h.url for h in archive.search("拆迁", 10)] == [urls[0]]  # inside a longer run
    assert archive.search("拆档", 10) == []  # both characters are there, not side by side
    assert [h.url for h in archive.search("余白", 10)] == [urls[1]]  # Japanese
    assert [h.url for h in archive.search("기록실", 10)] == [urls[2]]  # a Korean word with its particle attached
    assert [h.url for h in archive.search("الهوامش", 10)] == [urls[3]]  # Arabic: the word index
    # A Chinese word and an English one together: both must match.
    assert archive.search(f"{P.ZH_WORD} ferry", 10) == []
    # The CLI, JSON out.
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "search", "档案", "--json"])
    assert res.exit_code == 0, res.output
    assert urls[0] in res.output


def test_chinese_and_japanese_word_counts_count_characters_of_the_script_not_punctuation():
    """A 676-character Chinese article counted 829: each run of punctuation
    between characters (，。「」——) counted as one more word."""
    zh = "中国人权（HRIC）表示，“软实力”不是宣传。——记者 2026年"
    assert count_words(zh) == 4 + 1 + 2 + 3 + 4 + 2 + 1 + 1  # 中国人权 HRIC 表示 软实力 不是宣传 记者 2026 年
    assert count_words("記録と余白。「テスト・ケース」") == 5 + 3 + 3  # the middle dot is no character of a word
    assert count_words("Hello — world … !") == 2
    assert count_words("\ufb01le and ＡＢＣ") == 3


def test_search_and_word_counts_see_compatibility_forms_folded(fresh_site, tmp_path, fast_options, clock):
    """PDF text keeps ligatures (U+FB01): "search file" missed a page that
    says "ﬁle". The index folds them (NFKC); the snapshot keeps what came."""
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    body = ("<p>The o\ufb03cial \ufb01le was \ufb01led with the ministry on Tuesday, and its "
            "ＲＥＰＯＲＴ was read out in full to the committee.</p>") * 4
    fresh_site.state.pages["/page/lig"] = P.simple_article("en", "The \ufb01le", [body]).encode()
    url = fresh_site.url("/page/lig")
    [c] = archive.capture([url])
    assert c.verdict is Verdict.NEW
    for query in ("file", "official", "filed", "report", "\ufb01le"):
        assert [h.url for h in archive.search(query, 10)] == [url], query
    shown = archive.show(url)
    assert "\ufb01le" in shown.snapshot.text  # stored as the document had it


def test_catalog_from_before_the_cjk_index_is_migrated(fresh_site, tmp_path, fast_options, clock):
    """An archive made before search_cjk existed: opening it indexes what it has."""
    import sqlite3

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    fresh_site.state.pages["/page/zh"] = P.chinese_article().encode()
    url = fresh_site.url("/page/zh")
    archive.capture([url])
    db = sqlite3.connect(tmp_path / "arch" / "catalog.sqlite")
    db.executescript("DROP TABLE search_cjk; DROP TABLE page_titles; DROP TABLE latest;"
                     " ALTER TABLE captures DROP COLUMN via;"
                     " ALTER TABLE watches DROP COLUMN browser; ALTER TABLE current DROP COLUMN changed;"
                     " DROP TABLE changes; DROP TABLE warc_files; DROP TABLE heartbeats;"
                     " ALTER TABLE watches DROP COLUMN notify; ALTER TABLE watches DROP COLUMN auth;"
                     " ALTER TABLE watches DROP COLUMN active_hours; ALTER TABLE watches DROP COLUMN tz;"
                     " ALTER TABLE notifications DROP COLUMN next_try; ALTER TABLE watches DROP COLUMN headers;"
                     " ALTER TABLE watches DROP COLUMN cookies;"
                     " ALTER TABLE texts DROP COLUMN snapshot_sha256; DROP TABLE text_lines; DROP TABLE site_lines;"
                     " ALTER TABLE watches DROP COLUMN change_rules; ALTER TABLE watches DROP COLUMN paused;"
                     " DROP TABLE versions; DROP TABLE search_versions; DROP TABLE search_versions_cjk;"
                     " DROP TABLE jobs; DROP TABLE crawls; DROP TABLE crawl_urls; ALTER TABLE watches DROP COLUMN follow;"
                     " PRAGMA user_version = 5;")
    db.close()
    reopened = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    assert [h.url for h in reopened.search(P.ZH_WORD, 10)] == [url]


def test_chinese_diff_shows_the_changed_characters(fresh_site, tmp_path, fast_options, clock):
    before = P.chinese_article()
    after = before.replace("公开所有涉及强制拆迁的档案", "销毁所有涉及强制拆迁的档案", 1)
    archive, url, c = _two_captures(fresh_site, tmp_path, fast_options, clock, "/page/zh-a", before, after)
    assert c.verdict == Verdict.CHANGED
    d = archive.diff(url)
    [hunk] = d.hunks
    [replace] = [ch for ch in hunk if ch.op == "replace"]
    assert ("delete", "公开") in replace.words and ("insert", "销毁") in replace.words


def test_arabic_diff_and_html_page_keep_right_to_left(fresh_site, tmp_path, fast_options, clock):
    before = P.arabic_article()
    after = before.replace("الطقس وأسعار الشموع", "الطقس وأسعار الخبز")
    archive, url, c = _two_captures(fresh_site, tmp_path, fast_options, clock, "/page/ar-a", before, after)
    assert c.verdict == Verdict.CHANGED
    d = archive.diff(url)
    page = render_html(d)
    assert '<td class="del" dir="auto">' in page and '<td class="ins" dir="auto">' in page
    assert "<del>الشموع</del>" in page and "<ins>الخبز</ins>" in page
    assert P.AR_TITLE in page and '<h1 dir="auto">' in page
    res = CliRunner().invoke(cli, ["--archive", str(tmp_path / "arch"), "diff", url])
    assert res.exit_code == 0 and "الخبز" in res.output


# -- Site names learned from the host's pages ----------------------------------


def test_learned_suffixes():
    titles = ["Ledgers | Human Rights in China 中国人权", "Floods | Human Rights in China 中国人权",
              "Rivers - Part 2 | Human Rights in China 中国人权", "About us"]
    assert learned_suffixes(titles) == (" | Human Rights in China 中国人权",)
    assert learned_suffixes(["Ledgers | A", "Floods | B"]) == ()  # nothing shared
    assert learned_suffixes(["Same | Site"] * 5) == ()  # one distinct title is not a pattern
    many = [f"Story {i}" for i in range(30)] + ["X | Weekly", "Y | Weekly"]
    assert learned_suffixes(many) == ()  # two of thirty-two titles: not the site's name


def test_learned_suffixes_of_titles_made_of_separators_are_few_and_quick():
    """A host whose every title is hundreds of " | " parts (1,000 characters,
    the cap) made hundreds of endings per title, re-counted at each of its
    captures (0.11 s for 400 titles in the single writer); only the endings
    at a title's last separators are counted."""
    import time

    titles = [f"Page {i}" + " | a" * 249 for i in range(400)]
    t0 = time.process_time()
    found = learned_suffixes(titles)
    assert time.process_time() - t0 < 0.05
    assert 0 < len(found) <= 6 and all(len(e) <= 6 * 4 for e in found)
    # Overlapping separators still count once each, three parts deep:
    assert learned_suffixes(["A ｜ B ｜ 中国人权", "C ｜ D ｜ 中国人权", "E ｜ 中国人权"])[0] == " ｜ 中国人权"
    assert learned_suffixes(["One | Two | Section | Site", "Three | Four | Section | Site"])[0] == " | Section | Site"


def test_site_name_suffix_learned_from_the_hosts_other_captures(fresh_site, tmp_path, fast_options, clock):
    """A mirror host with no og:site_name and no site rule: the ending its
    pages share is taken off, once the archive has seen two of them."""
    suffix = " | Human Rights in China 中国人权"
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    topics = ["Ledgers of the River", "Monastery Copies", "Weather in the Margins"]
    for i, topic in enumerate(topics):
        fresh_site.state.pages[f"/page/mirror-{i}"] = P.simple_article("en", topic + suffix, [
            f"{topic}: river towns kept records long before they kept newspapers, copied twice a year.",
            "Clerks were paid by the page, which explains the care of their handwriting and notes.",
        ]).encode()
    urls = [fresh_site.url(f"/page/mirror-{i}") for i in range(3)]
    first = archive.capture(urls[:2])
    assert all(c.title.endswith(suffix.strip(" |")) for c in first)  # nothing learned yet
    [third] = archive.capture(urls[2:])
    assert third.title == topics[2]
    # Recapturing the first pages now takes it off them too.
    clock.advance(hours=1)
    again = archive.capture(urls[:2])
    assert [c.title for c in again] == topics[:2]


# -- Lists and footnotes ---------------------------------------------------------

FILLER = "Archive records are kept in many towns along the river and copied twice each year by clerks. " * 3


def _article(inner: str) -> bytes:
    return (f"<html><head><title>Steps</title></head><body><article><h1>Steps</h1><p>{FILLER}</p>{inner}"
            f"<p>{FILLER}</p></article></body></html>").encode()


def test_ordered_lists_keep_their_numbers():
    snap = archiver.clean(_article(
        "<p>Do this:</p><ol><li>Fetch the page.</li><li>Write the <b>WARC</b> file.</li></ol>"
        '<ol start="4"><li>Four</li><li value="9">Nine</li><li>Ten</li></ol>'
        '<ol type="a"><li>alpha</li><li>beta</li></ol><ol type="I"><li>one</li><li>two</li></ol>'
        "<ol reversed><li>three</li><li>two</li><li>one</li></ol>"
        "<ul><li>a bullet</li></ul>"), "https://e.org/steps")
    paras = snap.paragraphs
    for line in ("1. Fetch the page.", "2. Write the WARC file.", "4. Four", "9. Nine", "10. Ten", "a. alpha",
                 "b. beta", "I. one", "II. two", "3. three", "1. one", "- a bullet"):
        assert line in paras, line


@pytest.mark.parametrize("marker", [
    '<a href="#_ftn1" name="_ftnref1"><span class="MsoFootnoteReference"><span>[1]</span></span></a>',  # Word
    '<a href="#fn1" class="footnote-ref" id="fnref1" role="doc-noteref"><sup>1</sup></a>',  # pandoc
    '<span class="easy-footnote"><a href="#easy-footnote-bottom-1-52"><sup>1</sup></a></span>',  # WordPress
    '<sup id="cite_ref-1" class="reference"><a href="#cite_note-1">[1]</a></sup>',  # MediaWiki
    '<a href="#n1">1</a>',  # a bare link to "#n1"
    '<span class="MsoFootnoteReference">1</span>',  # Word, no link
    '<span style="vertical-align: super">1</span>',  # superscript by style
], ids=["word", "pandoc", "easy-footnote", "mediawiki", "plain-anchor", "word-span", "styled"])
def test_footnote_markers_glued_to_words(marker):
    snap = archiver.clean(_article(f"<p>{FILLER}The ledgers survived{marker} the flood.</p>"), "https://e.org/n")
    assert "survived[1] the flood." in snap.text


def test_numbers_that_are_not_footnotes_stay():
    snap = archiver.clean(_article(f'<p>{FILLER}See <a href="#section2">2</a> and chapter <a href="/c/3">3</a>.</p>'),
                          "https://e.org/n")
    assert "See 2 and chapter 3." in snap.text
