"""PDF text: archiver's document cleaning (pdfminer.six, running heads and
page numbers removed, paragraphs joined) against plain pypdf and plain
pdfminer.six text, on PDFs made here whose source text is known: a report
with running headers and page numbers, two columns drawn column by column,
and two columns drawn line by line across both (content order is not
reading order). Quality is the aeb shingle F1 against the source text;
speed is pages per second, same run.

    python bench/documents.py
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pdfs import Report, interleaved_columns_pdf  # noqa: E402
from quality import page_scores  # noqa: E402

WORDS = ("harbour ledger council ferry river record archive town tide bridge market parish flood survey budget"
         " quay toll customs library stone wall towpath crossing").split()


def paragraphs(seed: int, n: int) -> list[str]:
    rnd = random.Random(seed)

    def sentence() -> str:
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(8, 18))]
        return " ".join(words).capitalize() + "."

    return [" ".join(sentence() for _ in range(rnd.randint(3, 6))) for _ in range(n)]


def report(paras: list[str]) -> bytes:
    pdf = Report()
    for start in range(0, len(paras), 4):
        pdf.add_page()
        pdf.set_font("Helvetica", "", 11)
        for p in paras[start:start + 4]:
            pdf.multi_cell(0, 6, p, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    return bytes(pdf.output())


def columns(paras: list[str]) -> bytes:
    pdf = Report()
    for start in range(0, len(paras), 4):
        pdf.add_page()
        pdf.set_font("Helvetica", "", 10)
        for x, chunk in ((10, paras[start:start + 2]), (110, paras[start + 2:start + 4])):
            pdf.set_xy(x, 25)
            for p in chunk:
                pdf.set_x(x)
                pdf.multi_cell(90, 5, p, new_x="LEFT", new_y="NEXT")
                pdf.ln(3)
    return bytes(pdf.output())


def main() -> None:
    from pdfminer.high_level import extract_text
    from pypdf import PdfReader

    from archiver.cleaning.documents import clean_pdf

    docs: dict[str, list[tuple[bytes, str, int]]] = {"report, running heads": [], "two columns": [],
                                                      "two columns, drawn across": []}
    for seed in range(6):
        paras = paragraphs(seed, 12)
        docs["report, running heads"].append((report(paras), "\n".join(paras), 3))
        docs["two columns"].append((columns(paras), "\n".join(paras), 3))
        left, right = " ".join(paras[:3]), " ".join(paras[3:6])
        docs["two columns, drawn across"].append((interleaved_columns_pdf(left, right), left + "\n" + right, 1))
    tools = {
        "archiver (pdfminer.six + cleaning)": lambda d: clean_pdf(d).text,
        "pdfminer.six extract_text": lambda d: extract_text(io.BytesIO(d)),
        "pypdf extract_text": lambda d: "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(d)).pages),
    }
    print(f"{'document':<28}{'tool':<38}{'F1':>7}{'precision':>11}{'recall':>8}{'pages/s':>9}")
    for kind, items in docs.items():
        for name, fn in tools.items():
            f1s, ps, rs = [], [], []
            t0 = time.perf_counter()
            for data, source, _ in items:
                p, r = page_scores(fn(data), source)
                p, r = p or 0.0, r or 0.0
                ps.append(p)
                rs.append(r)
                f1s.append(2 * p * r / (p + r) if p + r else 0.0)
            elapsed = time.perf_counter() - t0
            pages = sum(n for *_, n in items)
            print(f"{kind:<28}{name:<38}{statistics.mean(f1s):>7.3f}{statistics.mean(ps):>11.3f}"
                  f"{statistics.mean(rs):>8.3f}{pages / elapsed:>9.1f}")


if __name__ == "__main__":
    main()
