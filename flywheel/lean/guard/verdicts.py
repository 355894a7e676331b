"""Verdicts: a closed set of statuses, with Lean's messages, the axioms, the time, and the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flywheel.lean.repl.protocol import Answer
from flywheel.lean.guard.axioms import check_axioms, parse_axioms
from flywheel.lean.guard.soundness import Policy
from flywheel.records import VerdictStatus

# Lean before 4.28 quotes with '…', from 4.28 with `…`.
SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")


@dataclass(slots=True)
class Verdict:
    status: VerdictStatus
    reason: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    axioms: list[str] | None = None
    time_s: float = 0.0
    cached: bool = False
    limited: bool = False  # the verdict of one of our limits (lean.max_answer_mb), not Lean's: never cached

    def to_json(self) -> dict:
        return {"verdict": self.status.value, "reason": self.reason, "messages": self.messages,
                "axioms": self.axioms, "time_s": round(self.time_s, 4), "cached": self.cached, "limited": self.limited}


def verdict_from_json(d: dict) -> Verdict:
    """The inverse of Verdict.to_json (how verdicts cross process boundaries as plain data)."""
    return Verdict(VerdictStatus(d["verdict"]), d.get("reason"), list(d.get("messages") or []), d.get("axioms"),
                   float(d.get("time_s") or 0.0), bool(d.get("cached")), bool(d.get("limited")))


def crashed_verdict(reason: str, time_s: float = 0.0) -> Verdict:
    return Verdict(VerdictStatus.CRASHED, reason, time_s=time_s)


def map_positions(messages: list[dict], proof_line: int, proof_col: int) -> list[dict]:
    """Add `proof_pos`: where a message falls in the proof body the model wrote (1-based line); and `goal`, the
    goals Lean printed in the message (an `unsolved goals` error, a failed tactic's goal block) where
    tactic-level information gave none."""
    from flywheel.lean.tactics.records import goals_of_message  # records reads verdicts: imported when used

    out = []
    for m in messages:
        m = dict(m)
        if "goal" not in m and (goals := goals_of_message(str(m.get("data", "")))):
            m["goal"] = "\n\n".join(goals)
        pos = m.get("pos") or {}
        line = pos.get("line")
        col = pos.get("column", 0)
        if isinstance(line, int) and (line > proof_line or (line == proof_line and col >= proof_col)):
            m["proof_pos"] = {"line": line - proof_line + 1, "column": col - proof_col if line == proof_line else col}
        out.append(m)
    return out


def _first(messages: list[dict], severity: str) -> str | None:
    for m in messages:
        if m.get("severity") == severity:
            return str(m.get("data", "")).strip().splitlines()[0] if m.get("data") else severity
    return None


def uses_sorry(answer: Answer) -> bool:
    if answer.get("sorries"):
        return True
    return any(m.get("severity") == "warning" and SORRY_WARNING.search(str(m.get("data", ""))) is not None
               for m in answer.get("messages", []))


def with_axioms(code: str, name: str) -> tuple[str, tuple[int, int]]:
    """The check and `#print axioms name` as one REPL command (one round trip), and where Lean reports the
    axioms: at the `#print` token (Lean's `withRef tk`), the start of the last line, column 0."""
    return f"{code}\n\n#print axioms {name}", (code.count("\n") + 3, 0)


def _at(message: dict, at: tuple[int, int]) -> bool:
    pos = message.get("pos")
    return (message.get("severity") == "info" and isinstance(pos, dict)
            and type(pos.get("line")) is int and type(pos.get("column")) is int
            and (pos["line"], pos["column"]) == at)


def axioms_missing(answer: Answer, at: tuple[int, int]) -> bool:
    """A clean answer from a REPL that gives no positions (messages, none with one): then `#print axioms` is
    asked again as a command of its own, whose answer holds nothing of the proof's. An answer with no message
    at all is no such REPL's: our `#print axioms` never ran (the command stopped early, `#exit`), and asked
    again it would be answered by whatever holds the name then. That stays unanswered, and so refused."""
    messages = answer.get("messages", [])
    return (bool(messages) and not any("pos" in m for m in messages)
            and not any(m.get("severity") == "error" for m in messages) and not uses_sorry(answer)
            and not any(_at(m, at) for m in messages))


def classify(answer: Answer, name: str, axioms_answer: Answer | None, policy: Policy, *,
             expect_sorry: bool = False, axioms_at: tuple[int, int] | None = None) -> Verdict:
    """`proved` only when Lean reported no error and no sorry, and `#print axioms name` was answered
    with allowed axioms alone; anything less is never proved.

    The axioms come from `axioms_answer` (a command of its own), else from `answer` itself when the check
    ended with `#print axioms` (with_axioms): then only from the one info message at that command's position
    `axioms_at`. The proof shares the answer and can print any info message of its own (`trace`, `simp?`),
    but only at positions inside itself; two messages at ours are refused."""
    if "message" in answer and "env" not in answer:
        return Verdict(VerdictStatus.CRASHED, f"REPL error: {answer['message']}")
    messages = list(answer.get("messages", []))
    error = _first(messages, "error")
    if error is not None:
        return Verdict(VerdictStatus.FAILED, error, messages)
    if uses_sorry(answer):
        return Verdict(VerdictStatus.INCOMPLETE, "uses sorry" if not expect_sorry else None, messages)
    if expect_sorry:  # a compile check of a statement whose proof is sorry, answered without one
        return Verdict(VerdictStatus.FAILED, "the statement was checked without its sorry", messages)
    if axioms_answer is not None:
        axioms = parse_axioms(axioms_answer.get("messages", []), name)
    elif axioms_at is not None:
        ours = [m for m in messages if _at(m, axioms_at)]
        if len(ours) > 1:
            return Verdict(VerdictStatus.REJECTED, "more than one message where #print axioms answers", messages)
        messages = [m for m in messages if not _at(m, axioms_at)]
        axioms = parse_axioms(ours, name)
    else:
        return Verdict(VerdictStatus.REJECTED, "no answer to #print axioms", messages)
    if axioms is None:
        return Verdict(VerdictStatus.REJECTED, f"#print axioms did not report {name}", messages)
    bad = check_axioms(axioms, policy)
    if bad is not None:
        return Verdict(VerdictStatus.REJECTED, bad, messages, axioms)
    return Verdict(VerdictStatus.PROVED, None, messages, axioms)
