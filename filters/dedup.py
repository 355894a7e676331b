"""Drop a statement whose normalised text is already stored (any round) or seen earlier in the batch."""

from __future__ import annotations

from typing import Collection, Sequence

from filters.base import Decision, Drop
from flywheel.records import DropReason, Statement


def dedup(statements: Sequence[Statement], known: Collection[str]) -> list[Decision]:
    """`known`: normalised sha256 of statements kept before (from the store); the first in the batch wins."""
    seen = set(known)
    out: list[Decision] = []
    for st in statements:
        if st.normalized_sha256 in seen:
            out.append(Drop(DropReason.DUPLICATE, f"same normalised statement as {st.normalized_sha256[:12]}"))
        else:
            seen.add(st.normalized_sha256)
            out.append(None)
    return out
