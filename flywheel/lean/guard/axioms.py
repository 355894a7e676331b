"""Which axioms a proved theorem may rest on: the answer to `#print axioms NAME` read for that name, and
checked against the policy's allowlist."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

from flywheel.lean.text.lexer import Kind, Token

if TYPE_CHECKING:
    from flywheel.lean.guard.soundness import Policy

ALLOWED_AXIOMS = ("propext", "Classical.choice", "Quot.sound")

# A name never spans lines: a match that would reach across one is not this answer.
# `#print axioms NAME`: Lean writes the name as `Name.toString` does, «escaping» parts where needed.
_AXIOMS = re.compile(r"'(?P<name>[^\n]+?)' (?:depends on axioms: \[(?P<axioms>[^\]]*)\]|does not depend on any axioms)",
                     re.S)


def _parts(name: str) -> tuple[str, ...]:
    return Token(Kind.NAME, 0, len(name), name).parts


def parse_axioms(messages: Iterable[dict] | str, name: str | None = None) -> list[str] | None:
    """Axioms from the answer to `#print axioms NAME`; None when no such message is there."""
    texts = [messages] if isinstance(messages, str) else [m.get("data", "") for m in messages]
    want = _parts(name) if name is not None else None
    for text in texts:
        for m in _AXIOMS.finditer(text):
            if want is not None and _parts(m.group("name")) != want:
                continue
            listed = m.group("axioms")
            return [a for a in re.split(r"[\s,]+", listed) if a] if listed is not None else []
    return None


_NATIVE_AXIOMS = ("Lean.ofReduceBool", "Lean.trustCompiler")


def _native(axiom: str) -> bool:
    """`native_decide`'s axioms: Lean.ofReduceBool, or from Lean 4.29 one generated `…._native.…` per use."""
    return axiom in _NATIVE_AXIOMS or "_native" in _parts(axiom)


def check_axioms(axioms: Iterable[str], policy: "Policy") -> str | None:
    bad = [a for a in axioms if a not in policy.allowed_axioms and not (policy.allow_native_decide and _native(a))]
    if not bad:
        return None
    if "sorryAx" in bad:
        return "uses sorry (sorryAx)"
    native = [a for a in bad if _native(a)]
    if native:
        return f"uses native_decide ({native[0]})"
    return "depends on axiom " + ", ".join(bad)
