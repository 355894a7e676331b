"""Exactly one theorem declaration out of model text, its proof replaced by `sorry`, with the commands
it needs before it (its preamble)."""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.answers import Block, NoCode, final_block
from flywheel.errors import UnparsableStatement
from flywheel.records import DropReason


@dataclass(slots=True, frozen=True)
class Extracted:
    text: str  # `theorem NAME binders : concl := by sorry`
    conclusion: str
    preamble: str = ""  # the def/abbrev/open/variable/universe commands before it, imports dropped


@dataclass(slots=True, frozen=True)
class Failed:
    reason: DropReason
    detail: str


def _declares(block: Block) -> bool:
    from flywheel.lean.text.statements import find_declarations

    return bool(find_declarations(block.code))


def _without_imports(code: str) -> str:
    """The header owns the imports: a model that writes them again loses them."""
    from flywheel.lean.text.lexer import mask

    lines, masked = code.split("\n"), mask(code).code.split("\n")
    return "\n".join(line for line, m in zip(lines, masked, strict=True) if not m.startswith("import"))


def extract_statement(text: str, name: str) -> Extracted | Failed:
    from flywheel.lean.guard import soundness
    from flywheel.lean.text import statements

    if not text.strip():
        return Failed(DropReason.NO_CODE, "empty model answer")
    block = final_block(text, opened=True, wanted=_declares)
    if block is NoCode.THINKING:
        return Failed(DropReason.NO_CODE, block.value)
    if block is NoCode.NO_BLOCK:
        return Failed(DropReason.NO_CODE if "```" not in text else DropReason.NO_THEOREM, "no theorem declaration in the answer")
    spans = statements.find_declarations(block.code)
    if len(spans) > 1:
        return Failed(DropReason.SEVERAL_THEOREMS, f"{len(spans)} declarations in the answer")
    try:
        preamble, declaration = statements.split_preamble(_without_imports(block.code[:spans[0][1]]))
        thm = statements.parse_theorem(declaration)
    except UnparsableStatement as e:
        return Failed(DropReason.UNPARSABLE, str(e))
    # What the verifier would refuse before the theorem is dropped now. The default policy is the
    # strictest: a preamble never needs native_decide.
    reason = soundness.scan_preamble(preamble, soundness.Policy())
    if reason:
        return Failed(DropReason.UNPARSABLE, f"before the theorem: {reason}")
    thm = statements.with_name(thm, name)
    return Extracted(statements.render(thm, "by sorry"), thm.conclusion, preamble)


def theorem_name(problem_id: str, round_: int, sample: int) -> str:
    """Deterministic and a valid Lean identifier: the same problem and sample always get the same name."""
    return f"fw_{problem_id[:12]}_r{round_}_s{sample}"
