"""PDF and plain-text documents become snapshots like pages do: their text in
reading order, without running heads and page numbers, and the same verdicts,
diff and search."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pdfs import PARAGRAPHS, catalog_in_object_stream_pdf, deflate_bomb_pdf, interleaved_columns_pdf, report_pdf

import archiver
from archiver import Archive, Verdict
from archiver.cli import cli
from archiver.cleaning.documents import clean_pdf


def test_a_report_loses_its_running_heads_and_page_numbers():
    snap = clean_pdf(report_pdf(), "https://example.org/report.pdf")
    assert snap.status == "ok"
    assert snap.paragraphs == PARAGRAPHS  # each paragraph whole, its wrapped lines joined, in order
    assert "Annual Report" not in snap.text and "Page " not in snap.text
    assert snap.title == "Annual Report of the Harbour Board"
    assert snap.authors == ("Harbour Board of the River Towns",) and snap.published == "2025-03-04"


def test_columns_read_in_order_even_when_drawn_across():
    left = PARAGRAPHS[0] + " " + PARAGRAPHS[1]
    snap = clean_pdf(interleaved_columns_pdf(left, PARAGRAPHS[2]))
    assert snap.paragraphs == [left, PARAGRAPHS[2]]


def test_damaged_pdfs_are_not_html_with_a_reason():
    for data in (b"%PDF-1.4\n%garbage", report_pdf()[:200], b"%PDF-1.7\n" + b"\x00" * 5000):
        snap = archiver.clean(data, "https://example.org/x.pdf")
        assert snap.status in ("not_html", "empty")
        if snap.status == "not_html":
            assert snap.error.startswith("unreadable PDF")


def test_clean_command_reads_pdf_and_text_files(tmp_path):
    (tmp_path / "r.pdf").write_bytes(report_pdf())
    (tmp_path / "notes.txt").write_text("Notes from the meeting\n\nThe ferry runs every\nday from May.\n\nIt stops"
                                        " in the winter.\n")
    res = CliRunner().invoke(cli, ["clean", str(tmp_path / "r.pdf"), str(tmp_path / "notes.txt"), "--format", "json"])
    assert res.exit_code == 0, res.output
    pdf, txt = map(json.loads, res.stdout.splitlines())
    assert pdf["status"] == "ok" and pdf["title"] == "Annual Report of the Harbour Board"
    assert txt["text"] == "Notes from the meeting\n\nThe ferry runs every day from May.\n\nIt stops in the winter."


def test_a_pdf_captured_twice_is_changed_and_the_diff_shows_the_sentence(fresh_site, tmp_path, fast_options):
    url = fresh_site.url("/doc/report.pdf")
    archive = Archive(tmp_path / "arch", fetch_options=fast_options)
    fresh_site.state.pages["/doc/report.pdf"] = report_pdf()
    [first] = archive.capture([url])
    assert first.verdict is Verdict.NEW and first.title == "Annual Report of the Harbour Board"
    edited = list(PARAGRAPHS)
    edited[3] = edited[3].replace("six weeks", "three months")
    fresh_site.state.pages["/doc/report.pdf"] = report_pdf(edited)
    [second] = archive.capture([url])
    assert second.verdict is Verdict.CHANGED
    d = archive.diff(url)
    [changed] = [c for hunk in d.hunks for c in hunk if c.op == "replace"]
    assert changed.old == PARAGRAPHS[3] and changed.new == edited[3]  # the one sentence, and only it
    assert ("delete", "six") in changed.words and ("insert", "months") in changed.words
    assert [h.url for h in archive.search("towpath")] == [url]
    [again] = archive.capture([url])
    assert again.verdict is Verdict.UNCHANGED


def test_plain_text_responses_are_snapshots(fresh_site, tmp_path, fast_options):
    url = fresh_site.url("/doc/notice.txt")
    fresh_site.state.pages["/doc/notice.txt"] = "Notice of closure\n\nThe bridge closes on Monday.\n".encode()
    [c] = Archive(tmp_path / "arch", fetch_options=fast_options).capture([url])
    assert c.verdict is Verdict.NEW and c.title == "Notice of closure"
    assert Archive(tmp_path / "arch").show(url).snapshot.text == "Notice of closure\n\nThe bridge closes on Monday."


@pytest.mark.parametrize("wrap", ["", "a85", "hex", "twice", "lzw", "rl"])
def test_a_deflate_bomb_is_refused_before_it_is_inflated(wrap):
    """pdfminer inflates each stream whole in memory: a PDF of kilobytes can
    be gigabytes (800 MB took 1.7 GB and 11 s). The streams it would read
    are measured first, inflating no more than the limit; an image stream,
    which text extraction never decodes, does not count. The same holds for
    a bomb written out in ASCII85 or hex, deflated twice (a million to one),
    or coded in LZW or run-length (pdfminer decodes those too), which the
    first measure let through (200 MB of them: 479 MB peak)."""
    from archiver.cleaning.documents import MAX_PDF_STREAM_BYTES

    small = deflate_bomb_pdf(1 << 20, wrap)  # a megabyte of spaces: a page to read, its image twice that
    snap = archiver.clean(small, "https://example.org/minutes.pdf")
    assert snap.status == "ok" and "Harbour board minutes" in snap.text

    bomb = deflate_bomb_pdf(MAX_PDF_STREAM_BYTES + (8 << 20), wrap)
    assert len(bomb) < MAX_PDF_STREAM_BYTES // (40 if wrap == "rl" else 200)  # kilobytes (run-length: 64 to one)
    snap, peak = _cleaned_with_peak(bomb)
    assert snap.status == "not_html"
    assert snap.error.startswith("PDF not read: its stream at byte ") and "decodes past" in snap.error
    assert peak < 16 << 20, peak  # never inflated whole


def _cleaned_with_peak(data: bytes) -> tuple[archiver.Snapshot, int]:
    import tracemalloc

    tracemalloc.start()
    try:
        snap = archiver.clean(data, "https://example.org/bomb.pdf")
        return snap, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# Not run-length: its bomb is a megabyte of PDF (64 to one), and RC4 in Python
# (the tests' and pdfminer's) takes half a minute over it; the filters are
# followed after decryption as before it.
@pytest.mark.parametrize("wrap", ["", "a85", "twice", "lzw"])
def test_an_encrypted_bomb_is_measured_decrypted(wrap):
    """A document encrypted under an empty password (one that only forbids
    printing or copying) opens in any reader, and pdfminer decrypts each
    stream before inflating it whole. Measured as written, its streams were
    noise, and the bomb went through (72 MB of spaces in 220 KB of PDF)."""
    from archiver.cleaning.documents import MAX_PDF_STREAM_BYTES

    small = deflate_bomb_pdf(1 << 20, wrap, encrypted=True)
    assert b"/Encrypt" in small and b"Harbour" not in small
    snap = archiver.clean(small, "https://example.org/minutes.pdf")
    assert snap.status == "ok" and "Harbour board minutes" in snap.text

    snap, peak = _cleaned_with_peak(deflate_bomb_pdf(MAX_PDF_STREAM_BYTES + (8 << 20), wrap, encrypted=True))
    assert snap.status == "not_html" and "decodes past" in snap.error, snap.error
    assert peak < 16 << 20, peak


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_catalog_in_a_bomb_of_an_object_stream_is_never_inflated(encrypted):
    """Opening a document reads its catalog, here from an object stream: to
    learn an encrypted document's key, the measure opens it, and opening it
    whole inflated the object stream before it was measured (149 MB at 72 MB
    of padding). The key is taken, and the document left, before that."""
    from archiver.cleaning.documents import MAX_PDF_STREAM_BYTES

    snap = archiver.clean(catalog_in_object_stream_pdf(1 << 20, encrypted=encrypted), "https://example.org/a.pdf")
    assert snap.status == "ok" and "Harbour board minutes" in snap.text
    snap, peak = _cleaned_with_peak(catalog_in_object_stream_pdf(MAX_PDF_STREAM_BYTES + (8 << 20), encrypted=encrypted))
    assert snap.status == "not_html" and "decodes past" in snap.error, snap.error
    assert peak < 16 << 20, peak


def test_damaged_zlib_data_inflates_as_pdfminer_inflates_it_in_linear_time():
    """pdfminer inflates a stream that does not inflate whole (cut short, or
    failing its checksum) a byte at a time, growing its output by
    concatenation: 4 MB of text took 13 s, 64 MB most of an hour. archiver
    gives pdfminer a linear one; on damaged data of every kind, the same
    bytes, and zlib's error in the same cases."""
    import random
    import time
    import zlib

    from archiver.cleaning.documents import _inflate_damaged
    from archiver.cleaning.speedups import PDFMINERS_OWN, mend_pdfminer

    assert mend_pdfminer()
    pdfminers = PDFMINERS_OWN["decompress_corrupted"]
    rnd = random.Random(11)
    words = "harbour board minutes river wall tolls council meeting budget report".split()
    cases = [b"", b"\x78", b"garbage that is not zlib at all", zlib.compress(b"whole and sound")]
    ending = zlib.compress(b"the end of a stream, where damage is forgiven or not " * 40)
    cases += [ending[:-back] + bytes([ending[-back] ^ x]) + ending[len(ending) - back + 1:]
              for back in range(1, 16) for x in (1, 0x10, 0x80, 0xFF)]  # each of the last bytes damaged
    checksum_off = ending[:-1] + bytes([ending[-1] ^ 1])
    cases += [checksum_off + b"\n" * k for k in range(6)]  # the damage found k bytes before the end
    for _ in range(60):
        size = rnd.choice([10, 1000, 20_000, 70_000])
        good = zlib.compress(" ".join(rnd.choice(words) for _ in range(size // 6)).encode(), rnd.choice([1, 6, 9]))
        at = rnd.randrange(len(good))
        cases += [good[:at],  # cut short
                  good[:at] + bytes([good[at] ^ rnd.randrange(1, 256)]) + good[at + 1:],  # a byte changed
                  good[:-1 - rnd.randrange(4)] + bytes([good[-1] ^ 1]),  # the checksum damaged, or cut in it
                  good + b"trailing bytes"]
    raised = 0
    for data in cases:
        try:
            expected: object = pdfminers(data)
        except zlib.error:
            expected = zlib.error
        for piece_size in (1, 100, 65536):  # where the pieces end, every way
            try:
                got: object = _inflate_damaged(data, piece_size)
            except zlib.error:
                got = zlib.error
            assert got == expected, (len(data), data[:20], piece_size)
        raised += expected is zlib.error
    assert 10 < raised < len(cases) - 100  # both outcomes, many times

    text = " ".join(rnd.choice(words) for _ in range(1_200_000)).encode()  # 8 MB
    data = zlib.compress(text)[:-2]
    t0 = time.process_time()
    assert _inflate_damaged(data) == text
    assert time.process_time() - t0 < 5  # minutes before


def test_pdfminers_warnings_about_a_document_stay_off_the_terminal(tmp_path):
    """pdfminer warns of a document's quirks (a form that draws itself:
    "Refusing to execute circular reference to content stream 4") and,
    with no handler of its own, those went to stderr raw, from cleaning
    processes too, amid a command's output. Run as a user runs it: a
    process of its own (pytest's log capture would hide it)."""
    import subprocess
    import sys

    from pdfs import repeated_form_pdf

    path = tmp_path / "minutes.pdf"
    path.write_bytes(repeated_form_pdf([2], self_drawing=True))
    run = subprocess.run([sys.executable, "-m", "archiver", "clean", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "Minutes of the harbour board" in run.stdout
    assert run.stderr == ""


def test_a_text_file_of_many_short_lines_is_read_in_time():
    """Wrapped lines are joined into paragraphs; doing it by growing one
    string and searching all of it for a final hyphen was quadratic, and a
    text file of 600,000 lines never finished. Hyphenated words still mend."""
    import time

    from archiver.cleaning.snapshot import clean_page

    data = b"the harbour board met on a Monday and spoke of infor-\nmation, tolls and the river wall\n" * 150_000
    t0 = time.process_time()
    snap = clean_page(data, "https://example.org/minutes.txt", content_type="text/plain")
    spent = time.process_time() - t0
    assert snap.status == "ok" and snap.text.startswith("the harbour board met on a Monday and spoke of information,")
    assert "\n" not in snap.text[:10_000]  # one paragraph: the lines were joined
    assert spent < 10.0, spent


def test_a_document_read_in_part_says_so_wherever_its_text_is_shown(monkeypatch, fresh_site, tmp_path, fast_options):
    """A PDF longer than MAX_PDF_PAGES (or one whose reading stopped at a
    bound) has a snapshot of its first part: that text must not pass for the
    whole document. What was left out goes with it: the snapshot's
    `partial`, the capture's reason (kept in its WARC metadata record), and
    every place the text is shown. Before, the pages past the bound were
    dropped without a word."""
    from starlette.testclient import TestClient

    import archiver.cleaning.documents as documents
    from archiver.web.app import create_app

    monkeypatch.setattr(documents, "MAX_PDF_PAGES", 2)
    whole = clean_pdf(report_pdf(PARAGRAPHS[:4], pages=2))
    assert whole.status == "ok" and whole.partial is None  # exactly the bound: all of it read
    cut = clean_pdf(report_pdf(PARAGRAPHS[:6], pages=3))
    assert cut.partial == "PDF read in part: only its first 2 pages were read"
    assert PARAGRAPHS[3] in cut.text and PARAGRAPHS[4] not in cut.text

    fresh_site.state.pages["/doc/long.pdf"] = report_pdf(PARAGRAPHS[:6], pages=3)
    url = fresh_site.url("/doc/long.pdf")
    archive = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)  # cleaned here: the bound is patched
    [c] = archive.capture([url])
    assert c.verdict is Verdict.NEW and c.reason == cut.partial
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["--archive", str(tmp_path / "arch"), "show", url, "--json"]).stdout)
    assert shown["reason"] == cut.partial
    [listed] = json.loads(runner.invoke(cli, ["--archive", str(tmp_path / "arch"), "history", url, "--json"]).stdout)
    assert listed["reason"] == cut.partial
    table = runner.invoke(cli, ["--archive", str(tmp_path / "arch"), "history", url], terminal_width=400).stdout
    assert "Annual Report of the Harbour Board - PDF read in part: only its first 2 pages were read" in table
    with TestClient(create_app(Archive(tmp_path / "arch"), allowed_hosts=("testserver",))) as client:
        for page in ("/timeline", "/snapshot"):
            assert "only its first 2 pages were read" in client.get(page, params={"url": url}).text, page

    # The catalog rebuilt from the WARC files keeps it.
    assert runner.invoke(cli, ["--archive", str(tmp_path / "arch"), "reindex"]).exit_code == 0
    assert Archive(tmp_path / "arch").history(url)[0].reason == cut.partial

    (tmp_path / "long.pdf").write_bytes(report_pdf(PARAGRAPHS[:6], pages=3))
    res = runner.invoke(cli, ["clean", str(tmp_path / "long.pdf")])
    assert res.exit_code == 0 and PARAGRAPHS[3] in res.stdout
    assert res.stderr.strip() == f"{tmp_path / 'long.pdf'}: PDF read in part: only its first 2 pages were read"
    res = runner.invoke(cli, ["clean", str(tmp_path / "long.pdf"), "--format", "json"])
    assert json.loads(res.stdout)["partial"] == cut.partial


@pytest.mark.parametrize("kept", [0.3, 0.6, 0.95])
def test_a_pdf_cut_short_is_read_as_far_as_it_goes(kept):
    """A download that ended early (a server closing before the end, a
    partial file) loses the PDF's cross-reference, at its end. pdfminer's
    fallback scan stopped at the object cut in two: not one page was read
    (`unreadable PDF (PSEOF ...)`). Mended, the pages the file holds are
    read, in order, their fonts (written last, so cut off) read as
    Helvetica, and the text says it is part of the document."""
    data = report_pdf(PARAGRAPHS * 4, pages=12)
    whole = clean_pdf(data)
    cut = data[:int(len(data) * kept)]
    snap = clean_pdf(cut, "https://example.org/report.pdf")
    assert snap.status == "ok", snap.error
    # The pages it holds, in order (the last paragraph read may stop where a page did).
    assert snap.paragraphs[:-1] == whole.paragraphs[:len(snap.paragraphs) - 1]
    assert len(snap.paragraphs) >= len(whole.paragraphs) * (kept - 0.25)
    assert snap.partial.startswith(f"PDF read in part: the file is cut short (it ends at byte {len(cut)},")
    assert ("fonts it uses are missing" in snap.partial) == (kept < 0.75)  # its fonts come after the pages


def test_a_pdf_cut_short_keeps_its_page_order_from_a_catalog_in_an_object_stream():
    """PDF 1.5 writers put the catalog and page tree in an object stream; a
    mended file finds them there and reads the pages in the tree's order
    (here the page objects stand, and are numbered, in the reverse order)."""
    from pdfs import object_stream_pdf

    texts = [f"Minutes of the {board} board" for board in ("harbour", "ferry", "quay", "bridge")]
    data = object_stream_pdf(texts)
    assert clean_pdf(data).paragraphs == texts
    cut = data[:data.rfind(b"endobj")]  # in the cross-reference stream
    snap = clean_pdf(cut)
    assert snap.paragraphs == texts and snap.partial and "cut short" in snap.partial
    assert "fonts" not in snap.partial  # its font is whole


def test_a_pdf_cut_short_that_holds_no_whole_page_says_so(monkeypatch):
    import archiver.cleaning.documents as documents

    data = report_pdf(PARAGRAPHS * 4, pages=12)
    for cut in (data[:200], data[:data.index(b"endobj") + 6]):  # no whole object; only the page tree
        snap = clean_pdf(cut)
        assert snap.status == "not_html" and snap.error.startswith("unreadable PDF"), snap
    # Numbers no cross-reference can hold, and more objects than are mended: as before.
    hostile = b"%PDF-1.4\n99999999999 0 obj\n<< /Type /Catalog >>\nendobj\n1 99999 obj\n<< >>\nendobj\n"
    assert clean_pdf(hostile).status == "not_html"
    monkeypatch.setattr(documents, "MAX_MENDED_OBJECTS", 10)
    snap = clean_pdf(data[:int(len(data) * 0.6)])
    assert snap.status == "not_html" and "PSEOF" in snap.error


def test_a_whole_pdf_with_bytes_after_its_end_is_not_taken_for_a_cut_one():
    data = report_pdf(PARAGRAPHS * 4, pages=12)
    snap = clean_pdf(data + b"\n" + b"x" * 4096)
    assert snap.partial is None and snap.paragraphs == clean_pdf(data).paragraphs


def test_a_cut_pdf_whose_mending_fails_is_read_as_it_was(monkeypatch):
    """Mending reads the file with pdfminer (its object streams): what that
    raises leaves the file to be read as it came, with that reading's own
    reason, never an error out of the cleaner."""
    import archiver.cleaning.documents as documents
    from pdfs import object_stream_pdf

    data = object_stream_pdf(["Minutes of the harbour board"])
    cut = data[:data.rfind(b"endobj")]

    def broken(*args):
        raise ValueError("pdfminer met something it could not parse")

    monkeypatch.setattr(documents, "_object_stream_contents", broken)
    snap = clean_pdf(cut)
    assert snap.status == "not_html" and snap.error.startswith("unreadable PDF (")
