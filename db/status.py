"""What `flywheel status` shows: where the store is, the rounds and their stages, the funnel."""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import text

from db import migrate
from db.audit import audited_without, waiting_reasons
from db.rounds import owner_alive
from db.sql import render_table
from db.store import Store
from flywheel.config import AUDIT_CHECKS
from flywheel.records import ROUND_STAGES


def status_report(store: Store, require_checks: Sequence[str] = AUDIT_CHECKS) -> str:
    parts = [f"store: {store.describe()}", f"schema: {migrate.current_revision(store.engine)}"]
    with store.read_only() as conn:
        rounds = conn.execute(text("SELECT number, stages, started_at, finished_at FROM rounds ORDER BY number")).all()
        problems = conn.execute(text("SELECT source, count(*) FROM problems GROUP BY source ORDER BY source")).all()
        funnel = conn.execute(text("SELECT * FROM round_funnel ORDER BY round"))
        funnel_cols, funnel_rows = list(funnel.keys()), [tuple(r) for r in funnel]
        drops = conn.execute(text("SELECT round, drop_reason, statements FROM drop_reasons ORDER BY round, drop_reason")).all()
    with store.session() as s:
        waiting = waiting_reasons(s)
        short = audited_without(s)
    total = sum(n for _, n in problems)
    parts.append(f"problems: {total}" + (" (" + ", ".join(f"{s}: {n}" for s, n in problems) + ")" if problems else ""))
    if rounds:
        stage_rows = []
        for number, stages, started, finished in rounds:
            for name, entry in sorted((stages or {}).items(), key=_run_order):
                stage_rows.append((number, name, shown_state(entry), entry.get("started_at", ""), entry.get("ended_at", "")))
            if not stages:
                stage_rows.append((number, "-", "not started", "", ""))
        parts.append("rounds:\n" + render_table(["round", "stage", "state", "started", "ended"], stage_rows))
        parts.extend(_pass_at_k(store))
    else:
        parts.append("rounds: none yet (`flywheel run` starts one)")
    if waiting:
        why = ", ".join(f"{reason}: {n}" for reason, n in waiting)
        parts.append(f"audit: {sum(n for _, n in waiting)} proofs wait ({why}); `flywheel lean audit` takes them up")
    for missing, n in short:
        verdict = ("leaves them out of exports and training" if set(missing) & set(require_checks)
                   else "accepts them")
        parts.append(f"audit: {n} proofs audited without {', '.join(missing)} (the toolchain lacks it); "
                     f"export.require_checks ({', '.join(require_checks)}) {verdict}")
    parts.append("funnel:\n" + render_table(funnel_cols, funnel_rows))
    if drops:
        parts.append("dropped by reason:\n" + render_table(["round", "reason", "statements"], [tuple(r) for r in drops]))
    return "\n\n".join(parts)


def _run_order(item: tuple[str, dict]) -> tuple:
    """The order the round runs its stages in (a resumed stage's times would put audit before prove)."""
    name, entry = item
    known = ROUND_STAGES.index(name) if name in ROUND_STAGES else len(ROUND_STAGES)
    return known, entry.get("started_at") or "", name


def shown_state(entry: dict) -> str:
    """A stage's recorded state; `running` only while the process that runs it lives."""
    state = entry.get("state", "?")
    if state == "skipped":
        return f"skipped: {(entry.get('counts') or {}).get('reason', '?')}"
    owner = entry.get("owner")
    if state != "running" or not owner:
        return state
    alive = owner_alive(owner)
    if alive is None:
        return f"running on {owner.get('host')} (pid {owner.get('pid')}; not checked from here)"
    if alive:
        return f"running (pid {owner['pid']})"
    return f"died (pid {owner['pid']} is gone; `flywheel run --resume` continues)"


def _pass_at_k(store: Store) -> list[str]:
    """The latest pass@k of each round's evaluate stage, as its own small table."""
    from db.evaluation import latest_by_round

    with store.session() as s:
        latest = latest_by_round(s)
    if not latest:
        return []
    rows = [(r, f"{e['benchmark']} {e['split']} (n={e['n']})", e["checkpoint"],
             ", ".join(f"pass@{k} {100 * v:.1f}%" for k, v in sorted(e["pass_at_k"].items(), key=lambda kv: int(kv[0]))))
            for r, e in sorted(latest.items())]
    return ["pass@k by round:\n" + render_table(["round", "benchmark", "checkpoint", "pass@k"], rows)]
