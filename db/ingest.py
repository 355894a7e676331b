"""Problems in from JSONL (or a JSON array): mapped fields, content ids, batches committed as they go."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from db.models import ProblemRow
from db.store import Store
from flywheel.errors import ConfigError
from flywheel.hashing import normalize_informal, sha256_text
from flywheel.jsonl import BadRecord, read_records
from flywheel.records import Problem
from flywheel.text import unwrap_lean_comment

# Tried in order when --map does not name the field.
DEFAULT_FIELDS = {
    "informal": ("informal", "problem", "question", "informal_statement", "informal_prefix", "statement"),
    "answer": ("answer", "final_answer"),
    "id": ("id", "name", "unique_id", "problem_id"),
}
_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.S)


@dataclass(slots=True)
class FieldMap:
    informal: str | None = None
    answer: str | None = None
    id: str | None = None

    @classmethod
    def parse(cls, items: list[str]) -> "FieldMap":
        fmap = cls()
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or key not in ("informal", "answer", "id") or not value:
                raise ConfigError(f"--map {item!r}: expected informal=FIELD, answer=FIELD or id=FIELD")
            setattr(fmap, key, value)
        return fmap


@dataclass(slots=True)
class IngestReport:
    path: str
    read: int = 0
    new: int = 0
    duplicate: int = 0
    rejected: list[BadRecord] = field(default_factory=list)


def _pick(obj: dict, explicit: str | None, role: str) -> tuple[str | None, Any]:
    if explicit is not None:
        return explicit, obj.get(explicit)
    for name in DEFAULT_FIELDS[role]:
        if name in obj:
            return name, obj[name]
    return None, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(type(value).__name__)
    return str(value)


def to_problem(obj: dict, where: BadRecord, source: str, fmap: FieldMap) -> Problem | BadRecord:
    """One record → Problem, or BadRecord naming the missing or mistyped field."""
    name, value = _pick(obj, fmap.informal, "informal")
    if name is None or value is None:
        wanted = fmap.informal or "|".join(DEFAULT_FIELDS["informal"])
        return BadRecord(where.path, where.line, f"missing field {wanted!r} (the informal problem)")
    if not isinstance(value, str):
        return BadRecord(where.path, where.line, f"field {name!r} must be text, got {type(value).__name__}")
    informal = unwrap_lean_comment(value)
    if not informal:
        return BadRecord(where.path, where.line, f"field {name!r} is empty")
    used = {name}
    picked: dict[str, str | None] = {}
    for role in ("answer", "id"):
        fname, fvalue = _pick(obj, getattr(fmap, role), role)
        if getattr(fmap, role) is not None and fname not in obj:
            return BadRecord(where.path, where.line, f"missing field {fname!r} (--map {role}={fname})")
        try:
            picked[role] = _text(fvalue)
        except TypeError as e:
            return BadRecord(where.path, where.line, f"field {fname!r} must be text or a number, got {e}")
        if fname is not None:
            used.add(fname)
    meta = {k: v for k, v in obj.items() if k not in used}
    answer = picked["answer"]
    if answer is not None and (m := _GSM8K_ANSWER.search(answer)):
        meta["solution"], answer = answer, m.group(1)  # GSM8K: the worked solution ends "#### N"
    pid = sha256_text(source, normalize_informal(informal))
    return Problem(pid, source, picked["id"], informal, answer, meta)


def _write(store: Store, problems: list[Problem]) -> int:
    if not problems:
        return 0
    rows = {p.id: dict(id=p.id, source=p.source, external_id=p.external_id, informal=p.informal,
                       answer=p.answer, meta=p.metadata) for p in problems}
    with store.session() as s:
        stmt = insert(ProblemRow).values(list(rows.values())).on_conflict_do_nothing().returning(ProblemRow.id)
        return len(s.execute(stmt).all())


def ingest_file(store: Store, path: str | Path, source: str, fmap: FieldMap, batch: int = 1000) -> IngestReport:
    """Good records are stored batch by batch even when others are rejected; nothing stored is lost."""
    if not source.strip():
        raise ConfigError("--source must name the problems' origin, e.g. math500")
    report = IngestReport(str(path))
    pending: list[Problem] = []
    accepted = 0
    for item in read_records(path):
        if isinstance(item, BadRecord):
            report.rejected.append(item)
            report.read += 0 if item.reason.startswith("empty file") else 1
            continue
        line, obj = item
        report.read += 1
        result = to_problem(obj, BadRecord(str(path), line, ""), source, fmap)
        if isinstance(result, BadRecord):
            report.rejected.append(result)
            continue
        accepted += 1
        pending.append(result)
        if len(pending) >= batch:
            report.new += _write(store, pending)
            pending.clear()
    report.new += _write(store, pending)
    report.duplicate = accepted - report.new  # already stored, or twice in this file
    return report
