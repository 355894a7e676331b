"""Verified pairs out as an SFT dataset TRL takes unchanged; the same store always gives the same bytes."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, Sequence

from sqlalchemy import text

from db.store import Store
from flywheel.benchmarks import normalized_forms
from flywheel.config import AUDIT_CHECKS
from flywheel.errors import ConfigError, OutputError
from flywheel.prompting import chat_messages, lean_feedback, proof_completion, proof_prompt, repair_messages, repair_prompt

STYLES = ("prompt-completion", "messages")
FORMATS = ("jsonl", "parquet")
TURNS = ("final", "all")  # final: the proof alone; all: a repair chain's failed proofs and Lean's feedback before it
SIDES = ("statement", "negation", "false_hyps")
DEFAULT_SIDES = ("statement", "negation")  # a proof of `hyps ⊢ False` teaches little; only on request
# Beside the training fields: where each pair came from, so a researcher can trace and slice the data.
LINEAGE = ("statement_id", "side", "round", "source", "model", "attempt_id")
# What a folder may hold for a new export to replace it: an earlier export's files, nothing else of the user's.
OURS = {"manifest.json", *(f"train.{fmt}" for fmt in FORMATS)}


def parse_sides(value: str | Sequence[str]) -> tuple[str, ...]:
    """`statement,negation`, or `all`; in the order of SIDES, each once."""
    words = [w.strip() for w in (value.split(",") if isinstance(value, str) else value) if w.strip()]
    if "all" in words:
        return SIDES
    unknown = sorted(set(words) - set(SIDES))
    if unknown or not words:
        raise ConfigError(f"export: sides must be some of {', '.join(SIDES)} (or all), got {','.join(words) or 'none'}")
    return tuple(s for s in SIDES if s in words)


def _query(rounds: Sequence[int] | None, sides: Sequence[str]):
    where, params = ["v.audit IS DISTINCT FROM 'refused'", "v.side = ANY(:sides)"], {"sides": list(sides)}
    if rounds:
        where.append("v.round = ANY(:rounds)")
        params["rounds"] = list(rounds)
    sql = ("SELECT v.statement_id, v.side, v.round, v.header, v.preamble, v.theorem, v.proof, v.statement, v.informal,"
           " v.audit, p.audit_checks, v.source, v.model, a.attempt_key AS attempt_id, a.id AS attempt_pk,"
           " CASE WHEN a.strategy = 'repair' AND a.turn > 0 THEN a.parent_id END AS parent_id,"  # only a repair revision's parent
           " src.text AS derived_from_text"  # a subgoal lemma's source statement (decompose)
           " FROM verified_pairs v JOIN proofs p ON p.statement_id = v.statement_id AND p.side = v.side"
           " JOIN proof_attempts a ON a.id = p.attempt_id JOIN statements st ON st.id = v.statement_id"
           f" LEFT JOIN statements src ON src.id = st.derived_from WHERE {' AND '.join(where)}"
           " ORDER BY v.round, v.side, v.statement_id")
    return text(sql), params


_CHAINS = """
WITH RECURSIVE chain (id, parent_id, proof, messages, reason, depth, leaf) AS (
    SELECT a.id, a.parent_id, a.proof, a.messages, a.reason, 0, a.id FROM proof_attempts a WHERE a.id = ANY(:ids)
    UNION ALL
    SELECT p.id, CASE WHEN p.strategy = 'repair' AND p.turn > 0 THEN p.parent_id END, p.proof, p.messages,
           p.reason, c.depth + 1, c.leaf
    FROM proof_attempts p JOIN chain c ON p.id = c.parent_id
)
SELECT leaf, proof, messages, reason FROM chain WHERE depth > 0 ORDER BY leaf, depth DESC
"""


def _chains(conn, rows) -> dict[int, list[tuple[str, list, str | None]]]:
    """For each proof that revises an attempt: the failed attempts before it, oldest first (proof, Lean's
    messages, reason). Only repair revisions link a chain: decomposition's sketch is a parent too, but the
    assembled proof is no revision of it."""
    ids = [r.attempt_pk for r in rows if r.parent_id is not None]
    out: dict[int, list] = {}
    if ids:
        for leaf, proof, messages, reason in conn.execute(text(_CHAINS), {"ids": ids}):
            out.setdefault(leaf, []).append((proof, messages or [], reason))
    return out


def _record(row, style: str, failed: list[tuple[str, str]] = ()) -> dict:
    """failed: (proof, Lean's feedback) of each attempt the proof revised, oldest first (--turns all)."""
    if style == "messages":
        final = chat_messages(row.header, row.theorem, row.proof, row.informal, row.preamble)
        messages = repair_messages(row.header, row.theorem, list(failed), row.informal, row.preamble) + final[-1:] \
            if failed else final
        out = {"messages": messages}
    elif failed:  # what the prover was asked for this revision
        out = {"prompt": repair_prompt(row.header, row.theorem, *failed[-1], row.informal, row.preamble),
               "completion": proof_completion(row.proof)}
    else:
        out = {"prompt": proof_prompt(row.header, row.theorem, row.informal, row.preamble),
               "completion": proof_completion(row.proof)}
    return out | {k: getattr(row, k) for k in LINEAGE}


def _feedback(chain, errors: int) -> list[tuple[str, str]]:
    return [(proof, lean_feedback(proof, messages, reason, errors)) for proof, messages, reason in chain]


def _repair_errors(config: dict) -> int:
    """How many of Lean's errors the round's repair prompts showed (prover.repair_errors)."""
    return int((config.get("prover") or {}).get("repair_errors") or 3)


def _schema(style: str):
    import pyarrow as pa

    if style == "messages":
        turn = pa.struct([("content", pa.string()), ("role", pa.string())])
        training = [("messages", pa.list_(turn))]
    else:
        training = [("completion", pa.string()), ("prompt", pa.string())]
    lineage = [(k, pa.int64() if k == "round" else pa.string()) for k in LINEAGE]
    return pa.schema(sorted(training + lineage))


def _write(records: list[dict], path: Path, fmt: str, style: str) -> None:
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(records, schema=_schema(style))
    pq.write_table(table, path, compression="zstd", write_statistics=False, store_schema=False)


def _round_configs(store: Store, numbers: Sequence[int]) -> dict[str, dict]:
    with store.read_only() as conn:
        rows = conn.execute(text("SELECT number, config FROM rounds WHERE number = ANY(:n) ORDER BY number"),
                            {"n": list(numbers)}).all()
    return {str(n): config or {} for n, config in rows}


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"export: {out} is a file; --out names a folder")
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OURS)
        if foreign:
            raise ConfigError(f"export: {out} holds files that are not an export's ({', '.join(foreign[:3])}); "
                              "an export replaces its folder whole, so name an empty or new one")


@contextmanager
def _writing(out: Path, target: Path):
    """A write that fails (disk full, a file size limit) drops the new export; the old one in out stays whole."""
    try:
        yield
    except OSError as e:
        raise OutputError(f"export: cannot write {target}: {e.strerror or e}; {out} is left as it was") from e


def _swap_in(fresh: Path, out: Path) -> None:
    """Replace out by fresh with two renames on one file system: a reader sees the old export or the new one."""
    if not out.exists():
        fresh.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    out.rename(old / out.name)
    fresh.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def export_dataset(store: Store, out_dir: str | Path, fmt: str = "jsonl", style: str = "prompt-completion",
                   rounds: Sequence[int] | None = None, sides: Sequence[str] = DEFAULT_SIDES,
                   exclude_benchmarks: Sequence[str] = ("minif2f", "proofnet"), include_unaudited: bool = False,
                   turns: str = "final", require_checks: Sequence[str] = AUDIT_CHECKS) -> dict:
    """Write train.{jsonl,parquet} and manifest.json as the whole of out_dir (built beside it, then swapped in);
    returns the manifest. Refused proofs are never written; proofs not audited yet, or audited without one of
    require_checks, only with include_unaudited."""
    from flywheel.version import code_version

    sides = parse_sides(sides)
    if fmt not in FORMATS or style not in STYLES or turns not in TURNS:
        raise ConfigError(f"export: format must be one of {FORMATS}, style of {STYLES}, turns of {TURNS}")
    out = Path(out_dir)
    _check_target(out)
    chosen = select_pairs(store, rounds, sides, exclude_benchmarks, include_unaudited, turns == "all", require_checks)
    kept, chains = chosen.kept, chosen.chains
    name = f"train.{fmt}"
    with _writing(out, out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        configs = _round_configs(store, sorted({r.round for r in kept}))
        records = [_record(r, style, _feedback(chains.get(r.attempt_pk, ()), _repair_errors(configs.get(str(r.round), {}))))
                   for r in kept]
        with _writing(out, out / name):
            _write(records, fresh / name, fmt, style)
        manifest = _manifest(chosen, fmt, style, rounds, sides, exclude_benchmarks, include_unaudited, require_checks)
        manifest["filters"]["turns"] = turns
        manifest["counts"]["repaired"] = sum(1 for r in kept if r.parent_id is not None)
        manifest |= {"files": {name: hashlib.sha256((fresh / name).read_bytes()).hexdigest()},
                     "code": code_version(), "config": configs}
        with _writing(out, out / "manifest.json"):
            (fresh / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n",
                                                 encoding="utf-8")
        _swap_in(fresh, out)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    return manifest


class Selection(NamedTuple):
    kept: list  # the pairs an export writes
    excluded: int  # left out: a benchmark's statement
    unaudited: int  # left out: not audited yet
    short: int  # left out: audited without a check the policy requires (export.require_checks)
    chains: dict  # with_chains: each kept repair's failed attempts before it


def select_pairs(store: Store, rounds: Sequence[int] | None, sides: Sequence[str] = DEFAULT_SIDES,
                 exclude_benchmarks: Sequence[str] = ("minif2f", "proofnet"), include_unaudited: bool = False,
                 with_chains: bool = False, require_checks: Sequence[str] = AUDIT_CHECKS) -> Selection:
    """The pairs an export writes, with how many a benchmark's statement, a missing audit and an audit short of
    require_checks left out, and (with_chains) each kept repair's failed attempts before it."""
    from flywheel.lean.text.statements import normalize_statement

    banned = normalized_forms(exclude_benchmarks) if exclude_benchmarks else set()
    query, params = _query(rounds, parse_sides(sides))
    with store.read_only() as conn:
        rows = conn.execute(query, params).all()
        chains = _chains(conn, rows) if with_chains else {}
    kept, excluded, unaudited, short = [], 0, 0, 0
    for row in rows:
        if row.audit is None and not include_unaudited:
            unaudited += 1
            continue
        if row.audit == "audited" and not include_unaudited and not set(require_checks) <= set(row.audit_checks or ()):
            short += 1
            continue
        # a subgoal lemma goes with its source: excluded when that is a benchmark's statement
        if banned and (normalize_statement(row.statement) in banned
                       or row.derived_from_text is not None and normalize_statement(row.derived_from_text) in banned):
            excluded += 1
            continue
        kept.append(row)
    return Selection(kept, excluded, unaudited, short, chains)


def _manifest(chosen: Selection, fmt, style, rounds, sides, exclude_benchmarks, include_unaudited, require_checks) -> dict:
    by_side: dict[str, int] = {}
    by_round: dict[str, int] = {}
    models: dict[str, int] = {}
    for r in chosen.kept:
        by_side[r.side] = by_side.get(r.side, 0) + 1
        by_round[str(r.round)] = by_round.get(str(r.round), 0) + 1
        models[r.model or "unknown"] = models.get(r.model or "unknown", 0) + 1
    return {
        "format": fmt, "style": style, "fields": sorted(_record_fields(style)),
        "filters": {"rounds": sorted(rounds) if rounds else "all", "sides": list(sides),
                    "exclude_benchmarks": sorted(exclude_benchmarks), "include_unaudited": include_unaudited,
                    "require_checks": list(require_checks)},
        "counts": {"total": len(chosen.kept), "excluded_benchmark": chosen.excluded,
                   "excluded_unaudited": chosen.unaudited, "excluded_checks": chosen.short,
                   "by_side": dict(sorted(by_side.items())), "by_round": dict(sorted(by_round.items()))},
        "models": dict(sorted(models.items())),
    }


def _record_fields(style: str) -> list[str]:
    return (["messages"] if style == "messages" else ["prompt", "completion"]) + list(LINEAGE)
