"""PDFs written for the tests with fpdf2: a report with running headers,
page numbers and a title in its metadata; two columns drawn column by column
and line by line across both."""

from __future__ import annotations

import textwrap
from datetime import datetime

from fpdf import FPDF

PARAGRAPHS = [
    "The harbour board met on the first Monday of March to review the year, and its chair opened by thanking the"
    " ferry crews who kept the crossings running through the winter storms.",
    "Tolls rose by four per cent, less than the rise in fuel costs, and the board agreed to publish the accounts of"
    " the toll bridge every quarter from now on, as the towns had asked.",
    "The flood of November reached the customs house for the first time since records began. The parish ledgers"
    " stored in its loft were moved to the library, where they are being dried page by page.",
    "A survey of the river wall found three places where the stone has moved. Repairs will start in the summer,"
    " when the water is lowest, and the towpath will close for six weeks.",
    "The market square will be repaved with stone from the old quarry, which reopens for the purpose. Traders will"
    " move to the quay for the duration, and the Saturday market keeps its hours.",
    "Finally the board approved a plan to put the harbour's records online, starting with the lists of ships that"
    " called at the port between 1850 and 1900, which historians have long asked for.",
]


class Report(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", "", 8)
        self.cell(0, 6, "Harbour Board of the River Towns - Annual Report", align="C")
        self.ln(12)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def report_pdf(paragraphs: list[str] = PARAGRAPHS, *, pages: int = 3) -> bytes:
    pdf = Report()
    pdf.set_title("Annual Report of the Harbour Board")
    pdf.set_author("Harbour Board of the River Towns")
    pdf.set_creation_date(datetime(2025, 3, 4))
    per_page = max(1, len(paragraphs) // pages)
    for start in range(0, len(paragraphs), per_page):
        pdf.add_page()
        pdf.set_font("Helvetica", "", 11)
        for para in paragraphs[start:start + per_page]:
            pdf.multi_cell(0, 6, para, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    return bytes(pdf.output())


def interleaved_columns_pdf(left: str, right: str) -> bytes:
    """Two columns whose lines are drawn alternately (left, right, left...):
    text in content-stream order reads across the columns."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "", 10)
    lines_left, lines_right = textwrap.wrap(left, 45), textwrap.wrap(right, 45)
    for i in range(max(len(lines_left), len(lines_right))):
        if i < len(lines_left):
            pdf.text(12, 20 + 5 * i, lines_left[i])
        if i < len(lines_right):
            pdf.text(110, 20 + 5 * i, lines_right[i])
    return bytes(pdf.output())


def deflate_bomb_pdf(inflated: int, wrap: str = "") -> bytes:
    """One page whose content stream is a few lines of text followed by
    `inflated` bytes of spaces, deflated: kilobytes that inflate to as many
    bytes as asked. Plus an image stream bigger still, which a reader of
    text never inflates. `wrap`: "a85" or "hex" writes the deflated stream
    in ASCII85 or hex (a filter before the inflation), "twice" deflates the
    deflated stream again."""
    import base64
    import zlib

    def deflated(head: bytes, size: int) -> bytes:
        z = zlib.compressobj(9)
        out = [z.compress(head)]
        block = b" " * (1 << 20)
        for _ in range(size >> 20):
            out.append(z.compress(block))
        return b"".join(out) + z.flush()

    content = deflated(b"BT /F1 12 Tf 72 712 Td (Harbour board minutes) Tj ET\n", inflated)
    filters = b"/FlateDecode"
    if wrap == "a85":
        content, filters = base64.a85encode(content, wrapcol=76) + b"~>", b"[/ASCII85Decode /FlateDecode]"
    elif wrap == "hex":
        content, filters = content.hex().encode() + b">", b"[/AHx /Fl]"
    elif wrap == "twice":
        content, filters = zlib.compress(content, 9), b"[/FlateDecode /FlateDecode]"
    image = deflated(b"", 2 * inflated)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Length %d /Filter %s >>\nstream\n" % (len(content), filters) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8"
        b" /Length %d /Filter /FlateDecode >>\nstream\n" % len(image) + image + b"\nendstream",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
