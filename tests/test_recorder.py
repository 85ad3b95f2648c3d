"""The recorder on its own: a real catalog and snapshot files, and a fake
WARC writer that keeps what it is asked to write (the writer's bytes are
pinned in test_warc.py). One transaction per group: all of it or none."""

from __future__ import annotations

import errno
import hashlib
import io
from datetime import datetime
from pathlib import Path

import pytest

from archiver.archive.catalog import Catalog
from archiver.archive.layout import CATALOG, text_file
from archiver.capture.recorder import Entry, Recorder
from archiver.errors import StoreError
from archiver.models import Exchange, RecordLocation, Snapshot, Verdict
from archiver.verdict import Observation, judge_cleaned

WHEN = datetime(2026, 12, 6, 12, 0, 0)


class FakeWriter:
    """Stands in for WarcWriter: hands out locations, keeps the metadata
    fields it was given, and can fail like a full disk."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.written: list[tuple[str, str]] = []  # (record type, url)
        self.metadata: list[dict] = []
        self.rolled_back: list[int] = []
        self.flushed = 0
        self._n = 0

    def _loc(self, rtype: str) -> RecordLocation:
        if self.fail_on == rtype:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._n += 1
        return RecordLocation(warc_file="fake.warc.gz", offset=self._n * 1000, length=100,
                              record_id=f"<urn:uuid:fake-{self._n}>", warc_date="2026-12-06T12:00:00Z",
                              record_type=rtype)

    def begin(self) -> int:
        return len(self.written)

    def flush(self) -> None:
        self.flushed += 1

    def rollback(self, mark: int) -> None:
        self.rolled_back.append(mark)
        del self.written[mark:]

    def write_exchange(self, ex: Exchange, *, revisit_of: RecordLocation | None = None):
        rtype = "revisit" if revisit_of else "response"
        request, response = self._loc("request"), self._loc(rtype)
        self.written += [("request", ex.url), (rtype, ex.url)]
        return request, response

    def write_metadata(self, url: str, fields: dict, *, when: datetime, concurrent_to: str | None = None):
        loc = self._loc("metadata")
        self.written.append(("metadata", url))
        self.metadata.append(fields)
        return loc


def exchange(url: str, body: bytes) -> Exchange:
    return Exchange(url=url, method="GET", request_target="/", request_headers=[], started=WHEN,
                    http_version="HTTP/1.1", status_code=200, reason="OK",
                    response_headers=[("Content-Type", "text/html")], body=io.BytesIO(body), body_length=len(body),
                    payload_digest="sha1:" + hashlib.sha1(body).hexdigest())


def entry(url: str, text: str, when: datetime = WHEN) -> Entry:
    snap = Snapshot(url=url, status="ok", title="A page", text=text)
    capture = judge_cleaned(Observation(url=url, when=when, final_url=url, status_code=200,
                                        content_type_header="text/html"), snap)
    return Entry(records=[exchange(url, text.encode())], capture=capture, snapshot=snap)


@pytest.fixture
def catalog(tmp_path: Path):
    c = Catalog(tmp_path / CATALOG)
    yield c
    c.close()


def test_a_text_is_new_then_unchanged_then_changed_and_each_file_written_once(tmp_path, catalog):
    writer = FakeWriter()
    rec = Recorder(tmp_path, catalog, writer)
    url = "https://example.org/a"
    [first] = rec.record([entry(url, "One text about the ferry.")])
    assert first.verdict is Verdict.NEW and first.snapshot_file == text_file(first.text_sha256)
    assert (tmp_path / first.snapshot_file).exists()
    [same] = rec.record([entry(url, "One text about the ferry.", datetime(2026, 12, 6, 13))])
    assert same.verdict is Verdict.UNCHANGED and same.snapshot_file == first.snapshot_file
    [other] = rec.record([entry(url, "Another text about the ferry.", datetime(2026, 12, 6, 14))])
    assert other.verdict is Verdict.CHANGED
    assert len(list(tmp_path.glob("texts/*/*.json"))) == 2
    assert [c.verdict for c in catalog.captures(url)] == [Verdict.NEW, Verdict.UNCHANGED, Verdict.CHANGED]
    # Each capture's metadata record says what the catalog says, and carries its snapshot file's digest.
    assert [m["verdict"] for m in writer.metadata] == ["new", "unchanged", "changed"]
    assert writer.metadata[0]["snapshot-sha256"] == writer.metadata[1]["snapshot-sha256"] \
        == catalog.snapshot_digest(first.text_sha256)
    assert writer.flushed == 3 and writer.written.count(("metadata", url)) == 3


def test_a_group_is_recorded_in_one_transaction_or_not_at_all(tmp_path, catalog):
    """A write that fails (a full disk) part-way through a group: the writer
    is cut back, the snapshot files the group made are removed, no catalog
    row stays, and the error says the archive is intact."""
    writer = FakeWriter(fail_on="metadata")
    rec = Recorder(tmp_path, catalog, writer)
    urls = ["https://example.org/x", "https://example.org/y"]
    with pytest.raises(StoreError, match="the disk is full.*was not kept.*intact"):
        rec.record([entry(u, f"The text of {u}.") for u in urls])
    assert writer.rolled_back == [0] and writer.written == []
    assert list(tmp_path.glob("texts/*/*.json")) == []
    assert catalog.all_captures() == [] and catalog.text_files() == []
    # And the next group, on a writer that works, records as if nothing had happened.
    ok = Recorder(tmp_path, catalog, FakeWriter())
    assert [c.verdict for c in ok.record([entry(u, f"The text of {u}.") for u in urls])] == [Verdict.NEW] * 2
