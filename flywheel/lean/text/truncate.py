"""Where a checked proof first goes wrong, and the proof up to there: as the resume point a generator continues,
or closed with `all_goals sorry` at each open block's indentation, a sketch that elaborates (Verifier.sketch).

Lean's layout rule: the tactics of a block stand at one column, so a closer written at a block's column on a
new line is a tactic of that block; `all_goals sorry` closes whatever that block still has open, nothing when
nothing is (a bare `sorry` would fail on no goals).
"""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.lean.text.lexer import CLOSERS, OPEN_TO_CLOSE, mask
from flywheel.lean.tactics.records import Checked, Position, TacticInfo

CLOSER = "all_goals sorry"


@dataclass(slots=True, frozen=True)
class Failure:
    at: Position  # where the proof stops being good, in the proof body (line 1 is its first line)
    message: dict  # Lean's first error in the proof
    tactic: TacticInfo | None  # the innermost listed tactic holding the error, if Lean listed one
    unsolved: bool = False  # an `unsolved goals` error of a whole block: `at` is the block's end


def _pos(d: dict | None) -> Position | None:
    if not isinstance(d, dict) or type(d.get("line")) is not int or type(d.get("column")) is not int:
        return None
    return Position(d["line"], d["column"])


def _error_span(message: dict, checked: Checked) -> tuple[Position, Position | None]:
    start = _pos(message["proof_pos"])
    end = _pos(message.get("endPos"))
    if end is not None:
        line = end.line - checked.proof_line + 1
        end = Position(line, end.column - checked.proof_col if line == 1 else end.column)
    return start, end


def first_failure(checked: Checked) -> Failure | None:
    """The first error in the proof and the innermost tactic whose span holds it. Lean puts `unsolved goals` on
    the block that left them (its `by` to its end): the failure is at that end. None when nothing in the proof
    failed."""
    errors = [m for m in checked.verdict.messages if m.get("severity") == "error" and _pos(m.get("proof_pos"))]
    if not errors:
        return None
    first = min(errors, key=lambda m: _pos(m["proof_pos"]))
    start, end = _error_span(first, checked)
    if end is not None and str(first.get("data", "")).startswith("unsolved goals"):  # Lean puts it on the block
        return Failure(end, first, None, unsolved=True)
    holding = [t for t in checked.tactics if t.contains(start)]
    if not holding:  # Lean listed no tactic there (a parse error, a tactic whose info it dropped)
        return Failure(start, first, None)
    inner = max(holding, key=lambda t: (t.pos, _neg(t.end_pos)))
    return Failure(inner.pos, first, inner)


def _neg(p: Position) -> tuple[int, int]:
    return (-p.line, -p.column)


def _offset(text: str, p: Position) -> int:
    at = 0
    for _ in range(p.line - 1):
        nl = text.find("\n", at)
        if nl < 0:
            return len(text)
        at = nl + 1
    return min(at + p.column, len(text))


def _block_starts(checked: Checked) -> list[Position]:
    """Where tactics stand at their block's column: each tactic first on its line (after any focusing dot),
    and the first tactic of the proof's first line (after its `by`). Without tactics listed, the layout
    alone: the first character of each line after the first."""
    text = checked.proof
    if not checked.tactics:
        return [Position(i + 1, len(line) - len(line.lstrip())) for i, line in enumerate(text.split("\n"))
                if i and line.strip()]
    out = []
    for t in checked.tactics:
        at = _offset(text, t.pos)
        if t.pos.line > 1 and text[text.rfind("\n", 0, at) + 1 : at].strip() in ("", "·", "."):
            out.append(t.pos)
    first_line = [t.pos for t in checked.tactics if t.pos.line == 1]
    return sorted(set(out + ([min(first_line)] if first_line else [])))


def _column(checked: Checked, p: Position) -> int:
    """A column of the proof body as a column of the checked code: the proof's first line starts at proof_col."""
    return p.column + (checked.proof_col if p.line == 1 else 0)


def _block_columns(checked: Checked, before: Position, limit: float) -> list[int]:
    """The columns of the blocks open at `before`, innermost first, left of `limit`: walking back, each block
    start further left than the last column found."""
    cols: list[int] = []
    for p in reversed([p for p in _block_starts(checked) if p < before]):
        col = _column(checked, p)
        if col < (cols[-1] if cols else limit):
            cols.append(col)
    return cols


def _closers(cols: list[int]) -> str:
    return "".join(f"\n{' ' * c}{CLOSER}" for c in cols)


def _balanced(segment: str) -> bool:
    depth = 0
    for ch in mask(segment).code:
        depth += ch in OPEN_TO_CLOSE
        depth -= ch in CLOSERS
    return depth == 0


def prefix(checked: Checked, failure: Failure | None, close: bool = True) -> str:
    """The proof before the failure. close=False: cut exactly there, indentation kept, the point a generator
    resumes from. close=True: the goals left open closed by `all_goals sorry` in each block, so the prefix
    elaborates as a sketch (`incomplete`). With no failure, the proof as it is."""
    text = checked.proof
    if failure is None:
        return text
    cut = _offset(text, failure.at)
    if not close:
        return text[:cut]
    if failure.unsolved:  # the block ended with goals open: closed where it ends, and each block around it
        return text[:cut].rstrip() + _closers(_block_columns(checked, failure.at, float("inf")))
    line_start = text.rfind("\n", 0, cut) + 1
    before = text[line_start:cut]
    indent = len(before) - len(before.lstrip())
    line = Position(failure.at.line, 0)
    if line_start > 0 and (before.strip() in ("", "·", ".") or not _balanced(before)):
        # the failing line goes whole (a tactic inside a term cannot be cut out alone); its block is closed
        return text[:line_start].rstrip("\n") + _closers([indent] + _block_columns(checked, line, indent))
    # after `by`, `;`, `<;>` or `=>`: a closer takes the failing tactic's place, then the blocks around it
    head = text[:cut] + CLOSER
    if line_start == 0:
        return head + _closers(_block_columns(checked, failure.at, _column(checked, failure.at)))
    return head + _closers([indent] + _block_columns(checked, line, indent))
