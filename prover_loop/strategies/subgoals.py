"""A sketch's holes as lemmas and back: each `sorry`'s goal as a lemma statement (flywheel/lean/tactics/goals.py) with
the arguments that apply it where the sorry stood, and the sketch with every hole filled by its lemma's proof
applied to them. The filled proof is only ever a candidate: it goes through the guarded check whole."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flywheel.lean.tactics import goals
from flywheel.lean.text import statements as surgery

_TACTIC_BEFORE = re.compile(r"(?:^|\bby|·|;|<;>|\bthen|=>)\s*$")


@dataclass(slots=True, frozen=True)
class Hole:
    """One sorry of a sketch: where it stands (offsets in the proof as Lean saw it) and its lemma."""

    start: int
    end: int
    statement: str  # the lemma, `theorem NAME binders : concl := by sorry`
    binders: str  # the lemma's binders as a `fun` takes them
    conclusion: str
    args: tuple[str, ...]  # what the lemma is applied to at the hole: the hypotheses in scope there


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + column


def hole(proof: str, sorry, name: str) -> Hole:
    """The lemma of one sorry (a flywheel.lean.tactics.records.Sorry at positions in `proof`). Its hypotheses become
    binders in Lean's order, a `let` value an equation (applied to `rfl`), an unnamed instance `[..]` (found
    again by instance search); an inaccessible hypothesis is applied as `‹_›`-style assumption.
    UnparsableStatement when the goal cannot be written back."""
    thm = goals.lemma(sorry.goal, name)
    original = goals.parse_goal(sorry.goal)
    args: list[str] = []
    for h in original.hypotheses:
        if all(n.startswith("inst✝") for n in h.names):
            continue
        args += [n if "✝" not in n else "(by assumption)" for n in h.names]
        if h.value is not None:
            args += ["rfl"] * len(h.names)
    binders = " ".join(f"[{b.type}]" if b.bracket == "[" else f"({' '.join(b.names)} : {b.type})" for b in thm.binders)
    return Hole(_offset(proof, sorry.pos.line, sorry.pos.column), _offset(proof, sorry.end_pos.line, sorry.end_pos.column),
                surgery.render(thm, "by sorry"), binders, thm.conclusion, tuple(args))


def _term(h: Hole, lemma_proof: str, indent: int) -> str:
    """The lemma's proof as a term of the hole's goal: `((fun binders => (show concl by ...)) args)`."""
    body = lemma_proof.strip("\n")
    pad = " " * (indent + 4)
    if body.startswith("by") and (len(body) == 2 or body[2] in " \n"):
        lines = body[2:].strip("\n").split("\n")
        cut = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
        inner = "show " + h.conclusion + " by\n" + "\n".join(pad + x[cut:] if x.strip() else "" for x in lines)
    else:
        inner = f"show {h.conclusion} from (\n{pad}{body})"
    if not h.args:
        return f"({inner})"
    return f"((fun {h.binders} =>\n{pad[:-2]}({inner}))\n{pad[:-2]}{' '.join(h.args)})"


def fill(proof: str, holes: list[Hole], proofs: list[str]) -> str:
    """The sketch with each hole replaced by its lemma's proof applied at it (`exact` where the sorry was a
    tactic, the term where it was a term), last hole first so that offsets hold."""
    out = proof
    for h, p in sorted(zip(holes, proofs), key=lambda x: x[0].start, reverse=True):
        line_start = out.rfind("\n", 0, h.start) + 1
        indent = len(out[line_start:]) - len(out[line_start:].lstrip(" "))
        term = _term(h, p, indent)
        if _TACTIC_BEFORE.search(out[line_start : h.start]):
            term = "exact " + term
        out = out[: h.start] + term + out[h.end :]
    return out
