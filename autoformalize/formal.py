"""Formal statements in (`flywheel ingest --formal`): a record's Lean theorem becomes a statement of its source
as autoformalization would have made it (same extraction, naming and hashes), marked formal."""

from __future__ import annotations

from autoformalize.formalize import to_statement
from flywheel.fields import DEFAULT_FIELDS, FieldMap, optional_text, pick
from flywheel.hashing import sha256_text
from flywheel.jsonl import BadRecord
from flywheel.records import Problem, Statement, StatementStatus
from flywheel.text import unwrap_lean_comment


def formal_record(obj: dict, where: BadRecord, source: str, fmap: FieldMap, default_header: str,
                  round_: int) -> tuple[Problem, Statement] | BadRecord:
    """One record → (its problem, its candidate statement), or BadRecord naming the line and field."""
    from flywheel.lean.guard import soundness

    def bad(reason: str) -> BadRecord:
        return BadRecord(where.path, where.line, reason)

    name, value = pick(obj, fmap.formal_statement, "formal_statement")
    if name is None or value is None:
        wanted = fmap.formal_statement or "|".join(DEFAULT_FIELDS["formal_statement"])
        return bad(f"missing field {wanted!r} (the formal statement)")
    if not isinstance(value, str) or not value.strip():
        return bad(f"field {name!r} must be a Lean theorem, got {type(value).__name__ if not isinstance(value, str) else 'nothing'}")
    fields = {}
    for role, key in (("header", "header"), ("formal_informal", "informal"), ("id", "id")):
        got = optional_text(obj, where, getattr(fmap, key), role, flag=key)
        if isinstance(got, BadRecord):
            return got
        fields[key] = got
    hname, header = fields["header"]
    header = default_header if header is None else header
    # a benchmark header's definitions (ProofNet's) go before the theorem, as the verifier would send them
    top, definitions = soundness.split_header(header)
    if reason := soundness.scan_header(top, soundness.Policy()) or (
            definitions.strip() and soundness.scan_preamble(definitions, soundness.Policy())):
        return bad(f"field {hname or 'header'!r} (the header): {reason}")
    code = f"{definitions.rstrip()}\n\n{value}" if definitions.strip() else value
    informal = unwrap_lean_comment(fields["informal"][1] or "")
    used = {name} | {f for f, _ in fields.values() if f is not None}
    meta = {k: v for k, v in obj.items() if k not in used}
    problem = Problem(sha256_text(source, "formal", top, code), source, fields["id"][1], informal, None, meta)
    st = to_statement(problem, round_, 0, code, top, None)
    if st.status is not StatementStatus.CANDIDATE:
        return bad(f"field {name!r}: {st.drop_reason.value}: {st.drop_detail}")
    if reason := soundness.scan_statement(st.text, soundness.Policy()):
        return bad(f"field {name!r}: {reason}")
    st.formal = True
    return problem, st
