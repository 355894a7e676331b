"""A Lean 4 tokenizer that reads comments, literals and names exactly as Lean's own scanner does
(`Lean.Parser.Basic`: `whitespace`, `finishCommentBlock`, `charLitFnAux`, `strLitFnAux`,
`rawStrLitFnAux`, `identFnAux`), and refuses the few spellings whose reading Lean itself leaves to the
token table (which the imports decide) or which Lean versions read differently.

What Lean does, and so what this does:
- `--` runs to the next line feed (a lone carriage return does not end it; see `LONE_CR`).
- `/-` opens a block comment, and Lean skips the character after it before it looks for nesting: `/-/-`
  opens ONE comment, `/-/-/` is a whole one. Inside, `/-` and `-/` nest.
- `/--` (and, in today's Lean, `/-!`) is a token, a doc comment: like every token it is followed by
  whitespace, which may hold `--` and block comments, and only then does its body begin, a comment body
  that ends at its first unnested `-/`. `/--/` is not a closed comment; in `/-- -- /-⏎ -/ x -/` the doc
  ends at the first `-/` and `x` is code.
- `'` starts a char literal only when the next character is not `'`; identifiers swallow their primes
  (`h'`). `"…"` ends at the first unescaped quote; `r"…"`, `r#"…"#` are raw (no escapes); `«…»` is a name
  part, line breaks included. Whitespace is space, tab, CR and LF only.

What is refused (`Lexed.refused`): a lone carriage return (today's Lean rejects it between tokens and
reads it as text inside `--`, older ones as a line end); a `--`, `/-` or char literal glued right after a
symbol (`a<--b` is `a <- -b` in Lean, since `<-` is a token; `⁻¹'x'`, `'''"'`: which characters a symbol
token swallows is the token table's choice); a `/-!` comment whose end depends on whether it is a token
(it is today, it was not in 2021).

The `{code}` parts of string literals, which Lean elaborates when the literal is interpolated (`s!"…"`,
`throwError "…"`), come out as tokens too (`Lexed.nested`). `mask` derives from the tokens a copy of the
text, same offsets, with comments and literals blanked, for bracket matching in statement surgery.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

OPEN_TO_CLOSE = {"(": ")", "[": "]", "{": "}", "⦃": "⦄", "⟨": "⟩", "«": "»"}
CLOSERS = set(OPEN_TO_CLOSE.values())

# Lean's isIdFirst / isIdRest: ASCII letters, `_`, and its "letter-like" ranges (Greek but λ Π Σ,
# Coptic, Greek extended, the letter-like block with ℕ ℝ ℤ, mathematical alphanumerics).
_LETTER_LIKE = (
    "\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9\u03ca-\u03fb"
    "\u1f00-\u1ffe\u2100-\u214f\U0001d49c-\U0001d59f"
)
_ID_FIRST = f"A-Za-z_{_LETTER_LIKE}"
_ID_REST = f"{_ID_FIRST}0-9'!?\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a"
_PART = rf"(?:«[^»]*»|[{_ID_FIRST}][{_ID_REST}]*)"
NAME_RE = re.compile(rf"{_PART}(?:\.{_PART})*")  # a possibly dotted identifier, as Lean reads one
_CHAR = r"""'(?:\\(?:[\\"'rnt]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})|[^\\'])'"""
_MASTER = re.compile(
    rf"""[ \t\r\n]*(?:(?P<line>--[^\n]*)
    |(?P<block>/-)
    |(?P<raw>r\#*")
    |(?P<string>")
    |(?P<char>{_CHAR})
    |(?P<quotes>'')
    |(?P<name>{_PART}(?:\.{_PART})*)
    |(?P<number>0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    |(?P<symbol>[^ \t\r\n]))""",
    re.X | re.S,
)
_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_COMMENT_EDGE = re.compile(r"/-|-/")
_SPACE = re.compile(r"[ \t\r\n]*")
_GLUED = re.compile(rf"--|/-|{_CHAR}", re.S)  # what a symbol token may swallow the start of
# One-character symbols that begin no longer token of Lean's or Mathlib's: what follows them is read alike
# whatever the token table holds.
_ALONE = frozenset("()[]{}⟨⟩,")
LONE_CR = re.compile(r"\r(?!\n)")


class Kind(enum.Enum):
    NAME = "name"
    NUMBER = "number"
    STRING = "string"
    CHAR = "char"
    SYMBOL = "symbol"
    COMMENT = "comment"


class Token(NamedTuple):
    """One token; a tuple rather than a frozen dataclass: the lexer makes one per word of every proof checked."""

    kind: Kind
    start: int
    end: int
    text: str

    @property
    def parts(self) -> tuple[str, ...]:
        """A name's components without guillemets: `Lean.«ofReduceBool»` → ("Lean", "ofReduceBool")."""
        if "«" not in self.text:
            return tuple(self.text.split("."))
        return tuple(p[1:-1] if p.startswith("«") else p for p in _COMPONENT.findall(self.text))

    @property
    def name(self) -> str:
        """The name Lean resolves: `«debug».skipKernelTC` and `debug.«skipKernelTC»` are `debug.skipKernelTC`."""
        return ".".join(self.parts)


_COMPONENT = re.compile(r"«[^»]*»|[^.«]+")


@dataclass(slots=True, frozen=True)
class Lexed:
    text: str
    tokens: tuple[Token, ...]  # comments included, whitespace not; the code inside strings is in `nested`
    unterminated: str | None  # "comment", "string" or "name" when the text ends inside one
    unterminated_at: int = -1
    nested: tuple[Token, ...] = ()  # tokens of the `{code}` parts of string literals, which Lean may elaborate
    ambiguous_at: int = -1  # a string literal whose end depends on whether Lean reads it as interpolated
    refused: str | None = None  # a spelling Lean's reading of which we cannot know (see the module's doc)
    refused_at: int = -1


def _body_end(text: str, j: int, legacy: bool = False) -> int:
    """Lean's `finishCommentBlock 1` from j: the end of the comment body, or -1 when it never closes.
    legacy: as Lean of 2021 read it, where a `-` not followed by `/` skipped the next character too (so
    `--/` closed nothing); today `-` and `/` advance by one, which a search for `/-` and `-/` matches."""
    depth = 1
    if not legacy:
        while depth:
            edge = _COMMENT_EDGE.search(text, j)
            if edge is None:
                return -1
            depth += 1 if edge.group(0) == "/-" else -1
            j = edge.end()
        return j
    n = len(text)
    while j < n:
        ch, nxt = text[j], text[j + 1 : j + 2]
        if ch == "-":
            j += 2
            if nxt == "/":
                depth -= 1
                if depth == 0:
                    return j
        elif ch == "/" and nxt == "-":
            depth, j = depth + 1, j + 2
        else:
            j += 1
    return -1


def _whitespace(text: str, j: int, legacy: bool) -> int:
    """Lean's `whitespace` from j: where the next token starts (-1 inside a comment that never closes)."""
    n = len(text)
    while True:
        j = _SPACE.match(text, j).end()
        if text.startswith("--", j):
            line_end = text.find("\n", j)
            j = n if line_end < 0 else line_end
        elif text.startswith("/-", j):
            after = text[j + 2 : j + 3]
            if after == "-" or (after == "!" and not legacy):
                return j  # a doc comment: a token
            j = _body_end(text, j + 3, legacy)
            if j < 0:
                return -1
        else:
            return j


def _comment_end(text: str, start: int, legacy: bool = False) -> int:
    """End of the comment opening at `start` (`/-`), or -1 when it never closes. legacy: as Lean of 2021
    read it (`/-!` an ordinary comment; bodies as `_body_end` says)."""
    after = text[start + 2 : start + 3]
    if after == "-" or (after == "!" and not legacy):  # the token, whitespace, then the body
        j = _whitespace(text, start + 3, legacy)
        return -1 if j < 0 else _body_end(text, j, legacy)
    return _body_end(text, start + 3, legacy)  # Lean skips the character after `/-`


def _raw_end(text: str, start: int, hashes: int) -> int:
    close = text.find('"' + "#" * hashes, start)
    return -1 if close < 0 else close + 1 + hashes


class _Refused(Exception):
    def __init__(self, why: str, at: int):
        self.why, self.at = why, at


class _Unterminated(Exception):
    def __init__(self, what: str, at: int):
        self.what, self.at = what, at


class _Scanner:
    """Lean's tokens from `text`. String literals are read twice: as plain strings (they end at the first
    unescaped quote) and as interpolated ones (`s!"…{code}…"`, `throwError "…{code}…"`: a `{` opens code
    that runs to its matching `}`, quotes inside included). Which reading Lean takes depends on the
    syntax around the literal, so the code parts are always scanned, and a literal whose two readings
    end in different places is reported as ambiguous."""

    def __init__(self, text: str):
        self.text = text
        self.tokens: list[Token] = []
        self.nested: list[Token] = []
        self.ambiguous_at = -1

    def run(self, i: int, out: list[Token], until_brace: bool) -> int:
        """Tokens from i into `out`; with until_brace, stop after the `}` that closes an interpolation."""
        text, n, depth = self.text, len(self.text), 0
        while i < n:
            m = _MASTER.match(text, i)  # whitespace, then one token
            if m is None:  # only whitespace was left
                break
            kind = m.lastgroup
            i, end = m.start(kind), m.end()
            if kind == "block":
                end = self.comment_end(i)
            elif kind == "raw":
                end = _raw_end(text, end, end - i - 2)
                if end < 0:
                    raise _Unterminated("string", i)
            elif kind == "string":
                end = self.string_end(i)
            elif kind == "symbol":
                if text[i] == "«":
                    raise _Unterminated("name", i)
                if text[i] not in _ALONE and (glued := _GLUED.match(text, end)):
                    what = "a char literal" if glued.group(0)[0] == "'" else repr(glued.group(0))
                    raise _Refused(f"{what} glued to the symbol {text[i]!r} (the imports' tokens decide where "
                                   f"Lean splits them; put a space between)", i)
                if until_brace:
                    if text[i] == "{":
                        depth += 1
                    elif text[i] == "}":
                        if depth == 0:
                            return end
                        depth -= 1
            elif kind == "quotes" and (glued := _GLUED.match(text, end)):
                raise _Refused("a quote after '' (whether Lean reads a char literal there depends on the "
                               "imports' tokens)", i)
            out.append(Token(_KINDS[kind], i, end, text[i:end]))
            i = end
        if until_brace:
            raise _Unterminated("string", i)
        return i

    def comment_end(self, start: int) -> int:
        end = _comment_end(self.text, start)
        if end < 0:
            raise _Unterminated("comment", start)
        region = self.text[start:end]
        # the two readings part only at a `/-!` (a token today) or a `--` (whose second `-` 2021 skipped)
        if ("--" in region or "/-!" in region) and _comment_end(self.text, start, legacy=True) != end:
            raise _Refused("a comment that Lean versions end in different places (at a `--` or `/-!` inside "
                           "it)", start)
        return end

    def string_end(self, start: int) -> int:
        text = self.text
        plain = _STRING_BODY.match(text, start + 1)
        nested = len(self.nested)
        try:
            end = self._interpolated_end(start)
        except _Unterminated:
            if plain is None:
                raise
            # Read as interpolated, the literal never ends: Lean, if it read it so, would stop with a
            # parse error. Read plainly it is text, so no code hides in it.
            del self.nested[nested:]
            return plain.end()
        if plain is None or plain.end() != end:
            self.ambiguous_at = start if self.ambiguous_at < 0 else self.ambiguous_at
        return end

    def _interpolated_end(self, start: int) -> int:
        text = self.text
        i = start + 1
        while True:
            m = _INTERPOLATED.search(text, i)
            if m is None:
                raise _Unterminated("string", start)
            ch = m.group(0)
            if ch == '"':
                end = m.end()
                break
            if ch.startswith("\\"):
                i = m.end()
                continue
            i = self.run(m.end(), self.nested, until_brace=True)
        return end


_INTERPOLATED = re.compile(r'\\.|[{"]', re.S)


@functools.lru_cache(maxsize=1024)  # Lexed is immutable; one check lexes its header and statement several times
def tokenize(text: str) -> Lexed:
    scanner = _Scanner(text)
    cr = LONE_CR.search(text)
    if cr is not None:
        return Lexed(text, (), None, -1, (), -1, "a carriage return not followed by a line feed (Lean versions "
                     "disagree whether it ends a line)", cr.start())
    try:
        scanner.run(0, scanner.tokens, until_brace=False)
    except _Unterminated as e:
        return Lexed(text, tuple(scanner.tokens), e.what, e.at, tuple(scanner.nested), scanner.ambiguous_at)
    except _Refused as e:
        return Lexed(text, tuple(scanner.tokens), None, -1, tuple(scanner.nested), scanner.ambiguous_at,
                     e.why, e.at)
    return Lexed(text, tuple(scanner.tokens), None, -1, tuple(scanner.nested), scanner.ambiguous_at)


_KINDS = {"line": Kind.COMMENT, "block": Kind.COMMENT, "raw": Kind.STRING, "string": Kind.STRING,
          "char": Kind.CHAR, "name": Kind.NAME, "number": Kind.NUMBER, "symbol": Kind.SYMBOL, "quotes": Kind.SYMBOL}


def code_tokens(lexed: Lexed) -> list[Token]:
    return [t for t in lexed.tokens if t.kind is not Kind.COMMENT]


@dataclass(slots=True, frozen=True)
class Masked:
    text: str  # the original
    code: str  # same length: comments and literals replaced by spaces (newlines kept)
    unterminated: str | None  # "comment", "string" or "name" when the text ends inside one
    unterminated_at: int = -1
    comments: tuple[tuple[int, int], ...] = ()  # spans of the comments
    refused: str | None = None  # as Lexed.refused: the text from refused_at on is blanked
    refused_at: int = -1


def _blank(segment: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in segment)


@functools.lru_cache(maxsize=8192)  # Masked is immutable; statements and headers are masked again and again
def mask(text: str) -> Masked:
    lexed = tokenize(text)
    out: list[str] = []
    at = 0
    for t in lexed.tokens:
        out.append(text[at : t.start])
        if t.kind in (Kind.COMMENT, Kind.STRING, Kind.CHAR):
            out.append(_blank(t.text))
        elif t.kind is Kind.NAME and "«" in t.text:  # a «name» may hold brackets that are not brackets
            out.append(re.sub(r"«([^»]*)»", lambda g: "«" + "x" * len(g.group(1)) + "»", t.text))
        else:
            out.append(t.text)
        at = t.end
    if lexed.unterminated or lexed.refused:
        out.append(_blank(text[at:]))
    else:
        out.append(text[at:])
    comments = tuple((t.start, t.end) for t in lexed.tokens if t.kind is Kind.COMMENT)
    return Masked(text, "".join(out), lexed.unterminated, lexed.unterminated_at, comments, lexed.refused,
                  lexed.refused_at)


def without_comments(text: str, comments: tuple[tuple[int, int], ...], start: int, end: int) -> str:
    """text[start:end] with the comments inside it removed (a block comment leaves one space), stripped."""
    out, at = [], start
    for s, e in comments:
        if e <= start or s >= end:
            continue
        out.append(text[at:s].rstrip(" \t") if text.startswith("--", s) else text[at:s])
        out.append("" if text.startswith("--", s) else " ")
        at = e
    out.append(text[at:end])
    return "".join(out).strip()


def matching(code: str, start: int) -> int:
    """Index of the bracket closing the one at `start` in masked code, or -1 when unbalanced."""
    stack = [OPEN_TO_CLOSE[code[start]]]
    for i in range(start + 1, len(code)):
        ch = code[i]
        if ch in OPEN_TO_CLOSE:
            stack.append(OPEN_TO_CLOSE[ch])
        elif ch in CLOSERS:
            if ch != stack[-1]:
                return -1
            stack.pop()
            if not stack:
                return i
    return -1


def top_level(code: str, start: int = 0, end: int | None = None):
    """Yield (index, char) of the characters of code[start:end] at bracket depth 0."""
    depth = 0
    end = len(code) if end is None else end
    for i in range(start, end):
        ch = code[i]
        if ch in OPEN_TO_CLOSE:
            depth += 1
        elif ch in CLOSERS:
            depth = max(0, depth - 1)
        elif depth == 0:
            yield i, ch


def find_top_level(code: str, token: str, start: int = 0, end: int | None = None, not_followed_by: str = "") -> int:
    """First top-level occurrence of `token` in code[start:end], or -1."""
    end = len(code) if end is None else end
    for i, _ch in top_level(code, start, end):
        if code.startswith(token, i) and not (not_followed_by and code.startswith(token + not_followed_by, i)):
            return i
    return -1
