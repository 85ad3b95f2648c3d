"""Crawling: pages found by following links from seeds, within a scope,
each captured through the same path as `archiver capture`."""

from .run import CrawlReport, CrawlSettings, resume_crawl, start_crawl
from .scope import Scope
from .traps import TrapBounds

__all__ = ["CrawlReport", "CrawlSettings", "Scope", "TrapBounds", "resume_crawl", "start_crawl"]
