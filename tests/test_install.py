"""archiver installs like any Python package: a wheel built from this tree,
installed into a fresh virtual environment (not the editable one), cleans
with its built-in rules and captures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from siteserver import article

ROOT = Path(__file__).resolve().parent.parent


def test_a_plain_wheel_install_cleans_and_captures(tmp_path, fresh_site):
    src = tmp_path / "src"
    for part in ("archiver", "rules"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(src)], check=True, capture_output=True)
    [wheel] = dist.glob("archiver-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    # The dependencies come from the test environment (no network here);
    # archiver itself only from the wheel.
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    (site_packages / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "work"
    work.mkdir()

    def run(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "archiver"), *args], cwd=work, capture_output=True, text=True,
                              timeout=120, **kw)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import archiver; print(archiver.__file__)"],
                           cwd=work, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site_packages))
    page = work / "page.html"
    page.write_text("<html><head><title>Notes | Human Rights in China 中国人权 | HRIC</title></head><body>"
                    "<a class='skip-link' href='#main'>Skip to main content</a><article><p>"
                    + "A sentence of the article, long enough to count. " * 20 + "</p></article></body></html>")
    res = run("clean", str(page), "--url", "https://www.hrichina.org/en/x", "--format", "json")
    assert res.returncode == 0, res.stderr
    snap = json.loads(res.stdout)
    assert snap["status"] == "ok" and snap["rules"] == ["default", "hrichina.org"] and snap["title"] == "Notes"
    assert "Skip to" not in snap["text"]
    fresh_site.state.pages["/page/a"] = article("Installed", "words " * 40)
    res = run("--archive", str(work / "arch"), "capture", "--delay", "0", "--json", fresh_site.url("/page/a"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["verdict"] == "new"
    version = run("--version")
    assert version.returncode == 0 and version.stdout.strip().endswith(
        subprocess.run([str(venv / "bin" / "python"), "-c", "from importlib.metadata import version;"
                        " print(version('archiver'))"], capture_output=True, text=True).stdout.strip())


def test_the_readme_stands_alone():
    """It starts with the two set-up commands and points at nothing outside the repository."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = text.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert first[0].endswith("archiver capture https://example.com/") and "pytest" in first[1]
    assert "DESIGN.md" not in text and "project workspace" not in text
    assert first[1] in (ROOT / ".ci" / "run").read_text()  # CI runs the README's test command
