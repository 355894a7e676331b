"""Small text helpers used at several boundaries."""

from __future__ import annotations

import json
import math
import re
from typing import Any

_DOC = re.compile(r"^\s*/-[-!]?(.*?)-/\s*$", re.S)


def unwrap_lean_comment(text: str) -> str:
    """`/-- problem -/` (as miniF2F's informal_prefix) → `problem`; other text unchanged but stripped."""
    m = _DOC.match(text)
    return (m.group(1) if m else text).strip()


# What PostgreSQL refuses in text and jsonb: NUL, and UTF-16 surrogates (no UTF-8 encoding holds them; a
# JSON decoder gives them for a lone "\ud800"). Model answers and files may hold either.
_REFUSED = re.compile(r"[\x00\ud800-\udfff]")
# Reused: json.dumps(..., sort_keys=True) builds a new encoder per call, a third of an attempt row's cost.
_STORABLE_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False).encode


def refused_character(text: str) -> str | None:
    """Which character PostgreSQL would refuse in `text`, and where (None: it stores as it is)."""
    m = _REFUSED.search(text)
    if m is None:
        return None
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return f"U+{ord(m.group(0)):04X} at line {line}, column {column}"


def storable(value: Any) -> Any:
    """`value` as PostgreSQL takes it, nothing dropped: NUL and surrogates in text (keys too) become the
    visible escapes `\\u0000`, `\\ud800`; in JSON values NaN and ±Infinity (jsonb has none) become text.
    What needs no change is returned as it is."""
    if isinstance(value, str):
        if _REFUSED.search(value) is None:
            return value
        return _REFUSED.sub(lambda m: f"\\u{ord(m.group(0)):04x}", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(k) if isinstance(k, str) else k: storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


def storable_json(value: Any) -> str:
    """`value` as JSON text a jsonb column takes (keys sorted); see storable."""
    try:
        out = _STORABLE_JSON(value)
    except ValueError:  # NaN or Infinity
        return _STORABLE_JSON(storable(value))
    # JSON writes NUL as the escape \u0000, which jsonb refuses; surrogates stay raw with ensure_ascii off.
    if "\\u0000" in out or _REFUSED.search(out) is not None:
        return _STORABLE_JSON(storable(value))
    return out
