"""The soundness guard: what a proof may not contain (checked before Lean sees it) and which axioms a
proved theorem may rest on (checked after, with `#print axioms`). Comments and string literals are
masked first, so they neither trigger a ban nor hide anything."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from flywheel.lean.lexer import mask

ALLOWED_AXIOMS = ("propext", "Classical.choice", "Quot.sound")


@dataclass(slots=True, frozen=True)
class Policy:
    allow_native_decide: bool = False
    max_heartbeats: int = 400000
    allowed_axioms: tuple[str, ...] = ALLOWED_AXIOMS

    @classmethod
    def from_config(cls, cfg) -> "Policy":
        return cls(cfg.allow_native_decide, cfg.max_heartbeats, tuple(cfg.allowed_axioms))


def _word(w: str) -> re.Pattern:
    return re.compile(rf"(?<![\w.'«]){re.escape(w)}(?![\w'!?»])")


# Each entry: the pattern in masked code, and the reason given. Why each is banned:
BANNED: list[tuple[re.Pattern, str]] = [
    (_word("sorry"), "sorry"),
    (_word("admit"), "admit"),
    (_word("sorryAx"), "sorryAx"),
    # search tactics: some REPL versions accepted a goal they left open (DeepSeek-Prover-V2's apply? bug)
    (re.compile(r"(?<![\w.'])(apply|exact|rw|refine|observe|rw_search)\?"), "proof search tactic (apply?/exact?/rw?)"),
    (_word("library_search"), "proof search tactic (library_search)"),
    (_word("hint"), "proof search tactic (hint)"),
    # everything that reaches the compiler or the elaborator instead of the kernel
    (_word("implemented_by"), "implemented_by"),
    (_word("extern"), "extern"),
    (_word("unsafe"), "unsafe"),
    (re.compile(r"(?<![\w'])(Lean\.)?(ofReduceBool|reduceBool|trustCompiler)(?![\w'])"), "Lean.ofReduceBool / trustCompiler"),
    (re.compile(r"(?<![\w.'])(run_tac|run_cmd|run_elab|run_meta|by_elab)(?![\w'])"), "metaprogram in the proof"),
    (re.compile(r"(?<![\w'])(Lean\.(Elab|Meta|Environment|Compiler)|addDecl|modifyEnv)(?![\w'])"), "metaprogram in the proof"),
    (_word("axiom"), "new axiom"),
    (_word("opaque"), "opaque constant"),
    (re.compile(r"@\["), "attribute in the proof"),
]
NATIVE: list[tuple[re.Pattern, str]] = [
    (_word("native_decide"), "native_decide"),
    (re.compile(r"(?<![\w'])decide\s*\+\s*native(?![\w'])|(?<![\w'])native\s*:=\s*true"), "decide +native"),
]
# A command keyword in a proof body means something runs after (or beside) the theorem.
COMMANDS = re.compile(
    r"(?<![\w.'])(theorem|lemma|def|abbrev|example|instance|structure|class|inductive|mutual|namespace"
    r"|section|universe|variable|attribute|macro|macro_rules|syntax|elab|elab_rules|notation|infix|infixl"
    r"|infixr|prefix|postfix|import|initialize|builtin_initialize|deriving|export|noncomputable|private"
    r"|protected|partial|end)(?![\w'!?])|(?<![\w])#[a-zA-Z_]+"
)
_OPEN = re.compile(r"(?<![\w.'])open\b[^\n]*?\bin\b|(?<![\w.'])open\b")
_SET_OPTION = re.compile(r"(?<![\w.'])set_option\s+([\w.]+)\s+(\S+)")
_GUILLEMET = re.compile(r"«([^»]*)»")


def _code(text: str) -> tuple[str | None, str]:
    m = mask(text)
    if m.unterminated:
        return f"unterminated {m.unterminated}", m.code
    return None, m.code


def _scan_code(code: str, raw: str, policy: Policy) -> str | None:
    names = " ".join(_GUILLEMET.findall(raw))  # «sorry»-style names are checked by their content too
    rules = BANNED + ([] if policy.allow_native_decide else NATIVE)
    for pattern, reason in rules:
        if pattern.search(code) or (names and pattern.search(names)):
            return f"banned: {reason}"
    for m in _SET_OPTION.finditer(code):
        option, value = m.group(1), m.group(2)
        if option.startswith("debug."):
            return f"banned: set_option {option}"
        if option == "maxHeartbeats":
            try:
                beats = int(value)
            except ValueError:
                return f"banned: set_option maxHeartbeats {value}"
            if beats == 0 or beats > policy.max_heartbeats:
                return f"banned: set_option maxHeartbeats {beats} (limit {policy.max_heartbeats})"
    return None


def scan_proof(proof: str, policy: Policy) -> str | None:
    """Why this proof body (the text after `:=`) may not be sent to Lean, or None."""
    problem, code = _code(proof)
    if problem:
        return f"banned: {problem}"
    if not code.strip():
        return "empty proof"
    command = COMMANDS.search(code)
    if command:
        return f"banned: command after the proof: {command.group(0)}"
    for m in _OPEN.finditer(code):
        if not m.group(0).rstrip().endswith(" in") and not re.search(r"\bin\b", m.group(0)):
            return "banned: command after the proof: open"
    if re.search(r"(?<![\w.'])set_option\b", code) and not re.search(r"set_option\s+[\w.]+\s+\S+\s+in\b", code):
        return "banned: command after the proof: set_option"
    return _scan_code(code, proof, policy)


def scan_statement(text: str, policy: Policy) -> str | None:
    """Why a statement (its proof part ignored) may not be used, or None."""
    problem, code = _code(text)
    if problem:
        return f"banned: {problem}"
    decl = re.search(r"(?<![\w.'])(theorem|lemma|example|def)(?![\w'])", code)
    if not decl:
        return "no declaration"
    before = code[: decl.start()]
    from flywheel.lean.lexer import find_top_level

    end = find_top_level(code, ":=", decl.end())
    body = code[decl.end() : end if end >= 0 else len(code)]
    if COMMANDS.search(before) or re.search(r"(?<![\w.'])(axiom|set_option)\b", before):
        return "banned: command before the statement"
    return _scan_code(before + body, text[: end if end >= 0 else len(text)], policy)


def scan_header(header: str, policy: Policy) -> str | None:
    """A header may import, open, and set options within our limits; nothing else."""
    problem, code = _code(header)
    if problem:
        return f"banned: {problem}"
    for line in code.splitlines():
        words = line.split()
        if not words or words[0] in ("import", "open"):
            continue
        if words[0] == "set_option":
            reason = _scan_code(line, line, policy)
            if reason and "maxHeartbeats" not in reason:
                return reason
            continue
        return f"banned: {words[0]} in the header"
    return None


def limit_heartbeats(header: str, policy: Policy) -> str:
    """The header with any maxHeartbeats set to our limit: benchmark headers say 0, i.e. unlimited."""
    return re.sub(r"(?m)^(\s*set_option\s+maxHeartbeats\s+)\d+", rf"\g<1>{policy.max_heartbeats}", header)


_DEPENDS = re.compile(r"'?([^'\s]+)'?\s+depends on axioms:\s*\[([^\]]*)\]", re.S)
_NONE = re.compile(r"'?([^'\s]+)'?\s+does not depend on any axioms")


def parse_axioms(messages: Iterable[dict] | str, name: str | None = None) -> list[str] | None:
    """Axioms from the answer to `#print axioms NAME`; None when no such message is there."""
    texts = [messages] if isinstance(messages, str) else [m.get("data", "") for m in messages]
    for text in texts:
        for m in _DEPENDS.finditer(text):
            if name is None or m.group(1).strip("«»") == name.strip("«»"):
                return [a for a in re.split(r"[\s,]+", m.group(2)) if a]
        for m in _NONE.finditer(text):
            if name is None or m.group(1).strip("«»") == name.strip("«»"):
                return []
    return None


def check_axioms(axioms: Iterable[str], policy: Policy) -> str | None:
    bad = [a for a in axioms if a not in policy.allowed_axioms]
    if not bad:
        return None
    if "sorryAx" in bad:
        return "uses sorry (sorryAx)"
    if "Lean.ofReduceBool" in bad or "Lean.trustCompiler" in bad:
        return "uses native_decide (Lean.ofReduceBool)"
    return "depends on axiom " + ", ".join(bad)
