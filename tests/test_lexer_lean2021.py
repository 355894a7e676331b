"""Differential tests of the lexer on the real Lean 4 REPL of 2021 (tests/real_lean.py): for a corpus of texts
made of comment, doc-comment, string, char, name and line-end fragments around marker commands, the markers
our lexer reads as code are exactly the ones Lean ran. Lexical rules of comments, strings, chars and line ends
are the same in that Lean and today's, except `/-!` (a token today), which the lexer refuses wherever the
two readings differ, and raw strings (today's only), which are left out here.

Markers, each answered by Lean in the same command: `#print "mK"` (an info message "mK"), `#check 'c'`
("Char.ofNat N : Char"); `def dK : Nat := K`, optionally after a doc comment, is read back with `#check @dK`
in the environment the case left."""

from __future__ import annotations

import random
import re

import pytest

from flywheel.lean.text.lexer import Kind, tokenize
from flywheel.lean.repl.client import LeanRepl

pytestmark = pytest.mark.lean

FRAGMENTS = [
    "/-", "-/", "--", "/--", "/-/-", "-/-/", "/--/", "/- -/", "/--/-/", "/-/", "--/", "-- /-", "/-- x -/",
    "/-!", "/-! x -/", "\n", " ", "\r\n", "'", "''", '"', "'\"'", "'-'", "'/'", "'\\''", "\\", "«", "»",
    "«x»", "«-/»", "-", "/", "x", "h'", "\"-/\"", "\"/-\"", "\"--\"", "\"\\\"\"", "'\\\\'",
]
# The attack classes of issue 19 and the honest forms, as whole cases.
HAND = [
    '/-/- -/ #print "m1"\n',  # the character after `/-` is skipped: ONE comment
    '/--/ def d1 : Nat := 1 -/ def d2 : Nat := 2\n',  # `/--/` is no closed comment
    '/-- -- /-\n -/ def d1 : Nat := 1\n',  # the doc's leading whitespace swallows `-- /-`
    '/-- -- -/\n x -/ def d1 : Nat := 1\n',
    '/-- /- inner -/ doc -/ def d1 : Nat := 1\n',
    '/-- /-- -/ -/ def d1 : Nat := 1\n',
    '-- x\r\n#print "m1"\n',
    '#check \'"\' #print "m1"\n',  # a char literal holding a quote opens no string
    '#check \'-\' -- #print "m1"\n#print "m2"\n',
    '#print "/-" #print "m2" #print "-/"\n',
    '/- "-/ #print "m1"\n',  # no strings inside comments: the first `-/` closes
    '#print "-- /-" #print "m2"\n',
    '/-*-/ #print "m1"\n',
    '/-/-/ #print "m1"\n',
    '/- /-/ -/ #print "m1" -/ #print "m2"\n',
]


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), literal[1:-1])


def expected(text: str):
    """What our lexer says Lean runs: (printed strings, char codes, defs), or None when the code tokens are
    not a plain sequence of marker commands (the case is then not a test of reading, only of parsing)."""
    lexed = tokenize(text)
    if lexed.unterminated or lexed.refused or lexed.ambiguous_at >= 0:
        return None
    toks = [t for t in lexed.tokens if t.kind is not Kind.COMMENT]
    kinds = [t.kind for t in lexed.tokens]
    prints, chars, defs = [], [], []
    i = 0
    while i < len(toks):
        words = [t.text for t in toks[i : i + 7]]
        if words[:2] == ["#", "check"] and i + 2 < len(toks) and toks[i + 2].kind is Kind.CHAR:
            chars.append(ord(_unescape(toks[i + 2].text)))
            i += 3
        elif words[:2] == ["#", "print"] and i + 2 < len(toks) and toks[i + 2].kind is Kind.STRING:
            prints.append(_unescape(toks[i + 2].text))
            i += 3
        elif len(words) == 7 and words[0] == "def" and words[2:6] == [":", "Nat", ":", "="] \
                and re.fullmatch(r"d\d+", words[1]) and toks[i + 6].kind is Kind.NUMBER:
            defs.append(words[1])
            i += 7
        else:
            return None
    # a doc comment must stand before a def (elsewhere it is a parse error)
    for k, t in enumerate(lexed.tokens):
        if t.kind is Kind.COMMENT and t.text.startswith("/--"):
            nxt = lexed.tokens[k + 1] if k + 1 < len(kinds) else None
            if nxt is None or nxt.text != "def":
                return None
    return prints, chars, defs


def _marker(rng: random.Random, k: int) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return f'#print "m{k}"'
    if kind == 1:
        return "#check '" + rng.choice("ab-/\"") + "'"
    return f"def d{k} : Nat := {k}"


def corpus(seed: int = 19, candidates: int = 30000, keep: int = 400) -> list[str]:
    rng = random.Random(seed)
    out = list(HAND)
    seen = set(out)
    for _ in range(candidates):
        parts = []
        for k in range(1, 4):
            parts += rng.choices(FRAGMENTS, k=rng.randrange(4))
            parts += ["\n"] * rng.randrange(2) + [_marker(rng, k)]
        parts += rng.choices(FRAGMENTS, k=rng.randrange(3)) + ["\n"]
        text = "".join(parts)
        want = expected(text)
        if text not in seen and want is not None and any(want):  # a case with no code at all says nothing
            seen.add(text)
            out.append(text)
        if len(out) >= keep:
            break
    return out


def _lean_reading(repl: LeanRepl, env: int | None, text: str):
    answer = repl.run(text, env=env)
    msgs = answer.get("messages", [])
    errors = [m["data"] for m in msgs if m.get("severity") == "error"]
    infos = [m["data"] for m in msgs if m.get("severity") == "info"]
    prints = [d for d in infos if not d.endswith(" : Char")]
    chars = [int(m.group(1)) for d in infos if (m := re.fullmatch(r"Char\.ofNat (\d+) : Char", d))]
    defs = sorted(set(re.findall(r"\bd\d+\b", text)))
    new_env = answer["env"]
    declared = []
    if defs:
        check = repl.run("\n".join(f"#check @{d}" for d in defs), env=new_env)
        declared = [m["data"].split(" :")[0] for m in check.get("messages", []) if m.get("severity") == "info"]
    return errors, prints, chars, declared, new_env


def test_the_corpus_is_large_and_covers_every_fragment():
    texts = corpus()
    assert len(texts) >= 300
    used = "".join(texts)
    missing = [f for f in FRAGMENTS if f not in used]
    assert missing == [], missing


def test_what_our_lexer_calls_code_is_what_lean_ran(real_lean):
    texts = corpus()
    wrong = []
    with LeanRepl([str(real_lean.repl)], env=real_lean.env(), timeout_s=60) as repl:
        env = repl.run("-- the base environment")["env"]
        for text in texts:
            want = expected(text)
            errors, prints, chars, declared, _ = _lean_reading(repl, env, text)
            got = (prints, chars, sorted(declared))
            if errors or got != (want[0], want[1], sorted(want[2])):
                wrong.append((text, want, got, errors))
    assert wrong == [], f"{len(wrong)} of {len(texts)} cases read differently, first: {wrong[:3]}"


def test_an_unterminated_comment_is_unterminated_for_lean_too(real_lean):
    texts = ["/- /- -/\n", "/-- -- -/\n", '#print "m1" /-/-/ /-\n', "/-/-\n"]
    with LeanRepl([str(real_lean.repl)], env=real_lean.env(), timeout_s=60) as repl:
        env = repl.run("-- the base environment")["env"]
        for text in texts:
            assert tokenize(text).unterminated == "comment", text
            errors = _lean_reading(repl, env, text)[0]
            assert any("unterminated comment" in e for e in errors), (text, errors)


@pytest.mark.parametrize("text", [
    '/- --/ #print "a" -/ #print "b"\n',  # `--/` closes today's comment, not 2021's
    '/-! -- /-\n -/ #print "a" -/\n',  # `/-!`: a token today, an ordinary comment in 2021
    '/-- /-! -/ -- -/\n x -/ def d1 : Nat := 1\n',
])
def test_what_lean_versions_read_differently_is_refused(real_lean, text):
    assert tokenize(text).refused and "Lean versions" in tokenize(text).refused
    with LeanRepl([str(real_lean.repl)], env=real_lean.env(), timeout_s=60) as repl:
        env = repl.run("-- the base environment")["env"]
        errors, prints, *_ = _lean_reading(repl, env, text)
    # 2021 read it its own way: as the legacy reading says, never as today's
    assert errors or prints != ["a"]
