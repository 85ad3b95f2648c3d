"""The Chromium the browser tests drive, if this machine has one."""

from __future__ import annotations

import pytest

from archiver.capture.browser import find_chromium
from archiver.errors import BrowserUnavailable

try:
    CHROMIUM: str | None = find_chromium()
except BrowserUnavailable:
    CHROMIUM = None

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")
