"""The compile filter: a statement with its proof `sorry` must elaborate, i.e. come back `incomplete`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from filters.base import Decision, Drop
from flywheel.lean.statements import with_preamble
from flywheel.records import DropReason, Statement, VerdictStatus

# compile_check(header, statement) -> Verdict; the statement (after its preamble) has the proof `sorry`.
CompileCheck = Callable[[str, str], object]


def decide(verdict) -> Decision:
    if verdict.status in (VerdictStatus.INCOMPLETE, VerdictStatus.PROVED):
        return None
    if verdict.status is VerdictStatus.FAILED:
        first = next((m.get("data", "") for m in verdict.messages if m.get("severity") == "error"), "")
        return Drop(DropReason.DOES_NOT_COMPILE, (first or verdict.reason or "Lean reported errors")[:500])
    # rejected (banned content in the statement), timeout, crashed: never a statement worth proving
    return Drop(DropReason.DOES_NOT_COMPILE, f"{verdict.status.value}: {verdict.reason or ''}".strip())


def compile_filter(statements: Sequence[Statement], compile_check: CompileCheck, workers: int = 1) -> list[Decision]:
    def one(st: Statement) -> Decision:
        return decide(compile_check(st.header, with_preamble(st.preamble, st.text)))

    if workers <= 1:
        return [one(st) for st in statements]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compile") as pool:
        return list(pool.map(one, statements))
