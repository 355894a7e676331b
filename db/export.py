"""Verified pairs out as an SFT dataset TRL takes unchanged; the same store always gives the same bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from sqlalchemy import text

from db.store import Store
from flywheel.benchmarks import normalized_forms
from flywheel.errors import ConfigError
from flywheel.prompting import chat_messages, proof_completion, proof_prompt

STYLES = ("prompt-completion", "messages")
FORMATS = ("jsonl", "parquet")
SIDES = ("statement", "negation", "false_hyps", "all")


def _query(rounds: Sequence[int] | None, side: str):
    where, params = ["audit IS DISTINCT FROM 'refused'"], {}
    if rounds:
        where.append("round = ANY(:rounds)")
        params["rounds"] = list(rounds)
    if side != "all":
        where.append("side = :side")
        params["side"] = side
    sql = ("SELECT statement_id, side, round, header, preamble, theorem, proof, statement, informal, audit "
           f"FROM verified_pairs WHERE {' AND '.join(where)} ORDER BY round, side, statement_id")
    return text(sql), params


def _record(row, style: str) -> dict:
    if style == "messages":
        return {"messages": chat_messages(row.header, row.theorem, row.proof, row.informal, row.preamble)}
    return {"prompt": proof_prompt(row.header, row.theorem, row.informal, row.preamble),
            "completion": proof_completion(row.proof)}


def _write(records: list[dict], path: Path, fmt: str) -> None:
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(records) if records else pa.table({"prompt": pa.array([], pa.string())})
    pq.write_table(table, path, compression="zstd", write_statistics=False, store_schema=False)


def export_dataset(store: Store, out_dir: str | Path, fmt: str = "jsonl", style: str = "prompt-completion",
                   rounds: Sequence[int] | None = None, side: str = "all",
                   exclude_benchmarks: Sequence[str] = ("minif2f", "proofnet"), include_unaudited: bool = False) -> dict:
    """Write train.{jsonl,parquet} and manifest.json into out_dir; returns the manifest. Refused proofs are never
    written; proofs not audited yet only with include_unaudited."""
    from flywheel.lean.statements import normalize_statement

    if fmt not in FORMATS or style not in STYLES or side not in SIDES:
        raise ConfigError(f"export: format must be one of {FORMATS}, style of {STYLES}, side of {SIDES}")
    banned = normalized_forms(exclude_benchmarks) if exclude_benchmarks else set()
    query, params = _query(rounds, side)
    with store.read_only() as conn:
        rows = conn.execute(query, params).all()
    kept, excluded, unaudited = [], 0, 0
    for row in rows:
        if row.audit is None and not include_unaudited:
            unaudited += 1
            continue
        if banned and normalize_statement(row.statement) in banned:
            excluded += 1
            continue
        kept.append(row)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = f"train.{fmt}"
    _write([_record(r, style) for r in kept], out / name, fmt)
    by_side: dict[str, int] = {}
    by_round: dict[str, int] = {}
    for r in kept:
        by_side[r.side] = by_side.get(r.side, 0) + 1
        by_round[str(r.round)] = by_round.get(str(r.round), 0) + 1
    manifest = {
        "format": fmt, "style": style,
        "filters": {"rounds": sorted(rounds) if rounds else "all", "side": side,
                    "exclude_benchmarks": sorted(exclude_benchmarks), "include_unaudited": include_unaudited},
        "counts": {"total": len(kept), "excluded_benchmark": excluded, "excluded_unaudited": unaudited,
                   "by_side": dict(sorted(by_side.items())), "by_round": dict(sorted(by_round.items()))},
        "files": {name: hashlib.sha256((out / name).read_bytes()).hexdigest()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
