"""Rule files: loading, matching, and errors that name the file and key."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from archiver.cli import cli
from archiver.errors import RuleError
from archiver.cleaning.rules import check_rules, literal_hint, load_rules


def test_project_rules_load_and_validate():
    rules = load_rules()
    names = [r.name for r in rules]
    assert names[0] == "default" and "hrichina.org" in names
    good, bad = check_rules()
    assert not bad and len(good) == len(rules)


@pytest.mark.parametrize("url,expected", [
    ("https://www.hrichina.org/en/content/1", ["default", "hrichina.org"]),
    ("https://hrichina.org/", ["default", "hrichina.org"]),
    ("https://nothrichina.org/", ["default"]),
    ("https://hrichina.org.evil.example/", ["default"]),
    (None, ["default"]),
])
def test_site_rules_match_domain_and_subdomains(url, expected):
    assert [r.name for r in load_rules().for_url(url)] == expected


def test_path_patterns(tmp_path):
    (tmp_path / "default.toml").write_text("")
    (tmp_path / "news.toml").write_text('[match]\ndomains = ["example.org"]\npaths = ["^/news/"]\n')
    rs = load_rules(tmp_path)
    assert [r.name for r in rs.for_url("https://example.org/news/a")] == ["default", "news"]
    assert [r.name for r in rs.for_url("https://example.org/blog/a")] == ["default"]


@pytest.mark.parametrize("content,key,message", [
    ("[remove]\nselectors = ['div[']\n", "remove.selectors", "bad CSS selector"),
    ("[error]\ntitle = ['(unclosed']\n", "error.title", "bad regular expression"),
    ("[remov]\nselectors = []\n", "remov", "unknown section"),
    ("[remove]\nselector = ['x']\n", "remove.selector", "unknown key"),
    ("[remove]\nselectors = 'nav'\n", "remove.selectors", "must be a list of strings"),
    ("[content]\nmain = 3\n", "content.main", "must be a string"),
    ("[match]\ndomains = ['https://x.org/']\n", "match.domains", "bad domain"),
    ("[content]\nmain = 'article'\n", "match", "needs [match]"),
    ("[match\n", None, "not valid TOML"),
])
def test_invalid_rule_files_name_file_and_key(tmp_path, content, key, message):
    path = tmp_path / "site.toml"
    path.write_text(content)
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    err = info.value
    assert err.path == str(path) and err.key == key and message in str(err)
    assert str(err).startswith(str(path))


def test_rules_check_command(tmp_path):
    (tmp_path / "default.toml").write_text("[remove]\nselectors = ['nav']\n")
    (tmp_path / "bad.toml").write_text("[match]\ndomains = ['x.org']\n[remove]\nselectors = ['a:::b']\n")
    res = CliRunner().invoke(cli, ["rules", "check", str(tmp_path)])
    assert res.exit_code == 2
    assert f"{tmp_path / 'bad.toml'}:remove.selectors: bad CSS selector" in res.stderr
    assert f"ok    {tmp_path / 'default.toml'}" in res.stdout
    ok = CliRunner().invoke(cli, ["rules", "check"])
    assert ok.exit_code == 0 and "hrichina.org.toml" in ok.stdout


def test_missing_rules_folder(tmp_path):
    res = CliRunner().invoke(cli, ["rules", "check", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "no such rules folder" in res.stderr


@pytest.mark.parametrize("pattern,hint", [
    ("The website encountered an unexpected error", "the website encountered an unexpected error"),
    ("(the )?page you (are|were) looking for (could not|cannot) be found", "looking for"),
    (r"\bpage not found\b", "page not found"),
    (r"^\s*(403 Forbidden|404 Not Found)\b", None),
    ("a|b", None),
    ("https? links", " links".strip()),
])
def test_literal_hints(pattern, hint):
    assert literal_hint(pattern) == hint
