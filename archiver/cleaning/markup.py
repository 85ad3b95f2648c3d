"""Generated names in markup: the class names and ids that CSS-in-JS,
CSS modules and front-end frameworks make up (css-1q2w3e, sc-bdVaJa,
_3xX2a_, a bare hash). They say nothing about what is article and what is
chrome, change at every deploy, and can spell by chance what extraction
reads as chrome ("ad", "nav"): they are taken out before rules and
extraction see the page, so that the same text in gives the same snapshot."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

__all__ = ["drop_generated_names", "generated_name"]

# A generator's prefix, then the hash it made.
_PREFIXED = re.compile(r"^(?:css|sc|jsx|emotion|styled|svelte|astro|tw|chakra|mui|jss)-([A-Za-z0-9_-]{4,})$")
_BARE = re.compile(r"^_*([A-Za-z0-9]{5,})_*$")
_RUNS = re.compile(r"[0-9]+|[a-z]+|[A-Z]+")
_HEX = re.compile(r"[0-9a-f]+")


def _hashlike(body: str) -> bool:
    """Digits and letters, or lower and upper case, switching back and forth
    as only a hash does ("1q2w3e", "bdVaJa", "3xX2a"; not "content2",
    "NavBar", "iPhone", "h2title"), or a long hex number."""
    runs = _RUNS.findall(body)
    digit_switches = sum(1 for a, b in zip(runs, runs[1:]) if a[0].isdigit() != b[0].isdigit())
    case_switches = sum(1 for a, b in zip(runs, runs[1:]) if a[0].islower() and b[0].isupper())
    hex_number = len(body) >= 8 and _HEX.fullmatch(body) is not None and any(c.isdigit() for c in body)
    # Words in CamelCase ("MsoFootnoteReference") switch case too, but between
    # runs of several letters; a hash's runs are a letter or two.
    short_runs = case_switches >= 2 and len(body) < 2 * len(runs)
    return digit_switches >= 3 or short_runs or hex_number


# Generators whose prefix is followed by a bare hash (emotion's css-, styled-components' sc-, styled-jsx,
# svelte): a hash in base 36 is letters only one time in seven (css-mzqdl), and is told from a
# word (css-content) by consonants no word puts together.
_HASH_PREFIXES = frozenset({"css", "sc", "jsx", "emotion", "svelte"})
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{3,}")
_CLUSTERS = frozenset("str scr spr spl thr chr sch shr phr nch rch tch lch ght nts nds ngs rst mpl mps nst rts rds "
                      "lds lts rks cks sts ndl ntr nct pts xtr rth nth lth rsh ssw ckl ckn ffl ffr ttl ngl ngr mbl "
                      "mbr ndr nsp nsf rtf rtl wsl htl sth ldr gth ngt rgh nkl ntl stl lls rns rms lms tts pps ssl "
                      "rld rdl ncl nfl nfr mpt rpr stm stn wnl ckg kgr ckb ckt rdp dpr llw ntw dth".split())


def _unlike_a_word(body: str) -> bool:
    """Letters no word spells: a q without its u, or three or more consonants
    in a row that no common cluster makes ("mzqdl", "vhteyv"; not "content", "header")."""
    body = body.lower()
    if re.search(r"q(?!u)", body):
        return True
    for run in _CONSONANT_RUN.findall(body):
        if any(run[i:i + 3] not in _CLUSTERS for i in range(len(run) - 2)):
            return True
    return False


def generated_name(token: str) -> bool:
    """Whether a class name or id looks made up by a generator."""
    m = _PREFIXED.match(token)
    if m:  # after a generator's prefix, a digit or a capital is the hash's, not a word's
        body = m.group(1)
        if any(c.isdigit() or c.isupper() for c in body):
            return True
        prefix = token.split("-", 1)[0]
        return prefix in _HASH_PREFIXES and 5 <= len(body) <= 8 and body.isalpha() and _unlike_a_word(body)
    m = _BARE.match(token)
    return bool(m) and _hashlike(m.group(1))


def drop_generated_names(tree: LexborHTMLParser) -> None:
    """Remove generated class names (and generated ids) from every element."""
    for node in tree.css("[class], [id]"):  # one walk of the tree: this runs on every page
        attributes = node.attributes
        if "class" in attributes:
            tokens = (attributes["class"] or "").split()
            kept = [t for t in tokens if not generated_name(t)]
            if len(kept) != len(tokens):
                if kept:
                    node.attrs["class"] = " ".join(kept)
                else:
                    del node.attrs["class"]
        if generated_name(attributes.get("id") or ""):
            del node.attrs["id"]
