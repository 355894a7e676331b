"""The audit stage: stored proofs through `flywheel.lean.audit.checks`, a committed batch at a time, so a killed
audit loses at most the batch in flight and a rerun takes up the rest."""

from __future__ import annotations

import threading

from db.store import Store
from flywheel.config import Config
from flywheel.counts import StageCounts


def run_audit(store: Store, cfg: Config, round_: int | None = None, recheck: bool = False, workers: int = 1,
              batch: int = 256, stop: threading.Event | None = None) -> StageCounts:
    """One audit at a time on a store (two would audit the same pending proofs twice)."""
    from db.owner import own

    with own(store, "the audit", "it takes up every pending proof; a second audit has nothing to add"):
        return _audit(store, cfg, round_, recheck, workers, batch, stop)


def _audit(store: Store, cfg: Config, round_: int | None, recheck: bool, workers: int, batch: int,
           stop: threading.Event | None) -> StageCounts:
    from db import audit as dbaudit
    from flywheel.lean.audit.checks import AuditStatus, audit, audit_toolchain, missing_tools

    counts = StageCounts("audit")
    missing = missing_tools(cfg.lean)
    if missing:
        counts.outcomes[f"cannot audit: {missing}"] = 1
    after = ("", "")
    while stop is None or not stop.is_set():
        with store.session() as s:
            proofs = dbaudit.pending(s, after, batch, round_, recheck)
        if not proofs:
            break
        after = tuple(proofs[-1].id.split("/", 1))
        results = audit(proofs, cfg.lean, workers=workers)
        with store.session() as s:
            dbaudit.save_audits(s, results, audit_toolchain(cfg.lean))
        counts.seen += len(results)
        for r in results:
            if r.status is AuditStatus.AUDITED:
                counts.kept += 1
            elif r.status is AuditStatus.UNAUDITED:  # no verdict: it waits for the tools
                counts.outcomes[f"left unaudited: {r.refusal.value}"] += 1
            else:
                counts.drop(r.refusal.value)
    return counts.stop()
