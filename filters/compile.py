"""The compile filter: a statement with its proof `sorry` must elaborate, i.e. come back `incomplete`."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

from filters.base import Decision, Drop, InfraFailed
from flywheel.lean.text.statements import with_preamble
from flywheel.records import DropReason, Statement, VerdictStatus

log = logging.getLogger(__name__)

# compile_check(header, statement) -> Verdict; the statement (after its preamble) has the proof `sorry`.
CompileCheck = Callable[[str, str], object]
# What Lean's machinery did, not what it says of the statement: never a reason to drop one.
INFRA = (VerdictStatus.TIMEOUT, VerdictStatus.CRASHED)


@dataclass(slots=True, frozen=True)
class Retries:
    """How often a check that timed out or crashed is tried again, and the wait before each new try
    (`backoff_s`, doubled each time)."""

    retries: int = 2
    backoff_s: float = 1.0


def decide(verdict) -> Decision:
    if verdict.status in (VerdictStatus.INCOMPLETE, VerdictStatus.PROVED):
        return None
    if verdict.status is VerdictStatus.FAILED:
        first = next((m.get("data", "") for m in verdict.messages if m.get("severity") == "error"), "")
        return Drop(DropReason.DOES_NOT_COMPILE, (first or verdict.reason or "Lean reported errors")[:500])
    said = ": ".join(x for x in (verdict.status.value, verdict.reason) if x)
    if verdict.status in INFRA:
        return InfraFailed(said[:500])
    # rejected: banned content in the statement, never a statement worth proving
    return Drop(DropReason.DOES_NOT_COMPILE, said)


def check_with_retries(check: Callable[[], object], retries: Retries, what: str,
                       sleep: Callable[[float], None] = time.sleep):
    """The first verdict that is not an infrastructure outcome, or the last of 1 + retries tries. A try
    after a timeout or crash runs on a fresh REPL (the pool replaces the one it killed), or on Ray on the
    next idle worker, another one where there are several."""
    verdict = check()
    for k in range(retries.retries):
        if verdict.status not in INFRA:
            return verdict
        wait = retries.backoff_s * 2**k
        log.warning("%s: Lean %s (%s); try %d of %d in %.1f s", what, verdict.status.value, verdict.reason or "",
                    k + 2, retries.retries + 1, wait)
        sleep(wait)
        verdict = check()
    return verdict


def compile_filter(statements: Sequence[Statement], compile_check: CompileCheck, workers: int = 1,
                   retries: Retries = Retries()) -> list[Decision]:
    def one(st: Statement) -> Decision:
        verdict = check_with_retries(lambda: compile_check(st.header, with_preamble(st.preamble, st.text)),
                                     retries, f"compile check of statement {st.id[:12]}")
        decision = decide(verdict)
        if isinstance(decision, InfraFailed):
            decision = InfraFailed(f"{decision.detail} ({retries.retries + 1} tries)")
            log.error("statement %s: no compile verdict after %d tries (%s); infra_failed, filtered again next round",
                      st.id[:12], retries.retries + 1, verdict.status.value)
        return decision

    if workers <= 1:
        return [one(st) for st in statements]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compile") as pool:
        return list(pool.map(one, statements))
