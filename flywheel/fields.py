"""Which field of an input record plays which role (`--map ROLE=FIELD`, else the usual names tried in order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flywheel.errors import ConfigError
from flywheel.jsonl import BadRecord
from flywheel.text import refused_character

# Tried in order when --map does not name the field.
DEFAULT_FIELDS = {
    "informal": ("informal", "problem", "question", "informal_statement", "informal_prefix", "statement"),
    "answer": ("answer", "final_answer"),
    "id": ("id", "name", "unique_id", "problem_id"),
    # formal records (`ingest --formal`): miniF2F, ProofNet, Lean Workbook and the synthetic benchmark name them so
    "formal_statement": ("formal_statement", "formal", "theorem", "lean4_code"),
    "header": ("header",),
    "formal_informal": ("informal_statement", "informal_prefix", "natural_language_statement", "informal", "problem"),
}
INFORMAL_ROLES = ("informal", "answer", "id")
FORMAL_ROLES = ("formal_statement", "header", "informal", "id")


@dataclass(slots=True)
class FieldMap:
    informal: str | None = None
    answer: str | None = None
    id: str | None = None
    formal_statement: str | None = None
    header: str | None = None

    @classmethod
    def parse(cls, items: list[str], roles: tuple[str, ...] = INFORMAL_ROLES) -> "FieldMap":
        fmap = cls()
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or key not in roles or not value:
                raise ConfigError(f"--map {item!r}: expected " + ", ".join(f"{r}=FIELD" for r in roles))
            setattr(fmap, key, value)
        return fmap


def pick(obj: dict, explicit: str | None, role: str) -> tuple[str | None, Any]:
    """(the field's name, its value): the mapped field, else the first default name the record has."""
    if explicit is not None:
        return explicit, obj.get(explicit)
    for name in DEFAULT_FIELDS[role]:
        if name in obj:
            return name, obj[name]
    return None, None


def as_text(value: Any) -> str | None:
    """A text or number field as text; TypeError (naming the type) for anything else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TypeError(type(value).__name__)
    return str(value)


def optional_text(obj: dict, where: BadRecord, explicit: str | None, role: str,
                  flag: str | None = None) -> tuple[str | None, str | None] | BadRecord:
    """(the field used, its text) of a field that may be absent unless --map named it; BadRecord naming the
    line when a mapped field is missing, is not text or a number, or holds what the store refuses."""
    fname, fvalue = pick(obj, explicit, role)
    if explicit is not None and fname not in obj:
        return BadRecord(where.path, where.line, f"missing field {fname!r} (--map {flag or role}={fname})")
    try:
        value = as_text(fvalue)
    except TypeError as e:
        return BadRecord(where.path, where.line, f"field {fname!r} must be text or a number, got {e}")
    if value is not None and (bad := refused_character(value)):
        return BadRecord(where.path, where.line, f"field {fname!r} holds {bad}, which the store refuses")
    return fname, value
