"""`flywheel lean audit`: stored proofs re-checked outside the REPL. Exit 1 when some were refused or
could not be audited (a tool missing, timed out or crashed: those wait, with no verdict)."""

from __future__ import annotations

import argparse

from flywheel.config import Config


def register(leansub: argparse._SubParsersAction) -> None:
    p = leansub.add_parser("audit", help="re-check stored proofs in fresh Lean processes (kernel replay, axioms, "
                                         "statement identity); only audited proofs are exported")
    p.add_argument("--round", type=int, help="only proofs of this round (default: every round)")
    p.add_argument("--recheck", action="store_true", help="also proofs already audited or refused")
    p.add_argument("--workers", type=int, help="modules compiled at once (default lean.workers)")
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace, cfg: Config) -> int:
    from db.store import Store
    from orchestration.audit_stage import run_audit
    from orchestration.round import StopOnSignal

    with Store.open(cfg.db) as store, StopOnSignal() as stop:
        counts = run_audit(store, cfg, args.round, args.recheck, args.workers or cfg.lean.workers, stop=stop.event)
    print(counts.render())
    waiting = any(k.startswith("left unaudited") for k in counts.outcomes)
    return 1 if counts.dropped or waiting else 0
