"""Exactly one theorem declaration out of model text, its proof replaced by `sorry`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flywheel.errors import UnparsableStatement
from flywheel.records import DropReason

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)
_DECL = re.compile(r"(?m)^\s*(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+)?(theorem|lemma|example)\b")


@dataclass(slots=True, frozen=True)
class Extracted:
    text: str  # `theorem NAME binders : concl := by sorry`
    conclusion: str


@dataclass(slots=True, frozen=True)
class Failed:
    reason: DropReason
    detail: str


def code_of(text: str) -> str | None:
    """The Lean code in model text: fenced blocks that declare something, else the text before a
    closing fence (the prompt opened it), else the text itself if it declares something."""
    blocks = [body for _lang, body in _FENCE.findall(text)]
    declaring = [b for b in blocks if _DECL.search(b)]
    if declaring:
        return "\n\n".join(declaring)
    head = text.split("```", 1)[0]
    if _DECL.search(head):
        return head
    return None


def extract_statement(text: str, name: str) -> Extracted | Failed:
    from flywheel.lean import statements

    if not text.strip():
        return Failed(DropReason.NO_CODE, "empty model answer")
    code = code_of(text)
    if code is None:
        return Failed(DropReason.NO_CODE if "```" not in text else DropReason.NO_THEOREM, "no theorem declaration in the answer")
    spans = statements.find_declarations(code)
    if not spans:
        return Failed(DropReason.NO_THEOREM, "code has no theorem, lemma or example")
    if len(spans) > 1:
        return Failed(DropReason.SEVERAL_THEOREMS, f"{len(spans)} declarations in the answer")
    start, end = spans[0]
    try:
        thm = statements.parse_theorem(code[start:end])
    except UnparsableStatement as e:
        return Failed(DropReason.UNPARSABLE, str(e))
    thm = statements.with_name(thm, name)
    return Extracted(statements.render(thm, "by sorry"), thm.conclusion)


def theorem_name(problem_id: str, round_: int, sample: int) -> str:
    """Deterministic and a valid Lean identifier: the same problem and sample always get the same name."""
    return f"fw_{problem_id[:12]}_r{round_}_s{sample}"
