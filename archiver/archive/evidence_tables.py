"""The catalog's evidence tables and the rows `archiver verify` checks
against the files: each closed WARC file's SHA-256 and size (kept by
reindex), and where each capture's records and texts are said to be."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from ..models import WarcFileRow

__all__ = ["EvidenceTables"]


class EvidenceTables:
    """Fixity and the links verify follows (part of `Catalog`, over its connection)."""

    db: sqlite3.Connection

    # -- fixity (evidence: kept by reindex) -------------------------------------

    def add_warc_file(self, name: str, sha256: str, size: int | None, closed_at: str | None) -> None:
        self.db.execute("INSERT OR IGNORE INTO warc_files (name, sha256, size, closed_at) VALUES (?,?,?,?)",
                        (name, sha256, size, closed_at))

    def warc_files(self) -> dict[str, WarcFileRow]:
        return {r["name"]: WarcFileRow(name=r["name"], sha256=r["sha256"], size=r["size"], closed_at=r["closed_at"])
                for r in self.db.execute("SELECT name, sha256, size, closed_at FROM warc_files")}

    def records_in(self, warc_file: str) -> list[tuple[int, int, str, str, str | None]]:
        """(offset, length, record_id, record_type, payload_digest) of each record
        the catalog places in `warc_file`, by offset."""
        return [tuple(r) for r in self.db.execute(
            "SELECT offset, length, record_id, record_type, payload_digest FROM records WHERE warc_file = ?"
            " ORDER BY offset", (warc_file,))]

    def record_files(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT warc_file FROM records")]

    def capture_links(self) -> Iterator[tuple[str, str, str | None, str | None, str | None]]:
        """(url, timestamp, record_id, meta_record_id, text_sha256) of every capture."""
        for r in self.db.execute("SELECT url, timestamp, record_id, meta_record_id, text_sha256 FROM captures"):
            yield tuple(r)

    def capture_facts(self) -> Iterator[sqlite3.Row]:
        """What `history` and `show` print of every capture, with its metadata record's id."""
        yield from self.db.execute("SELECT url, timestamp, meta_record_id, verdict, status_code, title, word_count,"
                                   " text_sha256 FROM captures")

    def text_files(self) -> list[tuple[str, str]]:
        """(sha256, path) of every stored text."""
        return [tuple(r) for r in self.db.execute("SELECT sha256, path FROM texts")]
