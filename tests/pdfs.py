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


def deflate_bomb_pdf(inflated: int, wrap: str = "", *, encrypted: bool = False) -> bytes:
    """One page whose content stream is a few lines of text followed by
    `inflated` bytes of spaces, deflated: kilobytes that inflate to as many
    bytes as asked. Plus an image stream bigger still, which a reader of
    text never inflates. `wrap`: "a85" or "hex" writes the deflated stream
    in ASCII85 or hex (a filter before the inflation), "twice" deflates the
    deflated stream again; "lzw" and "rl" write the content in LZW or
    run-length codes instead of deflating it. `encrypted`: every stream
    encrypted (RC4, the standard security handler's revision 2) under an
    empty user password, as documents that only restrict printing or
    copying are: any reader opens them, and decrypts before decoding."""
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
    elif wrap == "rl":
        head = b"BT /F1 12 Tf 72 712 Td (Harbour board minutes) Tj ET\n"
        content, filters = run_length_encoded(head)[:-1] + bytes((129, 32)) * (inflated // 128) + b"\x80", b"/RL"
    elif wrap == "lzw":
        # Encoding megabytes a byte at a time is slow: a bomb is spaces alone, coded directly.
        small = inflated <= 4 << 20
        content = lzw_encoded(zlib.decompress(content)) if small else lzw_spaces(inflated)
        filters = b"/LZWDecode"
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
    numbered = dict(enumerate(objs, 1))
    if not encrypted:
        return written(numbered)
    security = _Rc4Security(b"archiver-test-id")
    numbered = {i: security.encrypt_streams(i, obj) for i, obj in numbered.items()}
    numbered[len(numbered) + 1] = security.dictionary
    return written(numbered, b" /Encrypt %d 0 R /ID [<%s> <%s>]" % (len(numbered), security.file_id.hex().encode(),
                                                                  security.file_id.hex().encode()))


def catalog_in_object_stream_pdf(padding: int, *, encrypted: bool = False) -> bytes:
    """A one-page PDF 1.5 whose catalog is in an object stream (as many
    writers put it), the stream padded with `padding` spaces after it,
    deflated; a cross-reference stream. A reader opening the document reads
    that object stream before any page."""
    import zlib

    catalog = b"<< /Type /Catalog /Pages 2 0 R >>"
    header = b"1 0 "
    packed = zlib.compressobj(9)
    stream = packed.compress(header + catalog)
    block = b" " * (1 << 20)
    for _ in range(padding >> 20):
        stream += packed.compress(block)
    stream += packed.flush()
    content = zlib.compress(b"BT /F1 12 Tf 72 712 Td (Harbour board minutes) Tj ET\n")
    objs = {
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
           b" /Resources << /Font << /F1 6 0 R >> >> >>",
        4: b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        5: b"<< /Type /ObjStm /N 1 /First %d /Length %d /Filter /FlateDecode >>\nstream\n" % (len(header), len(stream))
           + stream + b"\nendstream",
        6: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    trailer = b""
    if encrypted:
        security = _Rc4Security(b"archiver-test-id")
        objs = {n: security.encrypt_streams(n, obj) for n, obj in objs.items()}
        objs[7] = security.dictionary
        trailer = b" /Encrypt 7 0 R /ID [<%s> <%s>]" % (security.file_id.hex().encode(), security.file_id.hex().encode())
    out, offsets = b"%PDF-1.5\n", {}
    for n, obj in objs.items():
        offsets[n] = len(out)
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref_number = max(objs) + 1
    offsets[xref_number] = len(out)
    rows = [bytes((0,)) + (0).to_bytes(4, "big") + (65535).to_bytes(2, "big"),
            bytes((2,)) + (5).to_bytes(4, "big") + (0).to_bytes(2, "big")]  # object 1: first in object stream 5
    rows += [bytes((1,)) + offsets[n].to_bytes(4, "big") + (0).to_bytes(2, "big") for n in range(2, xref_number + 1)]
    table = b"".join(rows)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R%s /Length %d >>\nstream\n"
            % (xref_number, xref_number + 1, trailer, len(table)) + table + b"\nendstream\nendobj\n")
    return out + b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]


def rc4(key: bytes, data: bytes) -> bytes:
    """RC4 (the cipher of PDF's standard security handler, revisions 2 and 3)."""
    box = list(range(256))
    j = 0
    for i in range(256):
        j = (j + box[i] + key[i % len(key)]) & 0xFF
        box[i], box[j] = box[j], box[i]
    out = bytearray(len(data))
    i = j = 0
    for n, byte in enumerate(data):
        i = (i + 1) & 0xFF
        j = (j + box[i]) & 0xFF
        box[i], box[j] = box[j], box[i]
        out[n] = byte ^ box[(box[i] + box[j]) & 0xFF]
    return bytes(out)


class _Rc4Security:
    """PDF's standard security handler, revision 2 (40-bit RC4), an empty
    user password and the owner password "owner" (PDF 1.7, 7.6.3)."""

    PAD = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")
    PERMISSIONS = -44  # printing and copying not allowed

    def __init__(self, file_id: bytes) -> None:
        import hashlib
        import struct

        self.file_id = file_id
        owner_key = hashlib.md5((b"owner" + self.PAD)[:32]).digest()[:5]
        self.owner = rc4(owner_key, self.PAD)  # the user password, empty: the pad alone
        self.key = hashlib.md5(self.PAD + self.owner + struct.pack("<i", self.PERMISSIONS) + file_id).digest()[:5]
        self.user = rc4(self.key, self.PAD)
        self.dictionary = b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (
            self.owner.hex().encode(), self.user.hex().encode(), self.PERMISSIONS)

    def encrypt_streams(self, number: int, obj: bytes) -> bytes:
        """`obj` (object `number`, generation 0) with its stream's data encrypted."""
        import hashlib
        import struct

        start = obj.find(b"stream\n")
        if start < 0:
            return obj
        start += len(b"stream\n")
        end = obj.rindex(b"\nendstream")
        key = hashlib.md5(self.key + struct.pack("<i", number)[:3] + b"\0\0").digest()[:10]
        return obj[:start] + rc4(key, obj[start:end]) + obj[end:]


def written(objs: dict[int, bytes], trailer: bytes = b"") -> bytes:
    """A PDF 1.4 file of `objs` (numbered, generation 0), in number order,
    with a cross-reference table (numbers not given are free entries) and
    a trailer naming object 1 as the catalog, plus `trailer`'s entries."""
    out, offsets = b"%PDF-1.4\n", {}
    for number in sorted(objs):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objs[number] + b"\nendobj\n"
    xref = len(out)
    count = max(objs) + 1
    rows = b"".join(b"%010d 00000 n \n" % offsets[i] if i in offsets else b"0000000000 65535 f \n" for i in range(1, count))
    out += b"xref\n0 %d\n0000000000 65535 f \n" % count + rows
    return out + b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (count, trailer, xref)


def run_length_encoded(data: bytes) -> bytes:
    """RunLengthDecode's format: runs of a byte as (257 - n, byte), the rest literally."""
    out, i = bytearray(), 0
    while i < len(data):
        run = 1
        while i + run < len(data) and run < 128 and data[i + run] == data[i]:
            run += 1
        if run > 1:
            out += bytes((257 - run, data[i]))
        else:
            out += bytes((0, data[i]))
        i += run
    return bytes(out + b"\x80")


def _lzw_width(j: int) -> int:
    """The reader's code width for the j-th code since a clear."""
    entries = 258 + max(0, j - 1)
    return 9 if entries < 511 else 10 if entries < 1023 else 11 if entries < 2047 else 12


def _lzw_packed(codes: list[tuple[int, int]]) -> bytes:
    bits = value = 0
    out = bytearray()
    for code, size in codes:
        value, bits = (value << size) | code, bits + size
        while bits >= 8:
            bits -= 8
            out.append((value >> bits) & 0xFF)
        value &= (1 << bits) - 1
    if bits:
        out.append((value << (8 - bits)) & 0xFF)
    return bytes(out)


def lzw_spaces(n: int) -> bytes:
    """At least `n` spaces in LZW codes, as the encoder below would write a
    run: code k stands for k + 1 spaces, until the table is full."""
    codes, j, next_code, k, made = [(256, 9)], 0, 258, 0, 0
    while made < n:
        codes.append((32 if k == 0 else 257 + k, _lzw_width(j)))
        j, made = j + 1, made + k + 1
        if next_code < 4094:
            next_code, k = next_code + 1, k + 1
        else:
            codes.append((256, _lzw_width(j)))
            j, next_code, k = 0, 258, 0
    codes.append((257, _lzw_width(j)))
    return _lzw_packed(codes)


def lzw_encoded(data: bytes) -> bytes:
    """LZWDecode's format as PDF readers decode it: codes most significant
    bit first, 9 bits wide until the reader's table holds 511 entries, then
    10, 11, 12; a clear code (256) before the table outgrows 12 bits."""
    width = _lzw_width

    def fresh() -> dict[bytes, int]:
        return {bytes((c,)): c for c in range(256)}

    codes: list[tuple[int, int]] = [(256, 9)]
    table, next_code, j, word = fresh(), 258, 0, b""
    for byte in data:
        grown = word + bytes((byte,))
        if grown in table:
            word = grown
            continue
        codes.append((table[word], width(j)))
        j += 1
        if next_code < 4094:
            table[grown], next_code = next_code, next_code + 1
        else:
            codes.append((256, width(j)))
            table, next_code, j = fresh(), 258, 0
        word = bytes((byte,))
    if word:
        codes.append((table[word], width(j)))
        j += 1
    codes.append((257, width(j)))
    return _lzw_packed(codes)


def text_runs_pdf(pages: list[list[tuple[float, float, float, str, float]]], *,
                  size: tuple[int, int] = (612, 792)) -> bytes:
    """Pages of text runs in Helvetica, each (x, y, font size, text,
    horizontal scale in percent: 0 makes a run with no width), each run in
    a text object of its own: the shapes a layout analysis meets."""
    import zlib

    def escaped(text: str) -> bytes:
        return text.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")

    n = len(pages)
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n)), n),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for i, runs in enumerate(pages):
        content = zlib.compress(b"".join(b"BT /F1 %.2f Tf %.2f Tz %.2f %.2f Td (%s) Tj ET\n"
                                         % (s, scale, x, y, escaped(t)) for x, y, s, t, scale in runs))
        objs[4 + 2 * i] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R"
                           b" /Resources << /Font << /F1 3 0 R >> >> >>" % (*size, 5 + 2 * i))
        objs[5 + 2 * i] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream"
    return written(objs)


_BOARDS = [b"harbour", b"ferry", b"quay", b"bridge", b"tolls"]


def repeated_form_pdf(repeats: list[int], *, form_text: str = "abcdefghij" * 10, self_drawing: bool = False) -> bytes:
    """Pages that each write "Minutes of the harbour board" (ferry, quay,
    bridge, tolls board: one of its own) and then draw
    one form (a Form XObject writing `form_text`) as many times as
    `repeats` says: kilobytes of PDF that draw without end. `self_drawing`:
    the form draws itself too (which readers refuse to follow)."""
    import zlib

    n = len(repeats)
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (10 + 2 * i) for i in range(n)), n),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    form = zlib.compress(b"BT /F1 6 Tf 20 100 Td (%s) Tj ET" % form_text.encode("latin-1")
                         + (b" /Fm1 Do" if self_drawing else b""))
    itself = b" /XObject << /Fm1 4 0 R >>" if self_drawing else b""
    objs[4] = (b"<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >>%s >>"
               b" /Length %d /Filter /FlateDecode >>\nstream\n" % (itself, len(form)) + form + b"\nendstream")
    for i, times in enumerate(repeats):
        content = zlib.compress(b"BT /F1 12 Tf 72 700 Td (Minutes of the %s board) Tj ET\n" % _BOARDS[i % len(_BOARDS)]
                                + b"q /Fm1 Do Q\n" * times)
        objs[10 + 2 * i] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
                            b" /Resources << /Font << /F1 3 0 R >> /XObject << /Fm1 4 0 R >> >> >>" % (11 + 2 * i))
        objs[11 + 2 * i] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream"
    return written(objs)


def character_map_bomb_pdf(last_code: str) -> bytes:
    """A page in a font whose ToUnicode character map has one range, from
    code 0 to `last_code` (8 hex digits): under a kilobyte of PDF that a
    reader expands into one table entry per code."""
    cmap = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap"
            b" 1 begincodespacerange <00> <FF> endcodespacerange\n"
            b"1 beginbfrange <00000000> <%s> <0041> endbfrange endcmap"
            b" CMapName currentdict /CMap defineresource pop end end" % last_code.encode())
    content = b"BT /F1 12 Tf 72 700 Td (Minutes of the harbour board) Tj ET"
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
           b" /Resources << /Font << /F1 5 0 R >> >> >>",
        4: b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        6: b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    }
    return written(objs)


def object_stream_pdf(texts: list[str]) -> bytes:
    """A PDF 1.5 of one page per text, as many writers make them: its
    catalog and page tree in an object stream at the start, the pages'
    own objects written in the reverse of their order in the tree, a
    cross-reference stream at the end; the pages numbered backwards too
    (what reads the page objects in the file's order, or in their numbers'
    order, reads the pages backwards)."""
    import zlib

    n = len(texts)
    page_object = [10 + 2 * (n - 1 - i) for i in range(n)]  # page i's object; its content's is the next
    kids = b" ".join(b"%d 0 R" % page_object[i] for i in range(n))
    held = [(2, b"<< /Type /Catalog /Pages 3 0 R >>"), (3, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, n))]
    header, body = b"", b""
    for number, obj in held:
        header += b"%d %d " % (number, len(body))
        body += obj + b" "
    packed = zlib.compress(header + body)
    objs: list[tuple[int, bytes]] = [
        (1, b"<< /Type /ObjStm /N %d /First %d /Length %d /Filter /FlateDecode >>\nstream\n"
         % (len(held), len(header), len(packed)) + packed + b"\nendstream")]
    for i in reversed(range(n)):
        content = zlib.compress(b"BT /F1 12 Tf 72 700 Td (%s) Tj ET\n" % texts[i].encode("latin-1"))
        objs.append((page_object[i], b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
                                b" /Resources << /Font << /F1 4 0 R >> >> >>" % (page_object[i] + 1)))
        objs.append((page_object[i] + 1, b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content
                     + b"\nendstream"))
    objs.append((4, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"))
    out, offsets = b"%PDF-1.5\n", {}
    for number, obj in objs:
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref_number = max(offsets) + 1
    offsets[xref_number] = len(out)
    rows = []
    for number in range(xref_number + 1):
        if number in (2, 3):
            rows.append(bytes((2,)) + (1).to_bytes(4, "big") + (number - 2).to_bytes(2, "big"))
        elif number in offsets:
            rows.append(bytes((1,)) + offsets[number].to_bytes(4, "big") + (0).to_bytes(2, "big"))
        else:
            rows.append(bytes((0,)) + (0).to_bytes(4, "big") + (65535 if number == 0 else 0).to_bytes(2, "big"))
    table = b"".join(rows)
    out += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 2 0 R /Length %d >>\nstream\n"
            % (xref_number, xref_number + 1, len(table)) + table + b"\nendstream\nendobj\n")
    return out + b"startxref\n%d\n%%%%EOF\n" % offsets[xref_number]
