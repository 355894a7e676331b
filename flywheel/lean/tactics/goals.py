"""Goals as Lean prints them (`x y : ℕ`, `h : x < y`, `z : ℕ := x + 1`, `⊢ P x y`): taken apart, keyed for
search nodes, and turned into lemma statements that statement surgery parses and Lean elaborates.

A goal's hypotheses keep Lean's order, which is a dependency order (a type mentions only names above it).
Inaccessible names (`x✝`, `inst✝¹`) cannot be written in Lean; they are renamed to fresh names everywhere
they occur. A `let`/`set` hypothesis keeps its value: as the binder and an equation beside it, or as a
`let` in the conclusion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from flywheel.errors import UnparsableStatement
from flywheel.hashing import sha256_text
from flywheel.lean.text import statements as surgery
from flywheel.lean.text.lexer import mask
from flywheel.lean.text.statements import Binder, Theorem

_SUPERSCRIPT = "⁰¹²³⁴⁵⁶⁷⁸⁹"
# A name as Lean prints it, inaccessible ones with their dagger and superscript index.
_NAME = re.compile(rf"(?<![\w.'✝{_SUPERSCRIPT}])[^\W\d][\w'!?]*(?:✝[{_SUPERSCRIPT}]*)?(?![\w'✝{_SUPERSCRIPT}])")
_UNWRITABLE = re.compile(r"\?[\w.]|⋯")  # metavariables and omitted proofs cannot be read back


@dataclass(slots=True, frozen=True)
class Hypothesis:
    names: tuple[str, ...]
    type: str
    value: str | None = None  # a `let`/`set` binding's value


@dataclass(slots=True, frozen=True)
class Goal:
    hypotheses: tuple[Hypothesis, ...]
    target: str
    case: str | None = None


def _entries(text: str) -> list[str]:
    """A goal's lines joined into entries: a line that starts indented continues the entry before it."""
    entries: list[str] = []
    for line in text.strip("\n").split("\n"):
        if entries and line[:1].isspace():
            entries[-1] += "\n" + line
        elif line.strip():
            entries.append(line)
    return entries


def _squash(text: str) -> str:
    return " ".join(text.split())


def parse_goal(text: str) -> Goal:
    """One goal as the REPL prints it; UnparsableStatement when it has no `⊢` or a hypothesis without ` : `."""
    entries = _entries(text)
    case = None
    if entries and entries[0].startswith("case "):
        case = entries.pop(0)[5:].strip()
    if not entries or not entries[-1].startswith("⊢"):
        raise UnparsableStatement(f"goal without ⊢: {text[:80]!r}")
    hyps = []
    for entry in entries[:-1]:
        names, sep, rest = entry.partition(" : ")
        if not sep or not names.split() or not all(_NAME.fullmatch(n) for n in names.split()):
            raise UnparsableStatement(f"goal hypothesis is not `names : type`: {entry[:80]!r}")
        m = mask(rest)
        try:
            at = surgery.signature_end(rest, m.code, 0)
        except UnparsableStatement as e:
            raise UnparsableStatement(f"goal hypothesis {names.strip()}: {e}") from e
        value = _squash(rest[at + 2 :]) if at < len(rest) else None
        hyps.append(Hypothesis(tuple(names.split()), _squash(rest[:at]), value))
    return Goal(tuple(hyps), _squash(entries[-1][1:]), case)


def _substitute(text: str, names: dict[str, str]) -> str:
    return _NAME.sub(lambda m: names.get(m.group(0), m.group(0)), text) if names else text


def _rename(goal: Goal, names: dict[str, str]) -> Goal:
    hyps = tuple(Hypothesis(tuple(names.get(n, n) for n in h.names), _substitute(h.type, names),
                            None if h.value is None else _substitute(h.value, names)) for h in goal.hypotheses)
    return Goal(hyps, _substitute(goal.target, names), goal.case)


def _words(goal: Goal) -> set[str]:
    texts = [goal.target] + [t for h in goal.hypotheses for t in (h.type, h.value or "", *h.names)]
    return {m.group(0) for t in texts for m in _NAME.finditer(t)}


def _fresh(base: str, taken: set[str]) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def accessible(goal: Goal) -> Goal:
    """Every inaccessible name (`n✝`, `a✝¹`) renamed to a fresh one (`n`, else `n_1`, ...) wherever it occurs."""
    taken = _words(goal)
    names = {}
    for h in goal.hypotheses:
        for n in h.names:
            if "✝" in n and n not in names:
                names[n] = _fresh(n.split("✝")[0] or "x", taken)
    return _rename(goal, names)


def _normal(goal: str, rename: bool) -> str:
    g = parse_goal(goal)
    names: dict[str, str] = {}
    for h in g.hypotheses:
        for n in h.names:
            if (rename or "✝" in n) and n not in names:
                names[n] = f"✝{len(names)}"  # not a name Lean lets anyone write, so no clash
    g = _rename(g, names)
    hyps = [" ".join(h.names) + " : " + h.type + (f" := {h.value}" if h.value is not None else "") for h in g.hypotheses]
    return "\n".join(hyps + ["⊢ " + g.target])


def goal_key(goals: Sequence[str], rename: bool = False) -> str:
    """sha256 of the goals in order, each with its case tag dropped, spacing collapsed and inaccessible names
    numbered in order of appearance (so `a✝¹` and `a✝` name nothing); rename=True numbers every hypothesis
    name alike (goals equal up to the names of their hypotheses share a key)."""
    return sha256_text(*[_normal(g, rename) for g in goals]) if goals else sha256_text("no goals")


def lemma(goal: str | Goal, name: str, lets: str = "equation") -> Theorem:
    """The goal as a theorem: hypotheses as binders in their order (`inst✝ : Foo α` as `[Foo α]`), the target as
    conclusion. A `let` hypothesis `z : T := v`: lets="equation" binds `(z : T)` and then `(hz : z = v)`;
    lets="let" puts `let z : T := v;` and every hypothesis after it in the conclusion."""
    if lets not in ("equation", "let"):
        raise ValueError(f"lets must be 'equation' or 'let', got {lets!r}")
    original = parse_goal(goal) if isinstance(goal, str) else goal
    g = accessible(original)
    for text in [g.target] + [t for h in g.hypotheses for t in (h.type, h.value or "")]:
        if _UNWRITABLE.search(text):
            raise UnparsableStatement(f"goal holds a metavariable or an omitted proof: {text[:80]!r}")
    taken = _words(g)
    binders: list[Binder] = []
    inside: list[str] = []  # lets="let": what goes before the conclusion, from the first let on
    for h, was in zip(g.hypotheses, original.hypotheses):
        if h.value is not None and lets == "let" or inside:
            inside.append(_in_conclusion(h))
        elif all(n.startswith("inst✝") for n in was.names):  # an instance nobody named
            binders.extend(Binder("[", (), h.type) for _ in h.names)
        else:
            binders.append(Binder("(", h.names, h.type))
            if h.value is not None:
                binders.extend(Binder("(", (_fresh(f"h{n}", taken),), f"{n} = {h.value}") for n in h.names)
    return Theorem("theorem", name, tuple(binders), "".join(inside) + g.target)


def _in_conclusion(h: Hypothesis) -> str:
    if h.value is not None:
        return "".join(f"let {n} : {h.type} := {h.value}; " for n in h.names)
    return f"∀ ({' '.join(h.names)} : {h.type}), "


def lemma_statement(goal: str | Goal, name: str, lets: str = "equation") -> str:
    """lemma() as the text of a statement (`theorem NAME binders :\\n    concl := by sorry`)."""
    return surgery.render(lemma(goal, name, lets), "by sorry")
