"""The proof body out of model text. Only the body is kept: the statement Lean sees is always ours."""

from __future__ import annotations

import re

_FENCE_OPEN = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\n")


def extract_proof(text: str, prompt_ends_in_by: bool = True) -> str | None:
    """The text after `:=` of the proof, as Lean should read it (`by ...` or a term), or None.

    The prompt ends with the statement and `:= by`, so a model normally continues with tactics and
    closes the fence. A model that restarts the code block and writes the whole declaration again gets
    its statement thrown away: we keep what follows the declaration's top-level `:=`.
    """
    body = text
    restarted = _FENCE_OPEN.search(body)
    if restarted and re.search(r"\b(theorem|lemma|example)\b", body[restarted.end():]):
        body = body[restarted.end():]
    body = body.split("```", 1)[0]
    decl = re.search(r"(?m)^\s*(theorem|lemma|example)\b", body)
    if decl:
        from flywheel.lean.statements import find_declarations, parse_theorem
        from flywheel.errors import UnparsableStatement

        spans = find_declarations(body)
        if len(spans) != 1:
            return None
        try:
            thm = parse_theorem(body[spans[0][0]:spans[0][1]])
        except UnparsableStatement:
            return None
        return thm.proof.strip() if thm.proof and thm.proof.strip() else None
    if not body.strip():
        return None
    if prompt_ends_in_by:
        return "by\n" + _indent(body)
    return body.strip()


def _indent(tactics: str) -> str:
    """Tactics continue a `by` block: keep the model's own indentation, but make sure there is some."""
    lines = tactics.rstrip().split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and not lines[0].startswith((" ", "\t")):
        lines = ["  " + ln if ln.strip() else ln for ln in lines]
    return "\n".join(lines)
