"""What the REPL says about the tactics of a proof, as typed records: the tactics a command ran (`allTactics`,
`infotree`), the `sorry`s it left with their goals, and the answers of tactic mode (`{"tactic", "proofState"}`).

Positions are Lean's: 1-based lines, 0-based columns counted in characters. `in_proof` moves them into the
proof body the model wrote (the verifier's `proof_line`/`proof_col`), as `map_positions` does for messages.
A malformed answer is a ProtocolError that names the field.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, replace
from typing import Any, Iterator, Union

from flywheel.lean.guard import soundness
from flywheel.lean.text.lexer import Kind, tokenize
from flywheel.lean.repl.protocol import ProtocolError
from flywheel.lean.guard.soundness import Policy
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import VerdictStatus

NO_GOALS = "no goals"


@dataclass(slots=True, frozen=True, order=True)
class Position:
    line: int  # 1-based
    column: int  # 0-based, in characters

    def to_json(self) -> dict:
        return {"line": self.line, "column": self.column}


@dataclass(slots=True, frozen=True)
class Sorry:
    pos: Position | None  # None in tactic mode, where the sorry has no place in a command
    end_pos: Position | None
    goal: str
    proof_state: int | None


@dataclass(slots=True, frozen=True)
class TacticInfo:
    pos: Position
    end_pos: Position
    tactic: str
    goals_before: tuple[str, ...]
    goals_after: tuple[str, ...] | None = None  # what the infotree says; `allTactics` gives only the goals before
    proof_state: int | None = None  # tactic mode can resume here (the goals before this tactic)
    used_constants: tuple[str, ...] | None = None

    def contains(self, pos: Position) -> bool:
        return self.pos == pos or self.pos <= pos < self.end_pos


@dataclass(slots=True, frozen=True)
class ProofStep:
    """A tactic ran: the new proof state and its goals."""
    proof_state: int
    goals: tuple[str, ...]
    status: str | None  # the REPL's proofStatus ("Completed", "Incomplete: ..."); older REPLs give none
    sorries: tuple[Sorry, ...] = ()
    messages: tuple[dict, ...] = ()

    @property
    def finished(self) -> bool:
        """No goal left and no sorry used on the way."""
        if self.status is not None:
            return self.status == "Completed"
        return not self.goals and not self.sorries


@dataclass(slots=True, frozen=True)
class TacticError:
    """The tactic failed: Lean's error, and the proof state the REPL made anyway (None when it made none)."""
    message: str
    proof_state: int | None = None
    messages: tuple[dict, ...] = ()


StepOutcome = Union[ProofStep, TacticError]


def _field(d: Any, key: str, kind: type | tuple[type, ...], where: str, optional: bool = False):
    if not isinstance(d, dict):
        raise ProtocolError(f"{where}: expected a JSON object, got {type(d).__name__}")
    if key not in d or d[key] is None:
        if optional:
            return None
        raise ProtocolError(f"{where}: no {key!r} field")
    value = d[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ProtocolError(f"{where}: {key!r} is {type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return value


def _position(d: Any, key: str, where: str, optional: bool = False) -> Position | None:
    p = _field(d, key, dict, where, optional)
    if p is None:
        return None
    return Position(_field(p, "line", int, f"{where}.{key}"), _field(p, "column", int, f"{where}.{key}"))


def _strings(d: Any, key: str, where: str, optional: bool = False) -> tuple[str, ...] | None:
    items = _field(d, key, list, where, optional)
    if items is None:
        return None
    if not all(isinstance(x, str) for x in items):
        raise ProtocolError(f"{where}: {key!r} holds something other than strings")
    return tuple(items)


def split_goals(goals: str) -> tuple[str, ...]:
    """`allTactics` prints the goals as one text: each goal, a blank line between two; "no goals" for none."""
    if goals.strip() in ("", NO_GOALS):
        return ()
    return tuple(g.strip("\n") for g in goals.split("\n\n") if g.strip())


UNSOLVED = "unsolved goals"
# A line of a goal as Lean prints one: a case tag, hypotheses `names : type` (or `name : type := value`), the
# turnstile, or a continuation of the line before (indented).
_GOAL_LINE = re.compile(r"case \S|⊢ |\s|[^\s:][^:]*? :(?: |$)")


def goals_of_message(data: str) -> tuple[str, ...]:
    """The goals an error message prints, for a repair prompt: everything after `unsolved goals` (one goal per
    block, blank lines between), else the goal block that ends a tactic's failure (`linarith failed to find a
    contradiction` then `case a`, the hypotheses and `⊢ False`): the lines from the first `⊢` back over goal
    lines to the message's own text, through the end. None where Lean printed no `⊢`."""
    text = str(data)
    if text.startswith(UNSOLVED):
        return split_goals(text[len(UNSOLVED):].lstrip("\n"))
    lines = text.split("\n")
    turnstile = next((i for i, line in enumerate(lines) if line.startswith("⊢ ")), None)
    if not turnstile:  # none, or the message is nothing but a goal (no failure text to tell it from)
        return ()
    start = turnstile
    while start > 1 and lines[start - 1] and _GOAL_LINE.match(lines[start - 1]):
        start -= 1
    return split_goals("\n".join(lines[start:]))


def parse_sorry(d: Any, where: str = "sorry") -> Sorry:
    return Sorry(_position(d, "pos", where, optional=True), _position(d, "endPos", where, optional=True),
                 _field(d, "goal", str, where), _field(d, "proofState", int, where, optional=True))


def parse_tactic(d: Any, where: str = "tactic") -> TacticInfo:
    return TacticInfo(_position(d, "pos", where), _position(d, "endPos", where), _field(d, "tactic", str, where),
                      split_goals(_field(d, "goals", str, where)), None,
                      _field(d, "proofState", int, where, optional=True),
                      _strings(d, "usedConstants", where, optional=True))


def parse_sorries(answer: Any) -> tuple[Sorry, ...]:
    items = _field(answer, "sorries", list, "answer", optional=True) or []
    return tuple(parse_sorry(s, f"sorries[{i}]") for i, s in enumerate(items))


def parse_tactics(answer: Any) -> tuple[TacticInfo, ...]:
    """The tactics of a command sent with `allTactics`, in the REPL's order (by position)."""
    items = _field(answer, "tactics", list, "answer", optional=True) or []
    return tuple(parse_tactic(t, f"tactics[{i}]") for i, t in enumerate(items))


def _tactic_nodes(nodes: list, where: str) -> Iterator[TacticInfo]:
    for i, tree in enumerate(nodes):
        at = f"{where}[{i}]"
        node = _field(tree, "node", dict, at, optional=True)
        if tree.get("kind") == "TacticInfo" and node is not None and node.get("name") is not None:
            rng = _field(_field(node, "stx", dict, f"{at}.node"), "range", dict, f"{at}.node.stx")
            yield TacticInfo(_position(rng, "start", f"{at}.range"), _position(rng, "finish", f"{at}.range"),
                             _field(node["stx"], "pp", str, f"{at}.node.stx"),
                             _strings(node, "goalsBefore", f"{at}.node"), _strings(node, "goalsAfter", f"{at}.node"))
        yield from _tactic_nodes(_field(tree, "children", list, at, optional=True) or [], f"{at}.children")


def infotree_tactics(answer: Any) -> tuple[TacticInfo, ...]:
    """Every TacticInfo node of the answer's `infotree` (a command sent with `"infotree": "substantive"` or
    "full"), with the goals before and after, in tree order: a tactic sequence comes before its tactics."""
    return tuple(_tactic_nodes(_field(answer, "infotree", list, "answer", optional=True) or [], "infotree"))


def with_goals_after(tactics: tuple[TacticInfo, ...], tree: tuple[TacticInfo, ...]) -> tuple[TacticInfo, ...]:
    """The `allTactics` records completed by the infotree's goals after, matched by span (the innermost node
    of a span, the tactic itself, is the last of that span in tree order)."""
    after = {(t.pos, t.end_pos): t.goals_after for t in tree}
    return tuple(replace(t, goals_after=after.get((t.pos, t.end_pos))) for t in tactics)


def parse_step(answer: Any) -> StepOutcome:
    """The answer to `{"tactic": ..., "proofState": n}`. An error of the REPL's own ("Lean error: ...",
    "Unknown proof state.") and a tactic that left error messages are both a TacticError."""
    if not isinstance(answer, dict):
        raise ProtocolError(f"tactic answer: expected a JSON object, got {type(answer).__name__}")
    if "proofState" not in answer:
        message = _field(answer, "message", str, "tactic answer")
        return TacticError(message.removeprefix("Lean error:").strip())
    state = _field(answer, "proofState", int, "tactic answer")
    messages = tuple(_field(answer, "messages", list, "tactic answer", optional=True) or [])
    errors = [m for m in messages if isinstance(m, dict) and m.get("severity") == "error"]
    if errors:
        return TacticError(str(errors[0].get("data", "error")), state, messages)
    return ProofStep(state, _strings(answer, "goals", "tactic answer"),
                     _field(answer, "proofStatus", str, "tactic answer", optional=True),
                     parse_sorries(answer), messages)


def _moved(pos: Position | None, line: int, col: int) -> Position | None:
    if pos is None:
        return None
    return Position(pos.line - line + 1, pos.column - col if pos.line == line else pos.column)


def _inside(pos: Position | None, line: int, col: int) -> bool:
    return pos is not None and (pos.line > line or pos.line == line and pos.column >= col)


def in_proof(tactics: tuple[TacticInfo, ...], sorries: tuple[Sorry, ...], proof_line: int,
             proof_col: int) -> tuple[tuple[TacticInfo, ...], tuple[Sorry, ...]]:
    """The tactics and sorries that lie in the proof body, at positions in it (line 1 is the proof's first
    line, whose columns count from the proof's start); those of the code around it (a preamble's `by`) left out."""
    ts = tuple(replace(t, pos=_moved(t.pos, proof_line, proof_col), end_pos=_moved(t.end_pos, proof_line, proof_col))
               for t in tactics if _inside(t.pos, proof_line, proof_col))
    ss = tuple(replace(s, pos=_moved(s.pos, proof_line, proof_col), end_pos=_moved(s.end_pos, proof_line, proof_col))
               for s in sorries if s.pos is None or _inside(s.pos, proof_line, proof_col))
    return ts, ss


@dataclass(slots=True, frozen=True)
class Checked:
    """A verdict with the tactics Lean ran and the sorries it met, at positions in `proof`."""
    verdict: Verdict
    proof: str  # the proof body as Lean saw it (the verifier drops the newlines around it): spans index this
    tactics: tuple[TacticInfo, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    proof_col: int = 0  # the column in the checked code where the proof's first line starts
    proof_line: int = 0  # the line of the checked code where the proof starts


def scan_sketch(sketch: str, policy: Policy) -> str | None:
    """The guard for a sketch: the proof guard, with the token `sorry` alone let through (`admit`, `sorryAx`
    and the rest stay banned). Only the sketch path uses it, and its verdicts are never `proved`."""
    lexed = tokenize(sketch)
    holes = [t for t in lexed.tokens if t.kind is Kind.NAME and t.text == "sorry"]
    text = sketch
    for t in reversed(holes):
        text = text[: t.start] + "_" + text[t.end :]  # a hole: what the guard sees instead of the sorry
    reason = soundness.scan_proof(text, policy)
    if reason is None and not holes:
        return "a sketch needs a sorry (a proof without one is checked as a proof)"
    return reason


def proof_body(code: str, proof_line: int, proof_col: int) -> str:
    """The proof as Lean saw it in the checked code: from where it starts, without the verifier's closing
    parenthesis."""
    lines = code.split("\n")
    return code[sum(len(x) + 1 for x in lines[: proof_line - 1]) + proof_col:].removesuffix("\n)")


def checked_from(verdict: Verdict, answer: Any, code: str, proof_line: int, proof_col: int,
                 sketch: bool, tree: bool = False) -> Checked:
    """The Checked of an answer to code sent with `allTactics` (and `infotree` when tree). A sketch that used
    no sorry and failed nothing is refused: the sketch path never vouches for a proof."""
    body = proof_body(code, proof_line, proof_col)
    if answer is None:
        return Checked(verdict, body, proof_col=proof_col, proof_line=proof_line)
    try:
        tactics, sorries = parse_tactics(answer), parse_sorries(answer)
        if tree:
            tactics = with_goals_after(tactics, infotree_tactics(answer))
    except ProtocolError as e:
        return Checked(Verdict(VerdictStatus.CRASHED, f"malformed tactic information: {e}", verdict.messages,
                               time_s=verdict.time_s), body, proof_col=proof_col, proof_line=proof_line)
    tactics, sorries = in_proof(tactics, sorries, proof_line, proof_col)
    if sketch and verdict.status is VerdictStatus.FAILED and not any(
            m.get("severity") == "error" for m in verdict.messages):
        verdict = Verdict(VerdictStatus.REJECTED, "the sketch used no sorry: check it as a proof", verdict.messages,
                          time_s=verdict.time_s)
    return Checked(verdict, body, tactics, sorries, proof_col, proof_line)
