"""Statement surgery: a theorem declaration taken apart into name, binders and conclusion; its negation
in two forms; the False-from-hypotheses goal; and the normal form that content hashes are taken of."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from flywheel.errors import UnparsableStatement
from flywheel.hashing import sha256_text
from flywheel.lean.lexer import OPEN_TO_CLOSE, find_top_level, mask, matching

KEYWORDS = ("theorem", "lemma", "example")
_DECL = re.compile(r"(?<![\w.'])(theorem|lemma|example)(?![\w'])")
# ProofNet states constructions as (noncomputable) defs; they parse too, but extraction wants theorems.
_ANY_DECL = re.compile(r"(?<![\w.'])((?:noncomputable\s+)?def|theorem|lemma|example)(?![\w'])")
_NAME = re.compile(r"(?:«[^»]*»|[^\s(\[{⦃:«]+)(?:\.(?:«[^»]*»|[^\s(\[{⦃:.«]+))*")
# Commands that end a declaration when they start a line.
_COMMAND = re.compile(
    r"(?m)^(?:@\[|theorem\b|lemma\b|example\b|def\b|abbrev\b|instance\b|axiom\b|structure\b|class\b|inductive\b"
    r"|noncomputable\b|private\b|protected\b|open\b|namespace\b|section\b|end\b|variable\b|universe\b"
    r"|set_option\b|attribute\b|macro\b|syntax\b|elab\b|notation\b|infix\b|infixl\b|infixr\b|prefix\b|postfix\b"
    r"|macro_rules\b|elab_rules\b|import\b|#\w+)"
)
_TOKEN = re.compile(r"«[^»]*»|[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ\u2070-\u209f]+(?:\.[\w'!?₀-₉ₐ-ₜᵢ-ᵪⱼ\u2070-\u209f]+)*|\S", re.UNICODE)


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
    keyword: str
    name: str | None
    binders: tuple[Binder, ...]
    conclusion: str
    proof: str | None = None  # everything after the top-level `:=`
    prefix: str = ""  # doc comment and attributes before the keyword


def _fail(what: str, text: str, at: int) -> UnparsableStatement:
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return UnparsableStatement(f"{what} (line {line}, column {col})")


def _parse_binder(text: str, code: str, open_at: int, close_at: int) -> Binder:
    bracket = text[open_at]
    inner_start, inner_end = open_at + 1, close_at
    if bracket == "{" and text.startswith("{{", open_at) and text[close_at - 1] == "}":
        bracket, inner_start, inner_end = "{{", open_at + 2, close_at - 1
    default = None
    d = find_top_level(code, ":=", inner_start, inner_end)
    if d >= 0:
        default, inner_end = text[d + 2 : inner_end].strip(), d
    c = find_top_level(code, ":", inner_start, inner_end, not_followed_by="=")
    if c < 0:
        body = text[inner_start:inner_end].strip()
        if bracket == "[":
            return Binder(bracket, (), body, default)
        return Binder(bracket, tuple(body.split()), None, default)
    names = tuple(text[inner_start:c].split())
    return Binder(bracket, names, text[c + 1 : inner_end].strip(), default)


def parse_theorem(text: str) -> Theorem:
    """Exactly one `theorem`/`lemma`/`example` declaration; UnparsableStatement says what and where."""
    m = mask(text)
    if m.unterminated:
        raise UnparsableStatement(f"unterminated {m.unterminated}")
    code = m.code
    found = list(_ANY_DECL.finditer(code))
    if not found:
        raise UnparsableStatement("no theorem, lemma, example or def keyword")
    kw = found[0]
    keyword, i = " ".join(kw.group(1).split()), kw.end()
    name = None
    if keyword != "example":
        nm = _NAME.match(code, len(code) - len(code[i:].lstrip()))
        if not nm or nm.group(0) in (":",):
            raise _fail("expected a name after " + keyword, text, i)
        name, i = text[nm.start() : nm.end()], nm.end()
    binders = []
    while True:
        while i < len(code) and code[i].isspace():
            i += 1
        if i < len(code) and code[i] in "([{⦃":
            close = matching(code, i)
            if close < 0:
                raise _fail("unbalanced bracket", text, i)
            binders.append(_parse_binder(text, code, i, close))
            i = close + 1
            continue
        break
    if i >= len(code) or code[i] != ":" or code.startswith(":=", i):
        raise _fail("expected ':' and the conclusion after the binders", text, i)
    assign = find_top_level(code, ":=", i + 1)
    if find_top_level(code, ")", i + 1) >= 0 or find_top_level(code, "]", i + 1) >= 0:
        raise _fail("unbalanced bracket", text, i)
    conclusion = text[i + 1 : assign if assign >= 0 else len(text)].strip()
    if not conclusion:
        raise _fail("empty conclusion", text, i)
    proof = text[assign + 2 :].lstrip(" ") if assign >= 0 else None
    for later in found[1:]:
        if not code[code.rfind("\n", 0, later.start()) + 1 : later.start()].strip():
            raise _fail("a second declaration", text, later.start())
    return Theorem(keyword, name, tuple(binders), conclusion, proof, text[: kw.start()].strip())


def find_declarations(text: str) -> list[tuple[int, int]]:
    """Spans of the top-level theorem/lemma/example declarations, each up to the next command."""
    code = mask(text).code
    starts = [mt.start() for mt in _DECL.finditer(code) if mt.start() == 0 or code[: mt.start()].rstrip(" \t").endswith("\n") or _only_modifiers_before(code, mt.start())]
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
    """`theorem NAME binders : concl := proof` (no prefix); proof "sorry" gives `:= by sorry`."""
    head = thm.keyword if thm.name is None else f"{thm.keyword} {thm.name}"
    parts = [head] + [b.render() for b in thm.binders]
    decl = " ".join(parts) + f" :\n    {thm.conclusion} :="
    if proof is None or proof == "":
        return decl
    return f"{decl} {'by sorry' if proof == 'sorry' else proof}"


def with_name(thm: Theorem, name: str) -> Theorem:
    """The same statement as a `theorem` with our name (an `example` gets one too), without the prefix."""
    return replace(thm, keyword="theorem", name=name, prefix="")


def negate(thm: Theorem, form: str = "hyps") -> Theorem:
    """`hyps`: same binders, `¬ (concl)` (DeepSeek-Prover V1). `forall`: no binders, `¬ ∀ binders, concl`."""
    thm = replace(thm, keyword="theorem" if thm.keyword != "example" else "example", proof=None)
    if form == "hyps":
        return replace(thm, conclusion=f"¬ ({thm.conclusion})")
    if form == "forall":
        if not thm.binders:
            return replace(thm, conclusion=f"¬ ({thm.conclusion})")
        quantified = " ".join(_forall_binder(b) for b in thm.binders)
        return replace(thm, binders=(), conclusion=f"¬ (∀ {quantified}, {thm.conclusion})")
    raise ValueError(f"negation form must be 'hyps' or 'forall', got {form!r}")


def _forall_binder(b: Binder) -> str:
    if b.bracket == "(" and b.type is None:
        return " ".join(b.names)
    return b.render(with_default=False)


def false_goal(thm: Theorem) -> Theorem:
    """The hypotheses alone proving `False`: a statement whose hypotheses are inconsistent."""
    keyword = "theorem" if thm.keyword != "example" else "example"
    return replace(thm, keyword=keyword, conclusion="False", proof=None)


def normalize_statement(text: str) -> str:
    """Comments, the keyword's kind, the theorem's name and the proof gone; tokens single-spaced."""
    try:
        thm = parse_theorem(text)
    except UnparsableStatement:
        code = mask(text).code
        return " ".join(_TOKEN.findall(code))
    code = mask(render(replace(thm, keyword="theorem", name="_"), None).removesuffix(":=")).code
    return " ".join(_TOKEN.findall(code))


def statement_sha256(text: str, header: str = "") -> str:
    return sha256_text(" ".join(mask(header).code.split()), normalize_statement(text))
