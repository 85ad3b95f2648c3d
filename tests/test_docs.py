"""The manual: it builds with --strict (a broken link or a page missing
from the navigation fails), its command-line reference is what --help
prints, and the README stays a README."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_cli_reference_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "cli_reference.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_the_cli_reference_names_every_command():
    from docs_reference import reference

    text = reference()
    for command in ("capture", "clean", "watch add", "run", "serve", "verify", "export", "reindex", "rules check"):
        assert f"\n## archiver {command}\n" in text, command


def test_the_manual_builds_strict(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    proc = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "cli" / "index.html").exists()


def test_the_readme_is_short_and_its_links_lead_somewhere():
    """A README for users (at most 10 KB); the manual lives in docs/.
    (tests/test_install.py checks that it starts with the two commands.)"""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) <= 10 * 1024
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    assert links
    for link in links:
        assert (ROOT / link).exists(), link
