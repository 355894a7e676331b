"""A Lean-aware mask: comments and string/char literals blanked, so that scans and bracket matching see
code only, at the same offsets as the original text."""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENT_CHAR = re.compile(r"[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ\u2070-\u209f.]", re.UNICODE)
OPEN_TO_CLOSE = {"(": ")", "[": "]", "{": "}", "⦃": "⦄", "⟨": "⟩", "«": "»"}
CLOSERS = set(OPEN_TO_CLOSE.values())


@dataclass(slots=True, frozen=True)
class Masked:
    text: str  # the original
    code: str  # same length: comments and literals replaced by spaces (newlines kept)
    unterminated: str | None  # "comment" or "string" when the text ends inside one


def _blank(segment: str) -> str:
    return "".join("\n" if ch == "\n" else " " for ch in segment)


_SPECIAL = re.compile(r"--|/-|\"|'|«")
_CHAR_LITERAL = re.compile(r"'(\\.[^']*|[^\\'\n])'")


def mask(text: str) -> Masked:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        found = _SPECIAL.search(text, i)
        if found is None:
            out.append(text[i:])
            break
        out.append(text[i : found.start()])
        i, tok = found.start(), found.group(0)
        if tok == "--":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif tok == "/-":
            j, depth = i + 2, 1
            while depth:
                close = text.find("-/", j)
                if close < 0:
                    out.append(_blank(text[i:]))
                    return Masked(text, "".join(out), "comment")
                opening = text.find("/-", j, close)
                if opening >= 0:
                    depth, j = depth + 1, opening + 2
                else:
                    depth, j = depth - 1, close + 2
            out.append(_blank(text[i:j]))
            i = j
        elif tok == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                out.append(_blank(text[i:]))
                return Masked(text, "".join(out), "string")
            out.append(" " + _blank(text[i + 1 : j]) + " ")
            i = j + 1
        elif tok == "'":
            m = None if i > 0 and IDENT_CHAR.match(text[i - 1]) else _CHAR_LITERAL.match(text, i)
            if m:
                out.append(" " * (m.end() - i))
                i = m.end()
            else:
                out.append(tok)
                i += 1
        else:  # «name»: its content may hold brackets that are not brackets
            j = text.find("»", i)
            j = n - 1 if j < 0 else j
            out.append("«" + "x" * (j - i - 1) + "»")
            i = j + 1
    return Masked(text, "".join(out), None)


def matching(code: str, start: int) -> int:
    """Index of the bracket closing the one at `start` in masked code, or -1 when unbalanced."""
    stack = [OPEN_TO_CLOSE[code[start]]]
    i = start + 1
    while i < len(code):
        ch = code[i]
        if ch in OPEN_TO_CLOSE:
            stack.append(OPEN_TO_CLOSE[ch])
        elif ch in CLOSERS:
            if ch != stack[-1]:
                return -1
            stack.pop()
            if not stack:
                return i
        i += 1
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
