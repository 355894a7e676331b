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
from flywheel.lean.text.lexer import CLOSERS, NAME_RE, OPEN_TO_CLOSE, Kind, find_top_level, mask, matching, tokenize, without_comments

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


def _modifiers_end(code: str, i: int, end: int) -> int:
    """Where the attributes and modifiers that start at i stop (end when they fill code[i:end])."""
    i = _skip_space(code, i)
    while i < end:
        if code.startswith("@[", i):
            close = matching(code, i + 1)
            if close < 0 or close >= end:
                return i
            i = close + 1
        elif m := _MODIFIER.match(code, i):
            i = m.end()
        else:
            return i
        i = _skip_space(code, i)
    return end


def _check_prefix(text: str, code: str, end: int) -> None:
    """Before the keyword only attributes and modifiers may stand: a dropped `open X in` would
    silently change what the statement means (commands belong in the preamble)."""
    i = _modifiers_end(code, 0, end)
    if i < end:
        what = "unbalanced attribute" if code.startswith("@[", i) else "unexpected text"
        raise _fail(f"{what} before the declaration", text, i)


def _parse_binder(text: str, code: str, comments, open_at: int, close_at: int) -> Binder:
    bracket = text[open_at]
    inner_start, inner_end = open_at + 1, close_at
    if bracket == "{" and code.startswith("{{", open_at) and code[close_at - 1] == "}":
        bracket, inner_start, inner_end = "{{", open_at + 2, close_at - 1
    default = None
    # `(h : let m := 3; m = 3)`: the let's own `:=` is no default value
    d = signature_end(text, code, inner_start, inner_end)
    if d < inner_end:
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


def _bare_names(code: str, i: int) -> tuple[tuple[str, ...], int] | None:
    """The run of bare identifiers starting at i and where it ends, or None when none starts there."""
    names = []
    while (nm := NAME_RE.match(code, i)) and _is_name(nm.group(0)):
        names.append(nm.group(0))
        i = _skip_space(code, nm.end())
    return (tuple(names), i) if names else None


def _is_name(word: str) -> bool:
    return word == "_" or NAME_RE.fullmatch(word) is not None


def signature_end(text: str, code: str, start: int, end: int | None = None) -> int:
    """Index of the `:=` that ends the signature in code[start:end] (end when there is none); brackets
    must balance on the way and a `let`/`have` in the conclusion keeps its own `:=`."""
    end = len(code) if end is None else end
    stack: list[tuple[str, int]] = []
    pending = 0
    i = start
    while i < end:
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
    return end


@functools.lru_cache(maxsize=8192)  # Theorem is immutable; a statement is parsed for each side and stage
def parse_theorem(text: str) -> Theorem:
    """Exactly one `theorem`/`lemma`/`example` (or `def`) declaration; UnparsableStatement says what
    and where."""
    m = mask(text)
    if m.unterminated:
        raise _fail(f"unterminated {m.unterminated}", text, m.unterminated_at)
    if m.refused:
        raise _fail(m.refused, text, m.refused_at)
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
    while (i := _skip_space(code, i)) < len(code) and (code[i] in "([{⦃" or NAME_RE.match(code, i)):
        if bare := _bare_names(code, i):  # `theorem t x y : ...` binds x and y as `(x y)` does
            names, i = bare
            binders.append(Binder("(", names, None))
            continue
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
    return [(s, command_end(text, s + 1)) for s in _declaration_starts(mask(text).code)]


def _declaration_starts(code: str) -> list[int]:
    return [d.start() for d in _DECL.finditer(code) if _only_modifiers_before(code, d.start())]


def command_end(text: str, start: int = 0) -> int:
    """Where the text from `start` runs into a command that starts a line (at or after `start`), the
    spaces and doc comments before it left out: a proof is the body up to the next declaration."""
    m = mask(text)
    nxt = _COMMAND.search(m.code, start)
    return _code_end(m, nxt.start() if nxt else len(text))


def _code_end(m, end: int) -> int:
    """end moved back over the spaces and doc comments before it: a doc comment left at the end of a
    span would document nothing, which Lean refuses. Other comments stay as they were written."""
    end = len(m.text[:end].rstrip())
    while comment := next((c for c in m.comments if c[1] == end and m.text.startswith(("/--", "/-!"), c[0])), None):
        end = len(m.text[: comment[0]].rstrip())
    return end


def split_preamble(text: str) -> tuple[str, str]:
    """(preamble, declaration): the commands before the last top-level theorem/lemma/example, and the
    declaration from its doc comment and modifiers on. ("", text) when nothing stands before it. Which
    commands a preamble may hold is the guard's to say (soundness.scan_preamble)."""
    m = mask(text)
    code = m.code
    decls = _declaration_starts(code)
    if not decls:
        return "", text
    kw = decls[-1]
    # the declaration's command starts at the first line from which only attributes and modifiers lead to it
    lines = (_skip_space(code, ls.start()) for ls in re.finditer(r"(?m)^", code[:kw]))
    at = next(s for s in lines if s <= kw and _modifiers_end(code, s, kw) == kw)
    cut = _code_end(m, at)
    if cut == 0:
        return "", text
    first = _COMMAND.search(code, 0, cut)
    if first is None or code[: first.start()].strip():
        raise _fail("unexpected text before the declaration", text, _skip_space(code, 0))
    return text[:cut].strip(), text[cut:].lstrip()


def with_preamble(preamble: str, declaration: str) -> str:
    """The declaration as a source writes it: its preamble's commands first, then a blank line."""
    return f"{preamble.strip()}\n\n{declaration}" if preamble.strip() else declaration


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


def false_goal(thm: Theorem, variables: tuple[str, ...] = ()) -> Theorem:
    """The hypotheses alone proving `False`: provable exactly when the hypotheses are inconsistent. variables:
    the binders of the preamble's `variable`s, hypotheses of the theorem too, bound first as Lean binds them."""
    extra = parse_theorem(f"theorem v {' '.join(variables)} : False").binders if variables else ()
    return replace(thm, keyword=_goal_keyword(thm), binders=extra + thm.binders, conclusion="False", proof=None,
                   prefix="")


def _token_text(text: str) -> str:
    lexed = tokenize(text)
    words = [t.text for t in lexed.tokens if t.kind is not Kind.COMMENT]
    if lexed.unterminated or lexed.refused:
        words += text[lexed.tokens[-1].end if lexed.tokens else 0 :].split()
    return " ".join(words)


def normalize_statement(text: str) -> str:
    """Comments, attributes, the keyword's kind, the theorem's name and the proof gone; one space
    between Lean tokens (so `a+b` and `a + b` agree, while string literals stay whole). A preamble
    stays, in front: the same theorem over other definitions is another statement."""
    try:
        preamble, declaration = split_preamble(text)
        thm = parse_theorem(declaration)
    except UnparsableStatement:
        return _token_text(text)
    norm = _token_text(render(replace(thm, keyword="theorem", name="_"), None).removesuffix(":="))
    return f"{_token_text(preamble)} {norm}" if preamble else norm


def statement_sha256(text: str, header: str = "") -> str:
    """Of the header and the statement's normal form; text may start with the statement's preamble."""
    return sha256_text(_token_text(header), normalize_statement(text))
