"""What `flywheel status` shows: where the store is, the rounds and their stages, the funnel."""

from __future__ import annotations

from sqlalchemy import text

from db import migrate
from db.sql import render_table
from db.store import Store


def status_report(store: Store) -> str:
    parts = [f"store: {store.describe()}", f"schema: {migrate.current_revision(store.engine)}"]
    with store.read_only() as conn:
        rounds = conn.execute(text("SELECT number, stages, started_at, finished_at FROM rounds ORDER BY number")).all()
        problems = conn.execute(text("SELECT source, count(*) FROM problems GROUP BY source ORDER BY source")).all()
        funnel = conn.execute(text("SELECT * FROM round_funnel ORDER BY round"))
        funnel_cols, funnel_rows = list(funnel.keys()), [tuple(r) for r in funnel]
        drops = conn.execute(text("SELECT round, drop_reason, statements FROM drop_reasons ORDER BY round, drop_reason")).all()
    total = sum(n for _, n in problems)
    parts.append(f"problems: {total}" + (" (" + ", ".join(f"{s}: {n}" for s, n in problems) + ")" if problems else ""))
    if rounds:
        stage_rows = []
        for number, stages, started, finished in rounds:
            ordered = sorted((stages or {}).items(), key=lambda kv: (kv[1].get("started_at") or "", kv[1].get("ended_at") or ""))
            for name, entry in ordered:
                stage_rows.append((number, name, entry.get("state", "?"), entry.get("started_at", ""), entry.get("ended_at", "")))
            if not stages:
                stage_rows.append((number, "-", "not started", "", ""))
        parts.append("rounds:\n" + render_table(["round", "stage", "state", "started", "ended"], stage_rows))
    else:
        parts.append("rounds: none yet (`flywheel run` starts one)")
    parts.append("funnel:\n" + render_table(funnel_cols, funnel_rows))
    if drops:
        parts.append("dropped by reason:\n" + render_table(["round", "reason", "statements"], [tuple(r) for r in drops]))
    return "\n\n".join(parts)
