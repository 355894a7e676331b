"""Store side of the audit: proofs waiting for it, a batch at a time, and its verdicts written back in bulk."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from flywheel.lean.audit import AuditInput, AuditResult

_PENDING = """
SELECT p.statement_id, p.side, s.header, s.preamble, p.theorem, p.proof
FROM proofs p JOIN statements s ON s.id = p.statement_id
WHERE (p.statement_id, p.side) > (:after_id, :after_side) {where}
ORDER BY p.statement_id, p.side
LIMIT :limit
"""
_SAVE = """
UPDATE proofs AS p SET audit = v.audit, audit_reason = v.reason, audit_toolchain = v.toolchain, audited_at = now()
FROM (VALUES %s) AS v (statement_id, side, audit, reason, toolchain)
WHERE p.statement_id = v.statement_id AND p.side = v.side
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
    """One UPDATE for a batch; the caller's transaction commits it whole."""
    if not results:
        return
    from psycopg2.extras import execute_values

    rows = [(*r.id.split("/", 1), r.status.value, r.reason, toolchain) for r in results]
    with session.connection().connection.dbapi_connection.cursor() as cur:
        execute_values(cur, _SAVE, rows)
