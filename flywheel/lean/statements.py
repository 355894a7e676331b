"""Statement surgery: a theorem declaration taken apart into name, binders and conclusion; its negation
in two forms; the False-from-hypotheses goal; and the normal form that content hashes are taken of.

Parsing works on the masked text (comments and literals blanked, same offsets), so a `:` inside a
comment, a string or a bracket never splits binders from the conclusion. The pieces kept in a
`Theorem` are the user's own text with comments removed, so that rendering them never lets a `--`
swallow the `:=` that follows.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from flywheel.errors import UnparsableStatement
from flywheel.hashing import sha256_text
from flywheel.lean.lexer import CLOSERS, NAME_RE, OPEN_TO_CLOSE, Kind, find_top_level, mask, matching, tokenize, without_comments

KEYWORDS = ("theorem", "lemma", "example")
_DECL = re.compile(r"(?<![\w.'])(theorem|lemma|example)(?![\w'!?])")
# ProofNet states constructions as (noncomputable) defs; they parse too, but extraction wants theorems.
_ANY_DECL = re.compile(r"(?<![\w.'])((?:noncomputable\s+)?def|theorem|lemma|example)(?![\w'!?])")
_MODIFIER = re.compile(r"(private|protected|noncomputable|nonrec)(?![\w'!?])")
# Terms inside a conclusion that take their own `:=` (`let m := 3; m = 3`).
_BINDS = re.compile(r"(?<![\w.'])(let|have|letI|haveI)(?![\w'!?])")
# Commands that end a declaration when they start a line.
_COMMAND = re.compile(
    r"(?m)^(?:@\[|theorem\b|lemma\b|example\b|def\b|abbrev\b|instance\b|axiom\b|structure\b|class\b|inductive\b"
    r"|noncomputable\b|private\b|protected\b|open\b|namespace\b|section\b|end\b|variable\b|universe\b"
    r"|set_option\b|attribute\b|macro\b|syntax\b|elab\b|notation\b|infix\b|infixl\b|infixr\b|prefix\b|postfix\b"
    r"|macro_rules\b|elab_rules\b|import\b|#\w+)"
)


@dataclass(slots=True, frozen=True)
class Binder:
    bracket: str  # "(", "{", "[", "⦃" or "{{"
    names: tuple[str, ...]
    type: str | None
    default: str | None = None

    def closing(self) -> str:
        return "}}" if self.bracket == "{{" else OPEN_TO_CLOSE[self.bracket]

    def render(self, with_default: bool = True) -> str:
        inner = " ".join(self.names)
        if self.type is not None:
            inner = f"{inner} : {self.type}" if inner else self.type
        if with_default and self.default is not None:
            inner = f"{inner} := {self.default}"
        return f"{self.bracket}{inner}{self.closing()}"


@dataclass(slots=True, frozen=True)
class Theorem:
    keyword: str  # "theorem", "lemma", "example", or "def" / "noncomputable def" (ProofNet)
    name: str | None
    binders: tuple[Binder, ...]
    conclusion: str
    proof: str | None = None  # everything after the top-level `:=`, leading spaces dropped
    prefix: str = ""  # doc comment, attributes and modifiers before the keyword


def _fail(what: str, text: str, at: int) -> UnparsableStatement:
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return UnparsableStatement(f"{what} (line {line}, column {col})")


def _skip_space(code: str, i: int) -> int:
    while i < len(code) and code[i].isspace():
        i += 1
    return i


def _check_prefix(text: str, code: str, end: int) -> None:
    """Before the keyword only attributes and modifiers may stand: a dropped `open X in` would
    silently change what the statement means."""
    i = _skip_space(code, 0)
    while i < end:
        if code.startswith("@[", i):
            close = matching(code, i + 1)
            if close < 0 or close >= end:
                raise _fail("unbalanced attribute before the declaration", text, i)
            i = close + 1
        elif m := _MODIFIER.match(code, i):
            i = m.end()
        else:
            raise _fail("unexpected text before the declaration", text, i)
        i = _skip_space(code, i)


def _parse_binder(text: str, code: str, comments, open_at: int, close_at: int) -> Binder:
    bracket = text[open_at]
    inner_start, inner_end = open_at + 1, close_at
    if bracket == "{" and code.startswith("{{", open_at) and code[close_at - 1] == "}":
        bracket, inner_start, inner_end = "{{", open_at + 2, close_at - 1
    default = None
    d = find_top_level(code, ":=", inner_start, inner_end)
    if d >= 0:
        default, inner_end = without_comments(text, comments, d + 2, inner_end), d
    c = find_top_level(code, ":", inner_start, inner_end, not_followed_by="=")
    if c < 0:
        body = without_comments(text, comments, inner_start, inner_end)
        if bracket == "[":
            return Binder(bracket, (), body, default)
        names, kind = tuple(body.split()), None
    else:
        names, kind = tuple(without_comments(text, comments, inner_start, c).split()), without_comments(text, comments, c + 1, inner_end)
        if not kind:
            raise _fail("binder without a type after ':'", text, c)
    if (not names and bracket != "[") or len(names) > 1 and bracket == "[" or not all(_is_name(n) for n in names):
        raise _fail("binder must be names, ':' and a type", text, open_at)
    return Binder(bracket, names, kind, default)


def _is_name(word: str) -> bool:
    return word == "_" or NAME_RE.fullmatch(word) is not None


def signature_end(text: str, code: str, start: int) -> int:
    """Index of the `:=` that ends the signature (len(code) when there is none); brackets must balance
    on the way and a `let`/`have` in the conclusion keeps its own `:=`."""
    stack: list[tuple[str, int]] = []
    pending = 0
    i = start
    while i < len(code):
        ch = code[i]
        if ch in OPEN_TO_CLOSE:
            stack.append((OPEN_TO_CLOSE[ch], i))
        elif ch in CLOSERS:
            if not stack or stack[-1][0] != ch:
                raise _fail(f"unbalanced bracket '{ch}'", text, i)
            stack.pop()
        elif not stack:
            if code.startswith(":=", i):
                if not pending:
                    return i
                pending -= 1
            elif ch in "lh" and (binds := _BINDS.match(code, i)):
                pending += 1
                i = binds.end()
                continue
        i += 1
    if stack:
        raise _fail(f"unbalanced bracket '{code[stack[-1][1]]}' never closed", text, stack[-1][1])
    return len(code)


@functools.lru_cache(maxsize=8192)  # Theorem is immutable; a statement is parsed for each side and stage
def parse_theorem(text: str) -> Theorem:
    """Exactly one `theorem`/`lemma`/`example` (or `def`) declaration; UnparsableStatement says what
    and where."""
    m = mask(text)
    if m.unterminated:
        raise _fail(f"unterminated {m.unterminated}", text, m.unterminated_at)
    code = m.code
    kw = _ANY_DECL.search(code)
    if kw is None:
        raise UnparsableStatement("no theorem, lemma, example or def keyword")
    _check_prefix(text, code, kw.start())
    keyword, i = " ".join(kw.group(1).split()), kw.end()
    name = None
    if keyword != "example":
        i = _skip_space(code, i)
        nm = NAME_RE.match(code, i)
        if not nm or i == kw.end():
            raise _fail("expected a name after " + keyword, text, i)
        name, i = text[nm.start() : nm.end()], nm.end()
    binders = []
    while (i := _skip_space(code, i)) < len(code) and code[i] in "([{⦃":
        close = matching(code, i)
        if close < 0:
            raise _fail(f"unbalanced bracket '{code[i]}'", text, i)
        binders.append(_parse_binder(text, code, m.comments, i, close))
        i = close + 1
    if i >= len(code) or code[i] != ":" or code.startswith(":=", i):
        raise _fail("expected ':' and the conclusion after the binders", text, i)
    assign = signature_end(text, code, i + 1)
    conclusion = without_comments(text, m.comments, i + 1, assign)
    if not conclusion:
        raise _fail("empty conclusion", text, i)
    second = _ANY_DECL.search(code, kw.end())
    if second:
        raise _fail("a second declaration", text, second.start())
    proof = text[assign + 2 :].lstrip(" ") if assign < len(code) else None
    return Theorem(keyword, name, tuple(binders), conclusion, proof, text[: kw.start()].strip())


def find_declarations(text: str) -> list[tuple[int, int]]:
    """Spans of the top-level theorem/lemma/example declarations, each from its keyword up to the next
    command that starts a line (attributes and modifiers before a keyword are not in its span)."""
    code = mask(text).code
    starts = [d.start() for d in _DECL.finditer(code) if _only_modifiers_before(code, d.start())]
    spans = []
    for s in starts:
        nxt = _COMMAND.search(code, s + 1)
        end = nxt.start() if nxt else len(text)
        spans.append((s, len(text[:end].rstrip())))
    return spans


def _only_modifiers_before(code: str, at: int) -> bool:
    line_start = code.rfind("\n", 0, at) + 1
    before = code[line_start:at].strip()
    return bool(re.fullmatch(r"(@\[[^\]]*\]\s*)?((private|protected|noncomputable)\s+)*", before))


def render(thm: Theorem, proof: str | None = "sorry") -> str:
    """`theorem NAME binders :\\n    concl := proof`, without the prefix. The conclusion goes on its own
    line (Mathlib's layout). `lemma` is rendered `theorem`, which means the same without needing Mathlib's
    keyword. proof "sorry" gives the term `:= sorry`, which every Lean 4 parses (some do not take the
    tactic `by sorry`); None or "" ends the text at `:=` for the caller to append a body."""
    keyword = "theorem" if thm.keyword == "lemma" else thm.keyword
    head = keyword if thm.name is None else f"{keyword} {thm.name}"
    decl = " ".join([head] + [b.render() for b in thm.binders]) + f" :\n    {thm.conclusion} :="
    if not proof:
        return decl
    return f"{decl} {proof}"


def with_name(thm: Theorem, name: str) -> Theorem:
    """The same statement as a `theorem` with our name (an `example` gets one too), without the prefix."""
    return replace(thm, keyword="theorem", name=name, prefix="")


def _goal_keyword(thm: Theorem) -> str:
    return "example" if thm.keyword == "example" else "theorem"


def negate(thm: Theorem, form: str = "hyps") -> Theorem:
    """`hyps`: same binders, `¬ (concl)` (DeepSeek-Prover V1). `forall`: no binders, `¬ (∀ binders, concl)`
    with every binder kept in its bracket (so implicit and instance binders stay what they were)."""
    thm = replace(thm, keyword=_goal_keyword(thm), proof=None, prefix="")
    if form == "hyps" or (form == "forall" and not thm.binders):
        return replace(thm, conclusion=f"¬ ({thm.conclusion})")
    if form == "forall":
        quantified = " ".join(_forall_binder(b) for b in thm.binders)
        return replace(thm, binders=(), conclusion=f"¬ (∀ {quantified}, {thm.conclusion})")
    raise ValueError(f"negation form must be 'hyps' or 'forall', got {form!r}")


def _forall_binder(b: Binder) -> str:
    # `∀` takes no default values: `(n : ℕ := 3)` is quantified as `(n : ℕ)`.
    if b.type is None and b.bracket == "(":
        return " ".join(b.names)
    return b.render(with_default=False)


def false_goal(thm: Theorem) -> Theorem:
    """The hypotheses alone proving `False`: provable exactly when the hypotheses are inconsistent."""
    return replace(thm, keyword=_goal_keyword(thm), conclusion="False", proof=None, prefix="")


def _token_text(text: str) -> str:
    lexed = tokenize(text)
    words = [t.text for t in lexed.tokens if t.kind is not Kind.COMMENT]
    if lexed.unterminated:
        words += text[lexed.unterminated_at :].split()
    return " ".join(words)


def normalize_statement(text: str) -> str:
    """Comments, attributes, the keyword's kind, the theorem's name and the proof gone; one space
    between Lean tokens (so `a+b` and `a + b` agree, while string literals stay whole)."""
    try:
        thm = parse_theorem(text)
    except UnparsableStatement:
        return _token_text(text)
    return _token_text(render(replace(thm, keyword="theorem", name="_"), None).removesuffix(":="))


def statement_sha256(text: str, header: str = "") -> str:
    return sha256_text(_token_text(header), normalize_statement(text))
