"""Store side of the audit: proofs waiting for it, a batch at a time, and its verdicts written back in bulk."""

from __future__ import annotations

import json
from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.config import AUDIT_CHECKS
from flywheel.lean.audit.checks import AuditInput, AuditResult, AuditStatus

_PENDING = """
SELECT p.statement_id, p.side, s.header, s.preamble, p.theorem, p.proof
FROM proofs p JOIN statements s ON s.id = p.statement_id
WHERE (p.statement_id, p.side) > (:after_id, :after_side) {where}
ORDER BY p.statement_id, p.side
LIMIT :limit
"""
_SAVE = """
UPDATE proofs AS p SET audit = v.audit, audit_reason = v.reason, audit_toolchain = v.toolchain,
    audit_checks = v.checks::jsonb, audited_at = now()
FROM (VALUES %s) AS v (statement_id, side, audit, reason, toolchain, checks)
WHERE p.statement_id = v.statement_id AND p.side = v.side
"""
# No verdict (a tool failed): the reason is kept for `flywheel status`; a verdict a recheck could not renew stays.
_WAIT = """
UPDATE proofs AS p SET audit_reason = v.reason
FROM (VALUES %s) AS v (statement_id, side, reason)
WHERE p.statement_id = v.statement_id AND p.side = v.side AND p.audit IS NULL
"""


def proof_id(statement_id: str, side: str) -> str:
    return f"{statement_id}/{side}"


def pending(session: Session, after: tuple[str, str] = ("", ""), limit: int = 256, round_: int | None = None,
            recheck: bool = False) -> list[AuditInput]:
    """The next proofs after `after` (statement id, side) in key order: not yet audited, or all with recheck.
    Keyset order lets a recheck walk the table once although every row it passes stays eligible."""
    where = ("" if recheck else " AND p.audit IS NULL") + ("" if round_ is None else " AND p.round = :round")
    params = {"after_id": after[0], "after_side": after[1], "limit": limit, "round": round_}
    rows = session.execute(text(_PENDING.format(where=where)), params).all()
    return [AuditInput(proof_id(r.statement_id, r.side), r.header, r.preamble or "", r.theorem, r.proof) for r in rows]


def save_audits(session: Session, results: Sequence[AuditResult], toolchain: str) -> None:
    """Verdicts in one UPDATE, the reasons proofs still wait in another; the caller's transaction commits both."""
    from psycopg2.extras import execute_values

    verdicts = [(*r.id.split("/", 1), r.status.value, r.reason, toolchain,
                 json.dumps(list(r.checks)) if r.status is AuditStatus.AUDITED else None)
                for r in results if r.status is not AuditStatus.UNAUDITED]
    waiting = [(*r.id.split("/", 1), r.reason) for r in results if r.status is AuditStatus.UNAUDITED]
    with session.connection().connection.dbapi_connection.cursor() as cur:
        if verdicts:
            execute_values(cur, _SAVE, verdicts)
        if waiting:
            execute_values(cur, _WAIT, waiting)


def waiting_reasons(session: Session) -> list[tuple[str, int]]:
    """Proofs not audited yet, by why they wait (the kind of the last tool failure, or `not tried yet`)."""
    rows = session.execute(text(
        "SELECT coalesce(split_part(audit_reason, ':', 1), 'not tried yet') AS why, count(*) FROM proofs"
        " WHERE audit IS NULL GROUP BY why ORDER BY why")).all()
    return [(r[0], int(r[1])) for r in rows]


def audited_without(session: Session) -> list[tuple[tuple[str, ...], int]]:
    """Audited proofs whose audit ran without some of AUDIT_CHECKS (a toolchain without lean4checker):
    (the checks missing, how many)."""
    rows = session.execute(text(
        "SELECT audit_checks, count(*) FROM proofs WHERE audit = 'audited' AND NOT coalesce(audit_checks, '[]')"
        " @> CAST(:all AS jsonb) GROUP BY audit_checks"), {"all": json.dumps(list(AUDIT_CHECKS))}).all()
    out: dict[tuple[str, ...], int] = {}
    for checks, n in rows:
        missing = tuple(c for c in AUDIT_CHECKS if c not in (checks or []))
        out[missing] = out.get(missing, 0) + int(n)
    return sorted(out.items())
