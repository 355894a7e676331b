"""The proof body out of model text. Only the body is kept: the statement Lean sees is always ours."""

from __future__ import annotations

import enum
import re

from flywheel.answers import Block, NoCode, final_block


class NoProof(str, enum.Enum):
    """Why an answer gives nothing to send to Lean (the attempt's reason)."""

    NONE = "no proof in the model's answer"
    THINKING = NoCode.THINKING.value
    UNPARSABLE = "the declaration in the model's answer does not parse"
    PROMPT_TOO_LONG = "the prompt does not fit the model's context: nothing was generated"


def _continues(block: Block) -> bool:
    """Tactics (or a term) that continue the prompt's `:=` before any declaration of the model's own."""
    from flywheel.lean.text.statements import command_end

    return block.continued and bool(block.code[:command_end(block.code)].strip())


def _usable(block: Block) -> bool:
    from flywheel.lean.text.statements import find_declarations

    return _continues(block) or bool(find_declarations(block.code))


def extract_proof(text: str, prompt_ends_in_by: bool = True, name: str | None = None) -> str | NoProof:
    """The text after `:=` of the proof, as Lean should read it (`by ...` or a term), or why there is none.

    The prompt ends with the statement and `:= by` inside an open code block, so a model normally
    continues with tactics; a reasoning model thinks first and writes the whole declaration in a final
    block. Its statement is thrown away: we keep what follows the top-level `:=` of the declaration
    named `name` (else its first), up to the next declaration, indented as the model wrote it.
    """
    from flywheel.errors import UnparsableStatement
    from flywheel.lean.text.statements import command_end, find_declarations, parse_theorem

    block = final_block(text, opened=True, wanted=_usable)
    if block is NoCode.THINKING:
        return NoProof.THINKING
    if block is NoCode.NO_BLOCK:
        return NoProof.NONE
    code = block.code
    if _continues(block):
        body = code[:command_end(code)]
        return "by\n" + _indent(body) if prompt_ends_in_by else body.strip()
    spans = find_declarations(code)
    named = [(s, e) for s, e in spans if name and _declared_name(code[s:e]) == name]
    start, end = (named or spans)[0]
    try:
        thm = parse_theorem(code[start:end])
    except UnparsableStatement:
        return NoProof.UNPARSABLE
    return thm.proof.strip() if thm.proof and thm.proof.strip() else NoProof.NONE


def _declared_name(declaration: str) -> str | None:
    from flywheel.lean.text.lexer import NAME_RE

    kw = re.match(r"(?:theorem|lemma)\s+", declaration)
    name = kw and NAME_RE.match(declaration, kw.end())
    return name.group(0) if name else None


def _indent(tactics: str) -> str:
    """Tactics continue a `by` block: keep the model's own indentation, but make sure there is some."""
    lines = tactics.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and not lines[0].startswith((" ", "\t")):
        lines = ["  " + ln if ln.strip() else ln for ln in lines]
    return "\n".join(lines)
