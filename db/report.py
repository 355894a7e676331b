"""The numbers of `flywheel report`, read from the store in one read-only transaction: plain JSON types."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from db.store import Store


def _rows(conn, sql: str) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(text(sql))]


def report_data(store: Store) -> dict:
    with store.read_only() as conn:
        rounds = _rows(conn, "SELECT number, stages, started_at, finished_at FROM rounds ORDER BY number")
        funnel = {r["round"]: r for r in _rows(conn, "SELECT * FROM round_funnel ORDER BY round")}
        drops = _rows(conn, "SELECT round, drop_reason, statements FROM drop_reasons ORDER BY round, drop_reason")
        attempts = _rows(conn, "SELECT round, side, count(*) AS attempts, count(*) FILTER (WHERE NOT cached) AS checks, "
                               "coalesce(sum(time_s), 0) AS lean_s FROM proof_attempts GROUP BY round, side ORDER BY 1, 2")
        growth = _rows(conn, "SELECT round, count(*) AS proofs, count(*) FILTER (WHERE audit = 'audited') AS audited "
                             "FROM proofs GROUP BY round ORDER BY round")
        checkpoints = _rows(conn, "SELECT id, round, path, base_model, metrics, created_at FROM checkpoints ORDER BY round, id")
        evaluations = _rows(conn, "SELECT id, round, checkpoint, checkpoint_id, benchmark, split, n, problems, pass_at_k, "
                                  "by_source, budgets, finished_at FROM evaluations ORDER BY started_at, id")
    return {
        "rounds": [_round(r, funnel.get(r["number"], {}), attempts) for r in rounds],
        "drop_reasons": [{"round": d["round"], "reason": d["drop_reason"], "statements": d["statements"]} for d in drops],
        "pass_at_k": [_plain(e) for e in evaluations],
        "training": [_plain(c) | {"loss": loss_curve(c)} for c in checkpoints],
        "dataset": _growth(growth),
    }


def _round(r: dict, funnel: dict, attempts: list[dict]) -> dict:
    stages = r["stages"] or {}

    def counts(stage: str) -> dict:
        return (stages.get(stage) or {}).get("counts") or {}

    filt = counts("filter")
    kept_by_filter = {}  # what is left after each filter, cheapest first, from the filter stage's drop counts
    left = filt.get("in", funnel.get("statements", 0))
    for reason, n in (filt.get("dropped") or {}).items():
        left -= n
        kept_by_filter[reason] = left
    prove = counts("prove").get("outcomes") or {}
    mine = [a for a in attempts if a["round"] == r["number"]]
    seconds = {s: float(counts(s).get("seconds", 0.0)) for s in ("autoformalize", "hypotheses", "prove")}
    n_attempts = sum(a["attempts"] for a in mine)
    lean_s = sum(float(a["lean_s"]) for a in mine)
    checks = sum(a["checks"] for a in mine)
    prove_wall = seconds["hypotheses"] + seconds["prove"]
    return {
        "round": r["number"],
        "finished": r["finished_at"] is not None,
        "stages": {name: entry.get("state") for name, entry in stages.items()},
        "funnel": {
            "problems": counts("autoformalize").get("in", 0),
            "statements": funnel.get("statements", 0),
            "kept_after": kept_by_filter,
            "kept": filt.get("kept", 0),
            "proved: statement": int(prove.get("proved: statement", 0)),
            "proved: negation": int(prove.get("proved: negation", 0)),
            "open": funnel.get("open", 0),
        },
        "throughput": {
            "attempts": n_attempts, "lean_checks": checks, "lean_seconds": round(lean_s, 3),
            "prove_seconds": round(prove_wall, 3),
            "attempts_per_s": round(n_attempts / prove_wall, 3) if prove_wall else None,
            "checks_per_lean_s": round(checks / lean_s, 3) if lean_s else None,
            "statements_per_s": (round(funnel.get("statements", 0) / seconds["autoformalize"], 3)
                                 if seconds["autoformalize"] else None),
        },
    }


def loss_curve(checkpoint: dict) -> list[dict]:
    """[{step, loss}] from the checkpoint's metrics (the trainer's loss per step) or a trainer_state.json."""
    history = (checkpoint.get("metrics") or {}).get("loss")
    if not isinstance(history, list):
        state = Path(checkpoint["path"]) / "trainer_state.json"
        try:
            history = json.loads(state.read_text(encoding="utf-8")).get("log_history", [])
        except (OSError, ValueError):
            history = []
    return [{"step": int(h["step"]), "loss": float(h["loss"])} for h in history if "loss" in h and "step" in h]


def _growth(rows: list[dict]) -> list[dict]:
    out, proofs, audited = [], 0, 0
    for r in rows:
        proofs, audited = proofs + r["proofs"], audited + r["audited"]
        out.append({"round": r["round"], "proofs": proofs, "audited": audited})
    return out


def _plain(row: dict) -> dict:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
