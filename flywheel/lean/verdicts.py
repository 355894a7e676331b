"""Verdicts: a closed set of statuses, with Lean's messages, the axioms, the time, and the reason."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flywheel.lean.protocol import Answer
from flywheel.lean.soundness import Policy, check_axioms, parse_axioms
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

    def to_json(self) -> dict:
        return {"verdict": self.status.value, "reason": self.reason, "messages": self.messages,
                "axioms": self.axioms, "time_s": round(self.time_s, 4), "cached": self.cached}


def verdict_from_json(d: dict) -> Verdict:
    """The inverse of Verdict.to_json (how verdicts cross process boundaries as plain data)."""
    return Verdict(VerdictStatus(d["verdict"]), d.get("reason"), list(d.get("messages") or []), d.get("axioms"),
                   float(d.get("time_s") or 0.0), bool(d.get("cached")))


def crashed_verdict(reason: str, time_s: float = 0.0) -> Verdict:
    return Verdict(VerdictStatus.CRASHED, reason, time_s=time_s)


def map_positions(messages: list[dict], proof_line: int, proof_col: int) -> list[dict]:
    """Add `proof_pos`: where a message falls in the proof body the model wrote (1-based line)."""
    out = []
    for m in messages:
        m = dict(m)
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


def classify(answer: Answer, name: str, axioms_answer: Answer | None, policy: Policy, *,
             expect_sorry: bool = False) -> Verdict:
    """`proved` only when Lean reported no error and no sorry, and `#print axioms name` was answered
    with allowed axioms alone; anything less is never proved."""
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
    if axioms_answer is None:
        return Verdict(VerdictStatus.REJECTED, "no answer to #print axioms", messages)
    axioms = parse_axioms(axioms_answer.get("messages", []), name)
    if axioms is None:
        return Verdict(VerdictStatus.REJECTED, f"#print axioms did not report {name}", messages)
    bad = check_axioms(axioms, policy)
    if bad is not None:
        return Verdict(VerdictStatus.REJECTED, bad, messages, axioms)
    return Verdict(VerdictStatus.PROVED, None, messages, axioms)
