"""PDF layout: archiver's grouping of lines into boxes gives pdfminer's own
boxes, in linear time, and very dense pages are read in time."""

from __future__ import annotations

import io
import random
import time

from pdfs import text_runs_pdf

import archiver
from archiver.cleaning.documents import MAX_ORDERED_BOXES, _grouped_lines, _layouts

WORDS = ("harbour board minutes river wall tolls council meeting budget report quay ferry ledger survey"
         " parish bridge customs library stone towpath crossing market tide flood").split()


def _runs(rnd: random.Random, n: int, *, widthless: float = 0.0) -> list[tuple[float, float, float, str, float]]:
    """n text runs placed as pages place them and as they should not be:
    lines one under the other at various leadings, columns, indents, runs
    side by side or on top of one another, jumps, sizes that differ."""
    runs = []
    y = rnd.uniform(650, 780)
    for _ in range(n):
        size = rnd.choice([7, 8, 9, 10, 10, 10, 12, 14])
        r = rnd.random()
        if r < 0.1:
            y = rnd.uniform(20, 780)
        elif r > 0.25:
            y -= size * rnd.choice([1.0, 1.1, 1.2, 1.2, 1.5, 2.0, 3.0])
        if y < 10:
            y = rnd.uniform(400, 780)
        x = rnd.choice([36, 72, 72, 72, 200, 306, 320]) + rnd.choice([0, 0, 0, 0.5, 3, rnd.uniform(-40, 40)])
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 9)))
        runs.append((x, y, size, text, 0 if rnd.random() < widthless else 100))
    return runs


def _shape(page) -> list:
    from pdfminer.layout import LTTextBox

    return [(type(box).__name__, box.bbox, [(line.bbox, line.get_text()) for line in box])
            for box in page if isinstance(box, LTTextBox)]


def _random_document(seed: int, pages: int = 36) -> tuple[int, bytes]:
    rnd = random.Random(seed)
    pages = [_runs(rnd, rnd.randint(5, 250), widthless=0.03 if i % 6 == 5 else 0.0) for i in range(pages)]
    pages.append([(72, 780 - 11 * i, 10, rnd.choice(WORDS), 100) for i in range(70)])  # one box of 70 lines
    return len(pages), text_runs_pdf(pages)


def test_boxes_are_pdfminers_in_pdfminers_order(monkeypatch):
    """pdfminer rebuilds a line's box from every line of its neighbors'
    boxes (a run of n touching lines costs n squared: 4,000 took 37 s);
    archiver records each step and joins boxes by union-find. Then boxes
    are ordered as pdfminer orders them, its ties broken by the order
    things were made in rather than by memory address. With pdfminer's
    id() made that order too, every page of random layouts comes out the
    same: the same boxes, each line in them, in the same order; so on pages
    whose lines include ones with no width (not their own neighbors), which
    pdfminer's own grouping takes while the page is small."""
    import builtins

    import pdfminer.layout
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams

    count, data = _random_document(20261130)
    ours = [_shape(page) for page in _layouts(data)]
    seen: dict[int, int] = {}
    kept: list[object] = []  # never freed, so no address is given twice

    def made_order(obj: object) -> int:
        if builtins.id(obj) not in seen:
            seen[builtins.id(obj)] = len(seen)
            kept.append(obj)
        return seen[builtins.id(obj)]

    monkeypatch.setattr(pdfminer.layout, "id", made_order, raising=False)
    theirs = [_shape(page) for page in extract_pages(io.BytesIO(data), laparams=LAParams(char_margin=4.0))]
    assert seen  # pdfminer's ordering ran, with this order
    assert len(ours) == count
    assert ours == theirs
    assert max(len(box[2]) for page in ours for box in page) >= 70
    assert sum(len(box[2]) >= 3 for page in ours for box in page) > 50  # much joining of lines, not boxes of one


def test_the_same_document_reads_the_same_in_any_process():
    """pdfminer breaks ties between equally distant boxes by memory
    address: the same random document read three times, with other objects
    made in between, gave three texts (a recapture of an unchanged PDF
    would be called changed). Now one."""
    _, data = _random_document(7, pages=16)
    texts = set()
    for n in (0, 1_000, 77_777):
        ballast = [object() for _ in range(n)]
        texts.add(archiver.clean(data, "https://example.org/a.pdf").text)
        del ballast
    assert len(texts) == 1


def test_grouping_takes_each_step_in_pdfminers_order():
    """The union-find's result, on steps written out: a line's box is that
    line, then each neighbor followed by the lines of the box it was in,
    each line once; boxes in the order of their first line."""
    a, b, c, d, e = "abcde"
    near = {a: [a], b: [b, c], c: [c, a, b], d: [d], e: [d, e]}
    lines = [a, b, c, d, e]
    assert _grouped_lines(lines, [near[x] for x in lines]) == [(c, [c, b, a]), (e, [e, d])]
    # c's step: c, then c with its box {b, c}, then a with {a}: "c, b, a" (c once)
    near = {a: [a, b], b: [b], c: [b, c], d: [a, d], e: [e]}
    assert _grouped_lines(lines, [near[x] for x in lines]) == [(d, [d, a, c, b]), (e, [e])]


def test_a_page_of_thousands_of_lines_or_cells_is_read_in_time():
    """One tall page of 6,000 touching lines (a long article printed to one
    page) and a page of a 60-by-20 table of separate cells (a budget): the
    first took 23 s in pdfminer's grouping of lines, the second 9 s in its
    reading order, which compares every pair of boxes; past
    MAX_ORDERED_BOXES boxes it reads top to bottom, left to right."""
    rnd = random.Random(5)
    tall = text_runs_pdf([[(72, 72_000 - 12 * i, 10, rnd.choice(WORDS), 100) for i in range(6000)]], size=(612, 72_100))
    t0 = time.process_time()
    snap = archiver.clean(tall, "https://example.org/long.pdf")
    spent = time.process_time() - t0
    assert snap.status == "ok" and len(snap.text.split()) == 6000
    assert spent < 8, spent  # 22.9 s before

    cells = [[(20 + 29 * c, 770 - 12 * r, 5, f"{r * 20 + c:05d}", 100) for r in range(60) for c in range(20)]]
    assert len(cells[0]) > MAX_ORDERED_BOXES
    t0 = time.process_time()
    snap = archiver.clean(text_runs_pdf(cells), "https://example.org/budget.pdf")
    spent = time.process_time() - t0
    assert snap.status == "ok"
    numbers = snap.text.split()
    assert numbers[:3] == ["00000", "00001", "00002"] and len(numbers) == 1200  # row by row, left to right
    assert spent < 4, spent  # 9.4 s before


def _held(page) -> int:
    """Everything a page's layout holds, inside figures too."""
    from pdfminer.layout import LTContainer

    return sum(1 + (_held(item) if isinstance(item, LTContainer) else 0) for item in page)


def test_a_form_drawn_again_and_again_is_held_within_bounds(monkeypatch):
    """A page can draw one form again and again: 1 KB of PDF drew a million
    characters (722 MB, 8 s), 4 KB ten million. What one page holds, and
    what a document draws in all, are bounded: past the first, the rest of
    the page is left out (its own text, drawn first, is kept); past the
    second, the rest of the document, the pages before it kept."""
    import archiver.cleaning.documents as documents
    from pdfs import repeated_form_pdf

    monkeypatch.setattr(documents, "MAX_PDF_PAGE_ITEMS", 2_000)
    monkeypatch.setattr(documents, "MAX_PDF_ITEMS", 30_000)
    data = repeated_form_pdf([3, 100, 2])  # page 2 draws 10,000 characters
    held = [_held(page) for page in _layouts(data)]
    assert held[1] <= 2_000 and held[0] < 1_000 and held[2] < 1_000
    snap = archiver.clean(data, "https://example.org/forms.pdf")
    assert snap.status == "ok" and all(f"Minutes of the {b} board" in snap.text for b in ("harbour", "ferry", "quay"))
    assert snap.partial == ("PDF read in part: page 2 draws more than 2000 characters, lines and images: the rest"
                            " of it was left out")

    snap = archiver.clean(repeated_form_pdf([2, 100, 100, 100, 100]), "https://example.org/more.pdf")
    assert snap.status == "ok" and "ferry" in snap.text and "tolls" not in snap.text  # read in part
    assert snap.partial == ("PDF read in part: pages 2, 3 draw more than 2000 characters, lines and images:"
                            " the rest of each was left out; reading stopped after page 3: it draws more than"
                            " 30000 characters, lines and images")
    snap = archiver.clean(repeated_form_pdf([400]), "https://example.org/most.pdf")
    assert snap.status == "not_html" and snap.error == "PDF not read: it draws more than 30000 characters, lines and images"


def test_a_page_drawn_in_a_form_keeps_its_text():
    """Some writers put a page's whole content in a form (a Form XObject),
    a page number often stamped outside it; pdfminer leaves a form's text
    unanalysed, and the snapshot held only what was outside (plain
    pdfminer's text had it all). A form holding more of the page's text
    than the page itself is read as the page is, in reading order with it;
    a chart's few labels stay out."""
    from pdfminer.high_level import extract_text
    from pdfs import repeated_form_pdf

    said = "The harbour board met on Monday and agreed the tolls for the coming year."
    data = repeated_form_pdf([1], form_text=said)
    assert said in extract_text(io.BytesIO(data))  # plain pdfminer reads it
    snap = archiver.clean(data, "https://example.org/minutes.pdf")
    assert snap.text == f"Minutes of the harbour board\n\n{said}"
    snap = archiver.clean(repeated_form_pdf([1], form_text="Fig. 1"), "https://example.org/minutes.pdf")
    assert snap.text == "Minutes of the harbour board"
