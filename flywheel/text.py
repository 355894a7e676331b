"""Small text helpers used at several boundaries."""

from __future__ import annotations

import re

_DOC = re.compile(r"^\s*/-[-!]?(.*?)-/\s*$", re.S)


def unwrap_lean_comment(text: str) -> str:
    """`/-- problem -/` (as miniF2F's informal_prefix) → `problem`; other text unchanged but stripped."""
    m = _DOC.match(text)
    return (m.group(1) if m else text).strip()
