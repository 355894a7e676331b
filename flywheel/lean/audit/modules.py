"""The Lean text of the audit's modules (proofs, challenge, trusted checker) and the reading of the
trusted module's answer. Every name in these files is chosen by us; no user text becomes a path."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flywheel.hashing import sha256_text
from flywheel.lean.guard import soundness
from flywheel.lean.guard.axioms import check_axioms, parse_axioms

ROOT = "FlywheelAudit"
# Ours, so trusted: run in the trusted module, it says whether the proved constant is a theorem whose
# type (and universe parameters) is exactly the canonical statement's, as comparator does. A command of its
# own (`elab`, with `import Lean`), written so that every Lean 4 of the last years elaborates it.
COMPARE = """open Lean Elab Command in
elab "flywheel_audit_compare " p:ident c:ident : command => do
  let env ← getEnv
  let verdict := match env.find? p.getId, env.find? c.getId with
    | some (ConstantInfo.thmInfo t), some s =>
      if t.type == s.type && t.levelParams == s.levelParams then "same" else "differs"
    | some _, some _ => "not-a-theorem"
    | _, _ => "missing"
  logInfo m!"flywheel-audit {p.getId} {verdict}"
"""
_VERDICT = re.compile(r"flywheel-audit\s+(\S+)\s+(same|differs|not-a-theorem|missing)\b")
_ERROR = re.compile(r"\.lean:(\d+):\d+: error")


@dataclass(slots=True, frozen=True)
class Target:
    """One proof as the audit writes it: under a fresh name, next to its statement's challenge."""
    id: str
    header: str
    preamble: str  # as the verifier sent it: re-rendered from its checked commands
    scoping: str  # its open/variable/universe/set_option commands in scope at its end (see Preamble.scoping)
    proof_name: str
    challenge_name: str
    proof_decl: str
    challenge_decl: str


def module_name(kind: str, *texts: str) -> str:
    return f"{ROOT}.{kind}{sha256_text(*texts)[:24]}"


def imports_and_rest(header: str) -> tuple[list[str], str]:
    """The header's imports (which must open a module) and the rest (open, set_option)."""
    imports = [line.strip() for line in header.splitlines() if line.strip().startswith("import ")]
    rest = "\n".join(line for line in header.splitlines() if not line.strip().startswith("import "))
    return imports, rest.strip()


def _text(imports: list[str], *parts: str) -> str:
    return "\n".join(imports) + "\n\n" + "\n\n".join(p for p in parts if p.strip()) + "\n"


def base_module(t: Target) -> tuple[str, str] | None:
    """The statement's preamble in a module of its own, which proofs and challenge both import: so they
    refer to the very same constants, and the proof's code never ran where the preamble was elaborated."""
    if not t.preamble.strip():
        return None
    imports, rest = imports_and_rest(t.header)
    text = _text(imports, rest, t.preamble)
    return module_name("Base", text), text


def _prelude(t: Target) -> tuple[list[str], str]:
    imports, rest = imports_and_rest(t.header)
    base = base_module(t)
    if base is None:
        return imports, rest
    return imports + [f"import {base[0]}"], rest + "\n" + t.scoping


def proof_module(targets: list[Target]) -> tuple[str, str]:
    """Many proofs, one theorem each; all targets share header and preamble."""
    imports, rest = _prelude(targets[0])
    text = _text(imports, rest, *(t.proof_decl for t in targets))
    return module_name("Proof", text), text


def challenge_module(targets: list[Target]) -> tuple[str, str]:
    imports, rest = _prelude(targets[0])
    text = _text(imports, rest, *(t.challenge_decl for t in targets))
    return module_name("Challenge", text), text


def culprits(text: str, targets: list[Target], output: str) -> set[int]:
    """Indices of the targets whose declarations the compiler's errors point into (file:line:col: error)."""
    starts, at = [], 0
    for t in targets:
        at = text.index(t.proof_decl, at)
        starts.append(text.count("\n", 0, at) + 1)
    lines = [int(m.group(1)) for m in _ERROR.finditer(output)]
    return {max(i for i, s in enumerate(starts) if s <= line) for line in lines if line >= starts[0]}


def trusted_module(header: str, modules: list[str], targets: list[Target]) -> str:
    imports, _ = imports_and_rest(header)
    lines = [f"#print axioms {t.proof_name}\nflywheel_audit_compare {t.proof_name} {t.challenge_name}" for t in targets]
    lean = [] if "import Lean" in imports else ["import Lean"]
    return _text(imports + lean + [f"import {m}" for m in modules], COMPARE, *lines)


def read_answer(output: str, t: Target, policy: soundness.Policy) -> tuple[str | None, str]:
    """(None, axioms) when the trusted module positively confirmed this proof; else (what, why)."""
    axioms = parse_axioms(output, t.proof_name)
    if axioms is None:
        return "unconfirmed", "no `#print axioms` answer for the theorem"
    bad = check_axioms(axioms, policy)
    if bad:
        return "axioms", bad
    verdicts = [v for name, v in _VERDICT.findall(output) if name.strip("«»") == t.proof_name]
    if verdicts != ["same"]:
        if "differs" in verdicts:
            return "type", "the theorem's type differs from the canonical statement elaborated on its own"
        return "unconfirmed", f"type comparison answered {verdicts or 'nothing'}"
    return None, ", ".join(axioms)
