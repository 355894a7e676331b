"""The soundness guard: what a proof, a statement, its preamble and a header may contain (checked on
Lean's tokens before Lean sees them) and which axioms a proved theorem may rest on (checked after, with
`#print axioms`).

Scans read tokens, never masked text: names are compared as Lean resolves them (`«debug».skipKernelTC`
is `debug.skipKernelTC`), the `{code}` parts of string literals are scanned as the code they may be,
comments are ignored. Options are allowlisted, never denylisted. What keeps commands out of a proof is
the way the verifier builds the code (the proof goes inside parentheses, see `wrap_proof`), so a
command there is a parse error in Lean; the keyword list below only gives an earlier, clearer reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Sequence

from flywheel.lean.guard.axioms import ALLOWED_AXIOMS
from flywheel.lean.text.lexer import OPEN_TO_CLOSE, Kind, Token, tokenize
# Bumped whenever a rule or the code sent changes, so that cached verdicts of a laxer guard are never reused
# (3: `#print axioms` in the proof's own command, its answer taken only at its position; 4: preambles as
# checked commands, no `#print axioms` asked again of an answer with none at its position, options; 5: the lexer
# read as Lean's `whitespace`/`finishCommentBlock`/literal parsers read, refusing the spellings the token table decides).
GUARD_VERSION = 6


@dataclass(slots=True, frozen=True)
class Policy:
    allow_native_decide: bool = False
    max_heartbeats: int = 400000
    allowed_axioms: tuple[str, ...] = ALLOWED_AXIOMS
    max_rec_depth: int = 10000

    @classmethod
    def from_config(cls, cfg) -> "Policy":
        return cls(cfg.allow_native_decide, cfg.max_heartbeats, tuple(cfg.allowed_axioms), cfg.max_rec_depth)

    def limit(self, option: str) -> int | None:
        field = LIMITED_OPTIONS.get(option)
        return None if field is None else getattr(self, field)

    def fingerprint(self) -> str:
        """What a verdict depends on besides the code: this policy, the allowlists and the guard's version."""
        rules = {"version": GUARD_VERSION, "policy": asdict(self), "limited": LIMITED_OPTIONS,
                 "free": sorted(FREE_OPTIONS), "free_prefixes": FREE_OPTION_PREFIXES,
                 "writing": WRITING_OPTION_PREFIXES}
        return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()


# Options: only these may be set, wherever and however the name is spelled.
LIMITED_OPTIONS = {"maxHeartbeats": "max_heartbeats", "synthInstance.maxHeartbeats": "max_heartbeats",
                   "maxRecDepth": "max_rec_depth"}
FREE_OPTION_PREFIXES = ("pp.", "linter.", "trace.")
# `tactic.hygienic` only changes which names a tactic may see (Seed-Prover's proofs set it).
FREE_OPTIONS = frozenset({"checkBinderAnnotations", "autoImplicit", "relaxedAutoImplicit", "tactic.hygienic"})
# Free by their prefix, yet they write files: the profiler's output.
WRITING_OPTION_PREFIXES = ("trace.profiler.output",)

_COMPILED = "Lean.ofReduceBool / ofReduceNat / trustCompiler"
# A name any of whose components is one of these is refused (the reason names it).
BANNED_COMPONENTS = {
    "sorry": "sorry", "admit": "admit", "sorryAx": "sorryAx",
    # everything that reaches the compiler or the elaborator instead of the kernel
    "implemented_by": "implemented_by", "extern": "extern", "unsafe": "unsafe",
    # the kernel hands `Lean.reduceBool`/`Lean.reduceNat` to compiled code (which honours implemented_by)
    "ofReduceBool": _COMPILED, "reduceBool": _COMPILED, "ofReduceNat": _COMPILED, "reduceNat": _COMPILED,
    "trustCompiler": _COMPILED,
    "run_tac": "metaprogram in the proof", "run_cmd": "metaprogram in the proof", "run_elab": "metaprogram in the proof",
    "run_meta": "metaprogram in the proof", "by_elab": "metaprogram in the proof", "Elab": "metaprogram in the proof",
    "Compiler": "metaprogram in the proof", "Environment": "metaprogram in the proof", "addDecl": "metaprogram in the proof",
    "addAndCompile": "metaprogram in the proof", "modifyEnv": "metaprogram in the proof", "setEnv": "metaprogram in the proof",
    "unsafeIO": "metaprogram in the proof", "unsafeBaseIO": "metaprogram in the proof", "unsafeEIO": "metaprogram in the proof",
    "MetaM": "metaprogram in the proof", "TacticM": "metaprogram in the proof", "TermElabM": "metaprogram in the proof",
    "CommandElabM": "metaprogram in the proof", "CoreM": "metaprogram in the proof",
    "axiom": "new axiom", "opaque": "opaque constant",
    # search tactics: some REPL versions accepted a goal they left open (DeepSeek-Prover-V2's apply? bug)
    "apply?": "proof search tactic (apply?/exact?/rw?)", "exact?": "proof search tactic (apply?/exact?/rw?)",
    "rw?": "proof search tactic (apply?/exact?/rw?)", "refine?": "proof search tactic (apply?/exact?/rw?)",
    "observe?": "proof search tactic (apply?/exact?/rw?)", "rw_search": "proof search tactic (apply?/exact?/rw?)",
    "library_search": "proof search tactic (library_search)",
}
# Tactics whose name is also a fine identifier (tactic keywords are not reserved: `hint` may name a
# hypothesis, `r.stop` is a field): refused only where a tactic starts. `stop tacs` is `repeat sorry`.
TACTIC_ONLY = {"hint": "proof search tactic (hint)", "stop": "sorry (stop is repeat sorry)"}
# After these a tactic starts; after `iterate n` too, and after a `(` or `{` that itself stands where a
# tactic starts (a tactic block).
_TACTIC_START_AFTER = {"by", ";", "·", ".", "try", "|", "then", "else", "=>", "all_goals", "any_goals",
                       "repeat", "repeat'", "repeat1", "focus", "iterate", "classical", "with_reducible",
                       "with_reducible_and_instances", "with_unfolding_all", "fail_if_success", "show_term"}
# Keywords that start a command (Lean's and Mathlib's). Keywords cannot be escaped, so the raw token text
# is compared; `«theorem»` is an ordinary name.
COMMAND_KEYWORDS = frozenset("""
theorem lemma def abbrev example instance structure class inductive coinductive mutual namespace section
universe variable attribute macro macro_rules syntax elab elab_rules notation notation3 infix infixl infixr
prefix postfix import initialize builtin_initialize deriving export noncomputable private protected partial
end alias binder_predicate irreducible_def axiom opaque declare_syntax_cat simproc dsimproc add_decl_doc
assert_not_exists assert_not_imported library_note register_simp_attr unif_hint scoped local omit include
nonrec unsafe register_option declare_config_elab initialize_simps_projections compile_inductive
register_label_attr add_aesop_rules declare_aesop_rule_sets seal unseal suppress_compilation
""".split())
_NOT_A_NAMESPACE = COMMAND_KEYWORDS | {"in", "set_option", "open", "hiding", "renaming"}
_OPENERS, _CLOSERS = set(OPEN_TO_CLOSE) - {"«"}, set(OPEN_TO_CLOSE.values()) - {"»"}
# Raw control characters and lone surrogates: their meaning depends on an escape layer (JSON, the REPL's
# reader), so what Lean reads could differ from what was stored. Tab, newline and carriage return are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _where(text: str, at: int) -> str:
    line = text.count("\n", 0, at) + 1
    return f"line {line}, column {at - (text.rfind(chr(10), 0, at) + 1) + 1}"


def control_character(text: str) -> str | None:
    m = _CONTROL.search(text)
    if m is None:
        return None
    return f"banned: control character U+{ord(m.group(0)):04X} at {_where(text, m.start())}"


@dataclass(slots=True)
class _Code:
    text: str
    tokens: list[Token]  # code tokens in order, comments out; the code inside string literals at the end
    top: int  # how many of `tokens` are top level (the rest came from inside string literals)


def _lex(text: str) -> _Code | str:
    bad = control_character(text)
    if bad:
        return bad
    lexed = tokenize(text)
    if lexed.unterminated:
        return f"banned: unterminated {lexed.unterminated} at {_where(text, lexed.unterminated_at)}"
    if lexed.refused:
        return f"banned: {lexed.refused} at {_where(text, lexed.refused_at)}"
    if lexed.ambiguous_at >= 0:
        return f"banned: a string literal whose end depends on its interpolation at {_where(text, lexed.ambiguous_at)}"
    top = [t for t in lexed.tokens if t.kind is not Kind.COMMENT]
    nested = [t for t in lexed.nested if t.kind is not Kind.COMMENT]
    return _Code(text, top + nested, len(top))


def _line_start(code: _Code, i: int) -> bool:
    """Whether token i is the first code token on its line."""
    if i == 0 or i == code.top:
        return True
    prev, tok = code.tokens[i - 1], code.tokens[i]
    return "\n" in code.text[prev.end : tok.start]


def _option(code: _Code, i: int, policy: Policy, *, clamp: bool = False) -> tuple[str | None, int, str]:
    """The `set_option NAME VALUE` at token i: (reason or None, index after it, canonical text)."""
    toks = code.tokens
    if i + 2 >= len(toks):
        return "banned: set_option without a name and a value", len(toks), ""
    name_tok, value_tok = toks[i + 1], toks[i + 2]
    if name_tok.kind is not Kind.NAME:
        return "banned: set_option without an option name", i + 3, ""
    option, value = name_tok.name, value_tok.text
    limit = policy.limit(option)
    if limit is not None:
        if value_tok.kind is not Kind.NUMBER or not value.isdigit():
            return f"banned: set_option {option} {value}", i + 3, ""
        number = int(value)
        if clamp and (number == 0 or number > limit):
            number = limit  # benchmark headers say 0 (unlimited); our limit stands instead
        if number == 0 or number > limit:
            return f"banned: set_option {option} {number} (limit {limit})", i + 3, ""
        return None, i + 3, f"set_option {option} {number}"
    if option.startswith(WRITING_OPTION_PREFIXES):
        return f"banned: set_option {option} (writes a file)", i + 3, ""
    if option in FREE_OPTIONS or option.startswith(FREE_OPTION_PREFIXES):
        if value_tok.kind in (Kind.NUMBER, Kind.STRING) or value in ("true", "false"):
            return None, i + 3, f"set_option {option} {value}"
        return f"banned: set_option {option} {value}", i + 3, ""
    return f"banned: set_option {option} (not an allowed option)", i + 3, ""


def _open_clause(code: _Code, i: int) -> int:
    """Index after `open [scoped] N₁ … Nₖ` at token i, or -1 when what follows is not a list of namespaces."""
    toks = code.tokens
    j = i + 1
    if j < len(toks) and toks[j].text == "scoped":
        j += 1
    start = j
    while j < len(toks) and toks[j].kind is Kind.NAME and toks[j].text not in _NOT_A_NAMESPACE \
            and not _line_start(code, j):
        j += 1
    return j if j > start else -1


def _tactic_position(code: _Code, i: int, proof: bool) -> bool:
    """Whether token i stands where a tactic starts. proof: the code is a proof, where a line's first token
    or a `(`/`{` opening a line starts a tactic; elsewhere (a statement's binders and conclusion) a line
    starts one only after a `by`."""
    tactics = proof or any(t.text == "by" for t in code.tokens[:i])
    while True:
        if _line_start(code, i):
            return tactics
        toks = code.tokens
        prev = toks[i - 1]
        before = [t.text for t in toks[max(0, i - 3) : i]]
        if prev.text == ">":  # `<;>` is three symbol tokens; a lone `>` is a comparison
            return before[-3:] == ["<", ";", ">"]
        if prev.text == "." and i >= 2 and toks[i - 2].end == prev.start \
                and (toks[i - 2].kind in (Kind.NAME, Kind.NUMBER) or toks[i - 2].text in _CLOSERS):
            return False  # `(x).stop`, `h.1.hint`: a projection, not a bullet
        if prev.kind is Kind.NUMBER and i >= 2 and toks[i - 2].text == "iterate":
            return True
        if prev.text in ("(", "{"):
            i -= 1  # a tactic block where a tactic starts
            continue
        return prev.text in _TACTIC_START_AFTER


def _banned_name(code: _Code, i: int, policy: Policy, proof: bool = False) -> str | None:
    tok = code.tokens[i]
    if tok.text == "unsafe" and _aesop_phase(code, i):
        return None
    for part in tok.parts:
        if part in BANNED_COMPONENTS:
            return f"banned: {BANNED_COMPONENTS[part]}"
        if part == "native_decide" and not policy.allow_native_decide:
            return "banned: native_decide"
    if tok.text in TACTIC_ONLY and _tactic_position(code, i, proof):
        return f"banned: {TACTIC_ONLY[tok.text]}"
    if tok.text == "native" and not policy.allow_native_decide:
        before = code.tokens[i - 1].text if i else ""
        after = "".join(t.text for t in code.tokens[i + 1 : i + 3])
        if before == "+" or (after == ":=" and before not in _BINDS_A_LOCAL):
            return "banned: decide +native"
    return None


_BINDS_A_LOCAL = frozenset({"let", "have", "set"})


def _aesop_phase(code: _Code, i: int) -> bool:
    """Whether the `unsafe` at token i is Aesop's rule phase, `(add unsafe 50% apply foo)`: after `add` or
    after a `,` in its rule list when a priority follows; never the `unsafe` term, which runs unsafe code."""
    toks = code.tokens
    before = toks[i - 1].text if i else ""
    priority = i + 2 < len(toks) and toks[i + 1].kind is Kind.NUMBER and toks[i + 2].text == "%"
    return before == "add" or (before == "," and priority)


def _scan(code: _Code, policy: Policy, *, what: str, in_only: bool, proof: bool = False) -> str | None:
    """The rules every piece of code obeys. in_only: `open`/`set_option` only as `… in` (proofs, statements).
    proof: Mathlib's `#check` tactic may stand in it (inside the proof's parentheses it prints, and is no command)."""
    toks = code.tokens
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind is Kind.NAME:
            if tok.text == "set_option":
                reason, after, _ = _option(code, i, policy)
                if reason:
                    return reason
                if in_only and (after >= len(toks) or toks[after].text != "in"):
                    return f"banned: command {what}: set_option"
                i = after
                continue
            if tok.text == "open":
                after = _open_clause(code, i)
                if after < 0 or (in_only and (after >= len(toks) or toks[after].text != "in")):
                    return f"banned: command {what}: open"
                i = after
                continue
            if tok.text in COMMAND_KEYWORDS and not (tok.text == "unsafe" and _aesop_phase(code, i)):
                return f"banned: command {what}: {tok.text}"
            reason = _banned_name(code, i, policy, proof)
            if reason:
                return reason
        elif tok.text == "@" and i + 1 < len(toks) and toks[i + 1].text == "[" and toks[i + 1].start == tok.end:
            return f"banned: attribute {what}"
        elif tok.text == "#" and i + 1 < len(toks) and toks[i + 1].kind is Kind.NAME \
                and toks[i + 1].start == tok.end and _line_start(code, i) \
                and not (proof and toks[i + 1].text == "check"):
            return f"banned: command {what}: #{toks[i + 1].text}"  # `#s`, `#v[…]` inside a line are notation
        i += 1
    return None


def _balanced(code: _Code) -> str | None:
    stack: list[str] = []
    for tok in code.tokens[: code.top]:
        if tok.kind is not Kind.SYMBOL:
            continue
        if tok.text in _OPENERS:
            stack.append(OPEN_TO_CLOSE[tok.text])
        elif tok.text in _CLOSERS:
            if not stack or stack.pop() != tok.text:
                return f"banned: unbalanced '{tok.text}' at {_where(code.text, tok.start)}"
    return f"banned: '{stack[-1]}' missing" if stack else None


def scan_proof(proof: str, policy: Policy) -> str | None:
    """Why this proof body (the text after `:=`) may not be sent to Lean, or None."""
    code = _lex(proof)
    if isinstance(code, str):
        return code
    if not code.tokens:
        return "empty proof"
    return _balanced(code) or _scan(code, policy, what="after the proof", in_only=True, proof=True)


def wrap_proof(proof: str) -> str:
    """The proof as the verifier sends it: inside parentheses, so that it is one term and anything after
    it would be a parse error, never a command (scan_proof has checked the brackets balance)."""
    return "(" + proof.strip("\n") + "\n)"


def scan_statement_parts(parts: Sequence[str], policy: Policy) -> str | None:
    """The binders and the conclusion of a parsed statement, as they will be rendered."""
    for part in parts:
        code = _lex(part)
        if isinstance(code, str):
            return code
        reason = _scan(code, policy, what="in the statement", in_only=True)
        if reason:
            return reason
    return None


def scan_statement(text: str, policy: Policy) -> str | None:
    """Why a statement (its proof part ignored) may not be used, or None."""
    from flywheel.errors import UnparsableStatement
    from flywheel.lean.text.statements import parse_theorem

    bad = control_character(text)
    if bad:
        return bad
    try:
        thm = parse_theorem(text)
    except UnparsableStatement as e:
        return f"statement does not parse: {e}"
    return scan_statement_parts([b.render() for b in thm.binders] + [thm.conclusion], policy)


def scan_preamble(preamble: str, policy: Policy, theorem: str | None = None) -> str | None:
    """Why a statement's preamble may not be used, or None (flywheel.lean.text.preamble checks it command by
    command; what is sent is its rendering, `preamble_commands(...).text`)."""
    from flywheel.lean.text.preamble import preamble_commands

    return preamble_commands(preamble, policy, theorem).reason


def header_commands(header: str, policy: Policy) -> tuple[str | None, str]:
    """(why the header may not be used, or None; the header as we send it). A header may import, open
    namespaces and set allowed options, one command per line. Opened namespaces are written «escaped», so
    a keyword among them (`open Real set_option …`) names a namespace and never starts a command."""
    code = _lex(header)
    if isinstance(code, str):
        return code, header
    lines: list[str] = []
    toks, i = code.tokens, 0
    while i < len(toks):
        tok = toks[i]
        if tok.text == "import" and i + 1 < len(toks) and toks[i + 1].kind is Kind.NAME:
            line, i = f"import {toks[i + 1].text}", i + 2
        elif tok.text == "open":
            after = _open_clause(code, i)
            if after < 0:
                return "banned: open of something other than namespaces in the header", header
            names = toks[i + 1 : after]
            scoped = ["scoped"] if names[0].text == "scoped" else []
            # an opened `Lean.Elab…` would let its names pass unqualified, past the banned components
            if bad := next((r for k in range(i + 1 + len(scoped), after) if (r := _banned_name(code, k, policy))), None):
                return f"{bad} (opened in the header)", header
            line = " ".join(["open", *scoped] + [_escaped(t) for t in names[len(scoped):]])
            i = after
        elif tok.text == "set_option":
            reason, i, line = _option(code, i, policy, clamp=True)
            if reason:
                return reason, header
        else:
            return f"banned: {tok.text} in the header (only import, open and set_option)", header
        if i < len(toks) and not _line_start(code, i):
            return f"banned: a second command on a header line: {toks[i].text}", header
        lines.append(line)
    imports = [x for x in lines if x.startswith("import ")]
    rest = [x for x in lines if not x.startswith("import ")]
    return None, "".join("\n".join(block) + "\n\n" for block in (imports, rest) if block)


_HEADER_COMMANDS = frozenset({"import", "open", "set_option"})


def split_header(header: str) -> tuple[str, str]:
    """(the imports, opens and options at its top; the rest): benchmark headers (ProofNet's) go on with
    definitions, which belong in the statement's preamble, not in what every REPL process imports."""
    code = _lex(header)
    if isinstance(code, str):
        return header, ""  # scan_header says why
    for i in range(code.top):
        tok = code.tokens[i]
        at_column_0 = tok.start == 0 or header[tok.start - 1] == "\n"
        if at_column_0 and _line_start(code, i) and tok.text not in _HEADER_COMMANDS:
            start = header.rfind("\n", 0, tok.start) + 1
            comment = _comment_before(header, start)
            return header[:comment], header[comment:]
    return header, ""


def with_header_definitions(header: str, preamble: str) -> tuple[str, str]:
    """(the header's import/open/option part; its definitions, if any, followed by the statement's preamble)."""
    top, extra = split_header(header)
    return top, "\n\n".join(p.strip("\n") for p in (extra, preamble) if p.strip())


def _comment_before(header: str, start: int) -> int:
    """Where a definition's doc comment (the lines right above it) begins, so it moves with it."""
    lexed = tokenize(header)
    for t in reversed(lexed.tokens):
        if t.kind is Kind.COMMENT and t.end <= start and not header[t.end:start].strip():
            start = header.rfind("\n", 0, t.start) + 1
        elif t.end <= start:
            break
    return start


def _escaped(tok: Token) -> str:
    return ".".join(f"«{p}»" for p in tok.parts)


def scan_header(header: str, policy: Policy) -> str | None:
    return header_commands(header, policy)[0]


def limit_heartbeats(header: str, policy: Policy) -> str:
    """The header as we send it (limits applied: benchmark headers say maxHeartbeats 0, i.e. unlimited);
    unchanged when scan_header refuses it."""
    reason, rendered = header_commands(header, policy)
    return header if reason else rendered
