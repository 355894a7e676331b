"""Problems in from JSONL (or a JSON array): mapped fields, content ids, batches committed as they go."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from db.models import ProblemRow
from db.store import Store
from flywheel.errors import ConfigError
from flywheel.fields import DEFAULT_FIELDS, FieldMap, optional_text, pick
from flywheel.hashing import normalize_informal, sha256_text
from flywheel.jsonl import BadRecord, read_records
from flywheel.records import Problem, Statement
from flywheel.text import refused_character, storable, unwrap_lean_comment

log = logging.getLogger(__name__)

_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.S)


@dataclass(slots=True)
class IngestReport:
    path: str
    read: int = 0
    new: int = 0
    duplicate: int = 0
    rejected: list[BadRecord] = field(default_factory=list)
    changed: int = 0  # records whose external id was stored (or read) before with other text
    warnings: list[BadRecord] = field(default_factory=list)  # stored, but worth a look


def to_problem(obj: dict, where: BadRecord, source: str, fmap: FieldMap) -> Problem | BadRecord:
    """One record → Problem, or BadRecord naming the missing or mistyped field."""
    name, value = pick(obj, fmap.informal, "informal")
    if name is None or value is None:
        wanted = fmap.informal or "|".join(DEFAULT_FIELDS["informal"])
        return BadRecord(where.path, where.line, f"missing field {wanted!r} (the informal problem)")
    if not isinstance(value, str):
        return BadRecord(where.path, where.line, f"field {name!r} must be text, got {type(value).__name__}")
    informal = unwrap_lean_comment(value)
    if not informal:
        return BadRecord(where.path, where.line, f"field {name!r} is empty")
    if bad := refused_character(informal):
        return BadRecord(where.path, where.line, f"field {name!r} holds {bad}, which the store refuses")
    used = {name}
    picked: dict[str, str | None] = {}
    for role in ("answer", "id"):
        got = optional_text(obj, where, getattr(fmap, role), role)
        if isinstance(got, BadRecord):
            return got
        fname, picked[role] = got
        if fname is not None:
            used.add(fname)
    meta = {k: v for k, v in obj.items() if k not in used}
    answer = picked["answer"]
    if answer is not None and (m := _GSM8K_ANSWER.search(answer)):
        meta["solution"], answer = answer, m.group(1)  # GSM8K: the worked solution ends "#### N"
    pid = sha256_text(source, normalize_informal(informal))
    return Problem(pid, source, picked["id"], informal, answer, meta)


def _rows(problems: list[Problem]) -> list[dict]:
    # metadata is kept whole: what jsonb refuses in it (NUL, NaN) is escaped, not a reason to lose the problem
    return list({p.id: dict(id=p.id, source=p.source, external_id=p.external_id, informal=p.informal,
                            answer=p.answer, meta=storable(p.metadata)) for p in problems}.values())


def write_problems(store: Store, problems: list[Problem]) -> int:
    """Store problems in one transaction (one already stored is skipped); returns how many were new."""
    with store.session() as s:
        stmt = insert(ProblemRow).values(_rows(problems)).on_conflict_do_nothing().returning(ProblemRow.id)
        return len(s.execute(stmt).all())


# A record ready to store: a problem, with the statement a formal record gives (None for informal problems).
Item = tuple[Problem, Statement | None]
Writer = Callable[[Store, list[Item]], int]  # stores items in one transaction; returns how many were new


def write_items(store: Store, items: list[Item]) -> int:
    """Informal problems; a formal record's problem and its statement (new statements are counted)."""
    statements = [st for _, st in items if st is not None]
    if not statements:
        return write_problems(store, [p for p, _ in items])
    from db.statements import insert_statements

    with store.session() as s:
        s.execute(insert(ProblemRow).values(_rows([p for p, _ in items])).on_conflict_do_nothing())
        return insert_statements(s, statements)


def _write(store: Store, pending: list[tuple[BadRecord, Item]], report: IngestReport) -> None:
    """One INSERT for the batch; if the store refuses it, each record alone, so that a record the store
    refuses is named FILE:LINE and never costs its batch."""
    if not pending:
        return
    try:
        report.new += write_items(store, [it for _, it in pending])
        return
    except DBAPIError as e:
        log.warning("%s: the store refused a batch of %d records (%s); storing them one by one",
                    report.path, len(pending), _why(e))
    for where, item in pending:
        try:
            report.new += write_items(store, [item])
        except DBAPIError as e:
            report.rejected.append(BadRecord(where.path, where.line, f"the store refused it: {_why(e)}"))


def _why(e: DBAPIError) -> str:
    return str(getattr(e.orig, "pgerror", None) or e.orig or e).strip().splitlines()[0]


def _note_changed(store: Store, pending: list[tuple[BadRecord, Item]], report: IngestReport) -> None:
    """Warn for each record whose external id is stored, or came earlier in this batch, with other text: it
    becomes a second problem (the id is the text's hash), which is seldom what the file meant."""
    ids = {p.external_id for _, (p, _) in pending if p.external_id is not None}
    if not ids:
        return
    source = pending[0][1][0].source
    with store.session() as s:
        known: dict[str, set[str]] = {}
        for ext, pid in s.execute(select(ProblemRow.external_id, ProblemRow.id)
                                  .where(ProblemRow.source == source, ProblemRow.external_id.in_(ids))):
            known.setdefault(ext, set()).add(pid)
    for where, (p, _) in pending:
        if p.external_id is None:
            continue
        others = known.setdefault(p.external_id, set())
        if others - {p.id}:
            report.changed += 1
            report.warnings.append(BadRecord(where.path, where.line, f"id {p.external_id!r} was stored before with "
                                             "other text; this text is stored as a second problem"))
        others.add(p.id)


Convert = Callable[[dict, BadRecord], "Problem | Item | BadRecord"]


def ingest_file(store: Store, path: str | Path, source: str, fmap: FieldMap, batch: int = 1000,
                progress: Callable[[int], None] | None = None, convert: Convert | None = None) -> IngestReport:
    """Good records are stored batch by batch even when others are rejected; nothing stored is lost.
    `progress(n)` is told of every n records read. `convert(record, where)` makes each record a problem (by
    default the informal one `to_problem` reads) or a (problem, statement) pair, or names why not."""
    if not source.strip():
        raise ConfigError("--source must name the problems' origin, e.g. math500")
    if convert is None:
        def convert(obj: dict, where: BadRecord):
            return to_problem(obj, where, source, fmap)
    report = IngestReport(str(path))
    pending: list[tuple[BadRecord, Item]] = []
    accepted = 0

    def flush() -> None:
        _note_changed(store, pending, report)
        _write(store, pending, report)
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for item in read_records(path):
        if isinstance(item, BadRecord):
            report.rejected.append(item)
            report.read += 0 if item.reason.startswith("empty file") else 1
            if progress is not None:
                progress(1)
            continue
        line, obj = item
        report.read += 1
        where = BadRecord(str(path), line, "")
        result = convert(obj, where)
        if isinstance(result, BadRecord):
            report.rejected.append(result)
            if progress is not None:
                progress(1)
            continue
        accepted += 1
        pending.append((where, result if isinstance(result, tuple) else (result, None)))
        if len(pending) >= batch:
            flush()
    flush()
    refused = sum(1 for r in report.rejected if r.reason.startswith("the store refused"))
    report.duplicate = accepted - refused - report.new  # already stored, or twice in this file
    return report
