"""Evidence: fixity (manifest, `archiver verify` and its tamper tests),
provenance of each capture (HTTPS included), and signed, timestamped WACZ
packages checked end to end with the public key only."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import sqlite3
import ssl
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from pki import Authority, TimestampAuthority, write_pem
from warcio.archiveiterator import ArchiveIterator

from archiver import Archive, FetchOptions, Verdict
from archiver.cli import cli
from archiver.config import WarcOptions
from archiver.archive.layout import MANIFEST
from archiver.evidence.fixity import read_manifest

ARTICLE = ("<html><head><title>Evidence {n}</title></head><body><article><h1>Evidence {n}</h1>"
           "<p>The minister said on Tuesday that the report would be published in full next month.</p>"
           "<p>Critics said the delay was a way to bury findings about the programme's cost.</p>"
           "</article></body></html>")


def run(*args: str, archive: Path | None = None):
    argv = (["--archive", str(archive)] if archive else []) + list(args)
    return CliRunner().invoke(cli, argv)


def verify_json(archive: Path, *extra: str) -> tuple[int, dict]:
    res = run("verify", "--json", *extra, archive=archive)
    return res.exit_code, json.loads(res.output)


@pytest.fixture
def archive(site, tmp_path, fast_options, clock) -> Archive:
    """Two WARC files (a small size limit rolls them over): pages, a 404,
    and a revisit in the second file of a record in the first."""
    a = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock,
                warc_options=WarcOptions(max_size=4096), workers=0)
    a.capture([site.url("/page.html"), site.url("/gzip.html"), site.url("/404")])
    clock.advance(hours=1)
    a.capture([site.url("/page.html")])
    return a


def warc_files(a: Archive) -> list[Path]:
    return sorted(a.warc_dir.glob("*.warc.gz"))


def response_record(path: Path) -> tuple[int, int, str]:
    """(offset, length, record id) of the first response record with a body."""
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        for record in it:
            if record.rec_type == "response" and record.http_headers.get_statuscode() == "200":
                rid = record.rec_headers.get_header("WARC-Record-ID")
                record.content_stream().read()
                it.read_to_end(record)
                return it.get_record_offset(), it.get_record_length(), rid
    raise AssertionError(f"no 200 response in {path}")


# -- fixity ------------------------------------------------------------------


def test_every_closed_file_is_in_the_manifest_and_catalog(archive):
    files = warc_files(archive)
    assert len(files) >= 2
    entries, problems = read_manifest(archive.path)
    assert problems == []
    for path in files:
        entry = entries[f"warc/{path.name}"]
        assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with archive.reader() as catalog:
        rows = catalog.warc_files()
    assert {p.name for p in files} == set(rows)
    assert all(rows[p.name].size == p.stat().st_size for p in files)
    # BagIt's form: "<hex>  <path>"
    line = (archive.path / MANIFEST).read_text().splitlines()[0]
    assert len(line.split("  ")[0]) == 64 and line.split("  ")[1].startswith("warc/")


def test_an_intact_archive_verifies(archive):
    code, report = verify_json(archive.path)
    assert code == 0, report["problems"]
    assert report["ok"] and report["problems"] == []
    assert report["warc_files"] == len(warc_files(archive))
    assert report["records"] > 10 and report["catalog_rows"] > 5 and report["snapshots"] >= 2
    res = run("verify", archive=archive.path)
    assert res.exit_code == 0 and "intact" in res.output


def test_verify_reads_files_in_worker_processes(archive, monkeypatch):
    from archiver.evidence import verify

    monkeypatch.setattr(verify, "IN_PROCESS_BYTES", 0)
    report = archive.verify(workers=2)
    assert report.ok, [str(p) for p in report.problems]
    path = warc_files(archive)[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = archive.verify(workers=2)
    assert not report.ok
    assert any(p.file == f"warc/{path.name}" for p in report.problems)


def _recompress_with_change(path: Path, offset: int, length: int, old: bytes, new: bytes) -> None:
    """Change bytes inside one record's gzip member and compress it again, so
    the gzip stays valid and only the digests can tell."""
    data = path.read_bytes()
    member = gzip.decompress(data[offset:offset + length])
    assert old in member
    changed = gzip.compress(member.replace(old, new, 1))
    path.write_bytes(data[:offset] + changed + data[offset + length:])


def test_a_changed_byte_inside_a_valid_gzip_member_is_found(archive):
    path = warc_files(archive)[0]
    offset, length, rid = response_record(path)
    member = gzip.decompress(path.read_bytes()[offset:offset + length])
    body_at = member.index(b"\r\n\r\n", member.index(b"HTTP/1.")) + 4
    old = member[body_at:body_at + 1]
    _recompress_with_change(path, offset, length, member[body_at:body_at + 8],
                            bytes([old[0] ^ 0x20]) + member[body_at + 1:body_at + 8])
    code, report = verify_json(archive.path)
    assert code == 1 and not report["ok"]
    mine = [p for p in report["problems"] if p["file"] == f"warc/{path.name}"]
    assert any(p["offset"] == offset and rid in p["problem"] and "digest" in p["problem"].lower() for p in mine), mine
    assert any("SHA-256" in p["problem"] and MANIFEST in p["problem"] for p in mine), mine


def test_a_file_cut_inside_a_gzip_member_is_found(archive):
    path = warc_files(archive)[-1]
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 5)  # inside the last member's trailer: the records still "read"
    code, report = verify_json(archive.path)
    assert code == 1
    what = " ".join(p["problem"] for p in report["problems"] if p["file"] == f"warc/{path.name}")
    assert "cut short" in what
    assert f"shorter than the {size}" in what


def test_a_deleted_snapshot_file_is_found(archive):
    snap = next(archive.path.glob("texts/*/*.json"))
    snap.unlink()
    code, report = verify_json(archive.path)
    assert code == 1
    assert any(p["file"].endswith(snap.name) and "missing" in p["problem"] for p in report["problems"])


def test_an_edited_snapshot_file_is_found(archive):
    snap = next(archive.path.glob("texts/*/*.json"))
    data = json.loads(snap.read_text())
    data["text"] = data["text"].replace("published", "withdrawn", 1) + " (edited)"
    snap.write_text(json.dumps(data))
    code, report = verify_json(archive.path)
    assert code == 1
    assert any(p["file"].endswith(snap.name) and "changed" in p["problem"] for p in report["problems"])


@pytest.mark.parametrize("field,value", [("title", "A forged title"), ("authors", ["Someone Else"]),
                                         ("published", "1999-01-01"), ("sitename", "Forged"),
                                         ("first_captured", {"url": "http://forged.example/"})])
def test_edited_snapshot_metadata_is_found_and_reindex_does_not_bless_it(archive, field, value):
    """Only the text was hashed: a snapshot's title, authors or date could
    be changed and verify said intact while show printed the forgery."""
    snap = next(archive.path.glob("texts/*/*.json"))
    data = json.loads(snap.read_text())
    assert data[field] != value
    data[field] = value
    snap.write_text(json.dumps(data, indent=1))
    for _ in range(2):
        code, report = verify_json(archive.path)
        assert code == 1
        assert any(p["file"].endswith(snap.name) and "metadata" in p["problem"] and "WARC metadata record"
                   in p["problem"] for p in report["problems"]), report["problems"]
        assert run("reindex", archive=archive.path).exit_code == 0  # rebuilt: the forgery is still found


def test_a_snapshot_file_laid_out_anew_is_not_a_finding(archive):
    snap = next(archive.path.glob("texts/*/*.json"))
    data = json.loads(snap.read_text())
    snap.write_text(json.dumps(dict(reversed(list(data.items()))), indent=4, ensure_ascii=True))
    code, report = verify_json(archive.path)
    assert code == 0, report["problems"]


def test_an_edited_capture_row_is_found_against_its_metadata_record(archive):
    db = sqlite3.connect(archive.path / "catalog.sqlite")
    url, ts = db.execute("SELECT url, timestamp FROM captures WHERE verdict = 'new' ORDER BY id LIMIT 1").fetchone()
    db.execute("UPDATE captures SET title = 'Forged', verdict = 'changed', word_count = 7 WHERE url = ? AND"
               " timestamp = ?", (url, ts))
    db.commit()
    db.close()
    code, report = verify_json(archive.path)
    assert code == 1
    said = [p["problem"] for p in report["problems"] if p["file"] == "catalog.sqlite"]
    for column in ("title", "verdict", "word_count"):
        assert any(f"capture of {url} at {ts}: its {column}" in p for p in said), said


def test_an_edited_catalog_row_is_found(archive):
    db = sqlite3.connect(archive.path / "catalog.sqlite")
    row = db.execute("SELECT id, warc_file, offset, record_id FROM records WHERE record_type = 'response'"
                     " ORDER BY id LIMIT 1").fetchone()
    db.execute("UPDATE records SET offset = offset + 7 WHERE id = ?", (row[0],))
    db.execute("UPDATE captures SET meta_record_id = '<urn:uuid:not-there>' WHERE id = (SELECT min(id) FROM captures)")
    db.commit()
    db.close()
    code, report = verify_json(archive.path)
    assert code == 1
    problems = report["problems"]
    assert any(p["file"] == f"warc/{row[1]}" and p["offset"] == row[2] + 7 and row[3] in p["problem"]
               for p in problems), problems
    assert any(p["file"] == "catalog.sqlite" and "not-there" in p["problem"] for p in problems), problems


def test_a_missing_file_and_a_revisit_without_its_original_are_found(archive):
    with archive.reader() as catalog:
        revisit = catalog.db.execute("SELECT refers_to FROM records WHERE record_type = 'revisit'").fetchone()[0]
        original_file = catalog.find_record(revisit).warc_file
    (archive.warc_dir / original_file).unlink()
    code, report = verify_json(archive.path)
    assert code == 1
    text = [f"{p['file']}: {p['problem']}" for p in report["problems"]]
    assert any(original_file in t and "missing" in t and MANIFEST in t for t in text), text
    assert any(original_file in t and "catalog record rows point into it" in t for t in text), text
    assert any(f"revisit of {revisit}" in t for t in text), text


def test_an_unlisted_file_closed_long_ago_is_reported_without_waiting(archive, monkeypatch):
    """A closed file without its manifest line is waited for a moment (its
    writer appends the line just after the rename) only when it was renamed
    moments ago; one from long ago has no writer to wait for."""
    from archiver.evidence import verify

    first = warc_files(archive)[0]
    shutil.copy(first, archive.warc_dir / ("zz-" + first.name))
    monkeypatch.setattr(verify, "UNLISTED_RECENT", 0.0)  # as if the copy were older than that
    waits: list[float] = []
    monkeypatch.setattr(verify.time, "sleep", waits.append)  # counted, not slept: no wall clock involved
    report = archive.verify()
    assert waits == []
    assert any("not listed" in p.what for p in report.problems)


def test_an_unlisted_file_is_found_and_can_be_adopted(archive, tmp_path, site, fast_options):
    # A WARC file that never went through the writer: copied in by hand from another archive.
    other = Archive(tmp_path / "other", fetch_options=fast_options, workers=0)
    other.capture([site.url("/http10.html")])
    first = warc_files(other)[0]
    extra = archive.warc_dir / ("zz-" + first.name)
    shutil.copy(first, extra)
    code, report = verify_json(archive.path)
    assert code == 1
    assert any(p["file"] == f"warc/{extra.name}" and "not listed" in p["problem"] for p in report["problems"])
    code, report = verify_json(archive.path, "--add-unlisted")
    assert report["added_to_manifest"] == [f"warc/{extra.name}"]
    code, report = verify_json(archive.path)
    assert code == 0, report["problems"]


def test_add_unlisted_never_adopts_a_file_that_changed_after_it_was_closed(archive):
    """A file whose manifest line was removed and which was then appended to
    is not the file the catalog recorded when it was closed: reported, and
    its new hash never written into the manifest."""
    first = warc_files(archive)[0]
    rel = f"warc/{first.name}"
    manifest = archive.path / MANIFEST
    manifest.write_text("".join(line for line in manifest.read_text().splitlines(keepends=True)
                                if first.name not in line))
    with open(first, "ab") as f:
        f.write(gzip.compress(b"WARC/1.1\r\nWARC-Type: resource\r\nContent-Length: 0\r\n\r\n\r\n\r\n"))
    code, report = verify_json(archive.path, "--add-unlisted")
    assert code == 1
    assert report["added_to_manifest"] == []
    assert any(p["file"] == rel and "changed after it was closed" in p["problem"] for p in report["problems"])
    assert rel not in read_manifest(archive.path)[0]


def test_a_damaged_manifest_line_is_a_finding(archive):
    with open(archive.path / MANIFEST, "a") as f:
        f.write("not a manifest line\n")
    code, report = verify_json(archive.path)
    assert code == 1
    assert any(p["file"] == MANIFEST for p in report["problems"])


def test_reindex_keeps_fixity(archive):
    before = read_manifest(archive.path)[0]
    res = run("reindex", archive=archive.path)
    assert res.exit_code == 0, res.output
    with archive.reader() as catalog:
        assert {f"warc/{n}" for n in catalog.warc_files()} == set(before)
    code, report = verify_json(archive.path)
    assert code == 0, report["problems"]


def test_recovered_file_gets_its_manifest_line(site, tmp_path, fast_options):
    a = Archive(tmp_path / "arch", fetch_options=fast_options, workers=0)
    a.capture([site.url("/page.html")])
    # A writer killed mid-file: its .open file is finished by the next run.
    src = warc_files(a)[0]
    crashed = a.warc_dir / ("archiver-20000101000000000000-00001-crash-1.warc.gz.open")
    shutil.copy(src, crashed)
    a.capture([site.url("/gzip.html")])
    entries = read_manifest(a.path)[0]
    assert "warc/archiver-20000101000000000000-00001-crash-1.warc.gz" in entries


def test_verify_errors_are_one_line(tmp_path):
    res = run("verify", archive=tmp_path / "nothing")
    assert res.exit_code == 2 and "no archive" in res.output
    res = run("verify", "--key", str(tmp_path / "k.pem"), archive=tmp_path)
    assert res.exit_code == 2


# -- provenance -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory):
    """An HTTPS server on 127.0.0.1 with a certificate from a test CA (chain: leaf, root)."""
    folder = tmp_path_factory.mktemp("tls")
    ca = Authority("Archiver Test TLS Root")
    leaf, key = ca.issue("localhost", dns=["localhost"], ips=["127.0.0.1"], server=True)
    cert_path, key_path = write_pem(folder, "server", leaf, key, chain=[ca.cert])
    (folder / "ca.pem").write_bytes(ca.pem)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = ARTICLE.format(n=1).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"https://127.0.0.1:{server.server_address[1]}/article", "ca": folder / "ca.pem", "leaf": leaf,
           "root": ca.cert, "folder": folder}
    server.shutdown()
    server.server_close()


def test_provenance_of_an_https_capture(tls_site, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    arch = tmp_path / "arch"
    res = run("capture", tls_site["url"], "--delay", "0", "--ca-bundle", str(tls_site["ca"]), "--json", archive=arch)
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.splitlines()[0])["verdict"] == "new"
    res = run("show", tls_site["url"], "--json", archive=arch)
    prov = json.loads(res.output)["provenance"]
    assert prov["software"].startswith("archiver/") and "httpx" in prov["software"]
    assert prov["ip_address"] == "127.0.0.1"
    assert prov["http_version"].startswith("HTTP/1")
    assert prov["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert prov["fetched_with"] == "http" and prov["browser"] is None
    assert prov["options"]["ca_bundle"] == str(tls_site["ca"]) and prov["options"]["obey_robots"] is True
    chain = x509.load_pem_x509_certificates(prov["tls_certificate_chain"].encode())
    der = serialization.Encoding.DER
    assert [c.public_bytes(der) for c in chain] == [tls_site["leaf"].public_bytes(der),
                                                    tls_site["root"].public_bytes(der)]


def test_provenance_of_an_https_capture_in_the_browser(tls_site, tmp_path, fast_options):
    """Chromium's own view: the TLS version it negotiated and the chain it was
    shown. (The test CA is trusted through Chromium's switch for one key, set
    by a wrapper script given as the browser: nothing in archiver changes.)"""
    import stat

    from cryptography.hazmat.primitives import serialization

    pytest.importorskip("playwright")
    from chromium import CHROMIUM as chromium

    from archiver.config import BrowserOptions

    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    spki = tls_site["leaf"].public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    wrapper = tmp_path / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec "{chromium}" --ignore-certificate-errors-spki-list={pin} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    archive = Archive(tmp_path / "arch", fetch_options=FetchOptions(host_delay=0.0, ca_bundle=str(tls_site["ca"])),
                      browser_options=BrowserOptions(executable=str(wrapper), idle=1.0, timeout=20.0), workers=0)
    [c] = archive.capture([tls_site["url"]], browser=True)
    assert c.verdict is Verdict.NEW and c.via == "browser", c.reason
    prov = archive.show(tls_site["url"]).provenance
    assert prov["fetched_with"] == "browser" and prov["tls_version"] and "TLS" in prov["tls_version"]
    # The User-Agent as sent: Chromium's own, with archiver's appended (it showed archiver's alone).
    with open(next(archive.warc_dir.glob("*.warc.gz")), "rb") as f:
        sent = next(r.http_headers.get_header("User-Agent") for r in ArchiveIterator(f)
                    if r.rec_type == "request" and r.rec_headers.get_header("WARC-Target-URI") == tls_site["url"])
    assert prov["options"]["user_agent"] == sent and "Chrome/" in sent and sent.endswith(FetchOptions().agent)
    from cryptography import x509

    chain = x509.load_pem_x509_certificates(prov["tls_certificate_chain"].encode())
    assert chain[0].public_bytes(serialization.Encoding.DER) == tls_site["leaf"].public_bytes(
        serialization.Encoding.DER)


def test_an_untrusted_certificate_is_a_failed_capture(tls_site, tmp_path):
    res = run("capture", tls_site["url"], "--delay", "0", "--retries", "0", "--json", archive=tmp_path / "arch")
    assert json.loads(res.output.splitlines()[0])["verdict"] == "failed"


def test_provenance_holds_no_secrets(site, tmp_path, clock):
    secret = "s3cret-token-value"
    opts = FetchOptions(host_delay=0.0, extra_headers=(("Authorization", f"Bearer {secret}"),
                                                      ("Cookie", f"session={secret}")))
    a = Archive(tmp_path / "arch", fetch_options=opts, clock=clock, workers=0)
    a.capture([site.url("/page.html")])
    shown = a.show(site.url("/page.html"))
    assert secret not in json.dumps(shown.provenance)
    assert shown.provenance["options"]["extra_header_names"] == ["Authorization", "Cookie"]
    assert shown.provenance["tls_version"] is None  # plain HTTP
    for path in warc_files(a):
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type == "metadata":
                    assert secret.encode() not in record.content_stream().read()


# -- signed packages -------------------------------------------------------------------


def export(archive: Path, out: Path, *extra: str):
    return run("export", "--wacz", str(out), *extra, archive=archive)


def verify_pkg(path: Path, *extra: str) -> tuple[int, dict]:
    res = run("verify", str(path), "--json", *extra)
    return res.exit_code, json.loads(res.output)


def rewrite_member(package: Path, name: str, change) -> None:
    """Replace one file inside the zip (the zip itself stays valid)."""
    tmp = package.with_suffix(".tmp")
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, change(data) if info.filename == name else data)
    tmp.replace(package)


@pytest.fixture
def signed(archive, tmp_path):
    out = tmp_path / "signed.wacz"
    res = export(archive.path, out, "--sign")
    assert res.exit_code == 0, res.output
    return out


def test_a_signed_package_verifies_with_its_public_key(signed, archive):
    from test_export import wacz_validate

    key = archive.path / "keys" / "signing-key.pub.pem"
    private = archive.path / "keys" / "signing-key.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    code, report = verify_pkg(signed, "--key", str(key))
    assert code == 0, report
    assert report["signed"] and report["signer"]["kind"] == "anonymous" and report["signer"]["key_pinned"]
    with zipfile.ZipFile(signed) as z:
        digest = json.loads(z.read("datapackage-digest.json"))
        package = json.loads(z.read("datapackage.json"))
    signed_data = digest["signedData"]
    assert signed_data["created"] == package["created"]
    assert base64.b64decode(signed_data["publicKey"])  # the public key is in the package
    wacz_validate(signed)
    res = run("verify", str(signed))
    assert res.exit_code == 0 and "signed by key" in res.output


def test_the_archive_key_is_made_once(signed, archive, tmp_path):
    first = (archive.path / "keys" / "signing-key.pub.pem").read_bytes()
    export(archive.path, tmp_path / "again.wacz", "--sign")
    assert (archive.path / "keys" / "signing-key.pub.pem").read_bytes() == first
    _, a = verify_pkg(signed)
    _, b = verify_pkg(tmp_path / "again.wacz")
    assert a["signer"]["key_sha256"] == b["signer"]["key_sha256"]


@pytest.mark.parametrize("member", ["warc", "pages/pages.jsonl", "datapackage.json", "indexes/index.cdxj"])
def test_any_changed_file_fails_and_is_named(signed, member):
    with zipfile.ZipFile(signed) as z:
        name = next(n for n in z.namelist() if n.startswith("archive/")) if member == "warc" else member

    def change(data: bytes) -> bytes:
        if name == "datapackage.json":
            return data.replace(b'"title"', b'"title" ', 1)
        at = len(data) // 2
        return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]

    rewrite_member(signed, name, change)
    code, report = verify_pkg(signed)
    assert code == 1
    assert any(p.startswith(name) for p in report["problems"]), report["problems"]


def test_a_flipped_byte_in_the_zip_is_found(signed):
    data = bytearray(signed.read_bytes())
    with zipfile.ZipFile(signed) as z:
        info = next(i for i in z.infolist() if i.filename.startswith("archive/"))
    data[info.header_offset + 200] ^= 0x01  # inside the stored WARC file
    signed.write_bytes(bytes(data))
    code, report = verify_pkg(signed)
    assert code == 1
    assert any(p.startswith(info.filename) for p in report["problems"]), report["problems"]


def test_a_package_signed_with_another_key_fails_against_the_pinned_key(signed, archive, tmp_path, site, clock,
                                                                          fast_options):
    other = Archive(tmp_path / "other", fetch_options=fast_options, clock=clock, workers=0)
    other.capture([site.url("/page.html")])
    res = export(other.path, tmp_path / "o.wacz", "--sign")
    assert res.exit_code == 0, res.output
    code, report = verify_pkg(signed, "--key", str(other.path / "keys" / "signing-key.pub.pem"))
    assert code == 1 and any("another key" in p for p in report["problems"])
    # and a signature swapped in from another package fails with any key
    with zipfile.ZipFile(tmp_path / "o.wacz") as z:
        foreign = z.read("datapackage-digest.json")
    foreign_sig = json.loads(foreign)["signedData"]

    def swap(data: bytes) -> bytes:
        d = json.loads(data)
        d["signedData"]["signature"] = foreign_sig["signature"]
        return json.dumps(d).encode()

    rewrite_member(signed, "datapackage-digest.json", swap)
    code, report = verify_pkg(signed)
    assert code == 1 and any("does not verify" in p for p in report["problems"])


def test_unsigned_package_with_a_key_fails(archive, tmp_path, signed):
    out = tmp_path / "plain.wacz"
    assert export(archive.path, out).exit_code == 0
    code, report = verify_pkg(out)
    assert code == 0 and not report["signed"]
    code, report = verify_pkg(out, "--key", str(archive.path / "keys" / "signing-key.pub.pem"))
    assert code == 1 and any("not signed" in p for p in report["problems"])
    res = run("verify", str(out), "--key", str(tmp_path / "no-such-key.pem"))
    assert res.exit_code == 2 and "cannot read key" in res.output


def test_domain_signed_package(archive, tmp_path):
    ca = Authority("Archiver Test Web PKI")
    leaf, key = ca.issue("archive.example.org", dns=["archive.example.org"], server=True)
    cert_path, key_path = write_pem(tmp_path, "domain", leaf, key)
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    out = tmp_path / "domain.wacz"
    res = export(archive.path, out, "--sign-cert", str(cert_path), "--sign-key", str(key_path))
    assert res.exit_code == 0, res.output
    code, report = verify_pkg(out, "--ca", str(tmp_path / "ca.pem"))
    assert code == 0, report
    assert report["signer"]["kind"] == "domain" and report["signer"]["domain"] == "archive.example.org"
    code, report = verify_pkg(out)  # the test root is no system root
    assert code == 1 and any("trusted root" in p for p in report["problems"])
    other_key = tmp_path / "other.key"
    _, k2 = Authority().issue("x")
    write_pem(tmp_path, "other", _, k2)
    res = export(archive.path, tmp_path / "bad.wacz", "--sign-cert", str(cert_path), "--sign-key",
                 str(tmp_path / "other.key"))
    assert res.exit_code == 2 and "not the key" in res.output
    assert other_key.exists()


@pytest.fixture
def tsa(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed for the test timestamp authority")
    folder = tmp_path / "tsa"
    folder.mkdir()
    server = TimestampAuthority(Authority("Archiver Test TSA Root"), folder).start()
    yield server
    server.stop()


def test_a_timestamped_package_verifies_against_the_authority(archive, tmp_path, tsa):
    from test_export import wacz_validate

    out = tmp_path / "stamped.wacz"
    res = export(archive.path, out, "--sign", "--tsa", tsa.url)
    assert res.exit_code == 0, res.output
    wacz_validate(out)
    assert tsa.requests == 1 and "timestamped" in res.output
    code, report = verify_pkg(out, "--tsa-cert", str(tsa.ca_path),
                              "--key", str(archive.path / "keys" / "signing-key.pub.pem"))
    assert code == 0, report
    assert report["timestamp"]["anchored"] is True
    assert "Archiver Test TSA" in report["timestamp"]["authority"]
    with zipfile.ZipFile(out) as z:
        created = json.loads(z.read("datapackage.json"))["created"]
    assert report["timestamp"]["time"][:15] == created[:15]  # same ten minutes
    res = run("verify", str(out), "--tsa-cert", str(tsa.ca_path))
    assert res.exit_code == 0 and "timestamped" in res.output
    # Without a pinned authority (and no root in the token): the time is
    # read and matched to the signature, and the report says what was not checked.
    code, report = verify_pkg(out)
    assert code == 0 and not report["timestamp"]["signature_checked"] and not report["timestamp"]["anchored"]
    assert any("--tsa-cert" in n for n in report["notes"])
    # Against another authority's root, the same timestamp does not verify.
    (tmp_path / "other-root.pem").write_bytes(Authority("Someone Else").pem)
    code, report = verify_pkg(out, "--tsa-cert", str(tmp_path / "other-root.pem"))
    assert code == 1 and any("timestamp" in p for p in report["problems"])


def test_a_changed_timestamp_fails(archive, tmp_path, tsa):
    out = tmp_path / "stamped.wacz"
    assert export(archive.path, out, "--sign", "--tsa", tsa.url).exit_code == 0

    def retime(data: bytes) -> bytes:
        d = json.loads(data)
        d["signedData"]["signature"] = d["signedData"]["signature"][:-4] + "AAA="
        return json.dumps(d).encode()

    rewrite_member(out, "datapackage-digest.json", retime)
    code, report = verify_pkg(out, "--tsa-cert", str(tsa.ca_path))
    assert code == 1


def test_an_unreachable_authority_writes_no_package(archive, tmp_path, free_port):
    out = tmp_path / "x.wacz"
    res = export(archive.path, out, "--sign", "--tsa", f"http://127.0.0.1:{free_port}/")
    assert res.exit_code == 2 and "timestamp authority" in res.output
    assert not out.exists()
    res = export(archive.path, out, "--tsa", f"http://127.0.0.1:{free_port}/")
    assert res.exit_code == 2 and "--sign" in res.output


def test_not_a_package(tmp_path):
    bad = tmp_path / "bad.wacz"
    bad.write_bytes(b"not a zip")
    code, report = verify_pkg(bad)
    assert code == 1 and "not a readable WACZ" in report["problems"][0]


@pytest.mark.parametrize("signed_data", [
    "not an object", 5, None, [], {"hash": 7, "signature": ["x"]},
    {"signature": "!!!notbase64", "publicKey": "!!!"},
    {"signature": "AAAA", "publicKey": base64.b64encode(b"not a key").decode()},
    {"signature": "AAAA", "domainCert": "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
     "domain": "x"},
    {"signature": "AAAA", "publicKey": "AAAA", "timeSignature": "garbage", "timestampCert": 12},
])
def test_hostile_signatures_are_findings_not_crashes(signed, signed_data):
    def replace(data: bytes) -> bytes:
        d = json.loads(data)
        d["signedData"] = signed_data
        return json.dumps(d).encode()

    rewrite_member(signed, "datapackage-digest.json", replace)
    res = run("verify", str(signed), "--json")
    assert res.exit_code in (0, 1), res.output
    report = json.loads(res.output)
    if isinstance(signed_data, dict):
        assert res.exit_code == 1 and report["problems"]
    else:
        assert not report["signed"]


def test_hostile_manifest_and_digest_files_are_findings(signed):
    rewrite_member(signed, "datapackage-digest.json", lambda data: b"\xff\xfe not json")
    res = run("verify", str(signed), "--json")
    assert res.exit_code == 1 and "datapackage-digest.json" in json.loads(res.output)["problems"][0]
    rewrite_member(signed, "datapackage.json", lambda data: b'{"resources": [{"path": 5}, "x", {"path": "../../etc/passwd"}]}')
    res = run("verify", str(signed), "--json")
    assert res.exit_code == 1
    assert any("../../etc/passwd" in p for p in json.loads(res.output)["problems"])


def test_a_file_being_written_is_skipped_not_reported(archive):
    """verify during a capture: the open file's records are not read, and the
    captures pointing into it are not findings. Whether its writer still
    lives (it holds a lock on the file) or was killed is said too."""
    import fcntl

    last = warc_files(archive)[-1]
    opened = last.with_name(last.name + ".open")
    last.rename(opened)
    with open(opened, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a live writer holds it
        code, report = verify_json(archive.path)
        assert report["open_files_skipped"] == [opened.name] and report["open_files_abandoned"] == []
        assert code == 0, report["problems"]
        res = run("--archive", str(archive.path), "verify")
        assert f"{opened.name} is still being written" in res.output
    code, report = verify_json(archive.path)  # its writer gone (killed)
    assert report["open_files_skipped"] == report["open_files_abandoned"] == [opened.name]
    assert code == 0, report["problems"]
    res = run("--archive", str(archive.path), "verify")
    assert f"{opened.name} was left open by a process that ended (killed): the next capture recovers it" in res.output


def test_verify_while_a_capture_writes_finds_nothing_wrong(site, tmp_path, fast_options):
    """A check run during a capture (files opening, closing and rolling over
    under it) reports no problem that is not there."""
    import threading

    a = Archive(tmp_path / "arch", fetch_options=fast_options, warc_options=WarcOptions(max_size=4096), workers=0)
    a.capture([site.url("/page.html")])
    urls = [site.url("/slowish") + f"?n={i}" for i in range(8)] + [site.url(f"/page.html?n={i}") for i in range(8)]
    writer = threading.Thread(target=a.capture, args=(urls,))
    writer.start()
    reports = []
    while writer.is_alive():
        reports.append(a.verify(workers=0))
    writer.join()
    reports.append(a.verify(workers=0))
    assert len(reports) >= 2
    for report in reports:
        assert report.ok, [str(p) for p in report.problems]
