"""Every stage ends with a counts table: in, kept, dropped by reason, other outcomes, time."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class StageCounts:
    stage: str
    seen: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    outcomes: Counter = field(default_factory=Counter)  # e.g. proved_statement, proved_negation
    seconds: float = 0.0
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[str(getattr(reason, "value", reason))] += n

    def stop(self) -> "StageCounts":
        self.seconds = time.perf_counter() - self._started
        return self

    def merge(self, other: "StageCounts") -> None:
        self.seen += other.seen
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.outcomes.update(other.outcomes)

    def as_dict(self) -> dict:
        """For rounds.stages in the store."""
        return {"in": self.seen, "kept": self.kept, "dropped": dict(self.dropped),
                "outcomes": dict(self.outcomes), "seconds": round(self.seconds, 3)}

    def rows(self) -> list[tuple[str, object]]:
        rows: list[tuple[str, object]] = [("in", self.seen), ("kept", self.kept)]
        rows += [(f"dropped: {r}", n) for r, n in sorted(self.dropped.items())]
        rows += [(k, n) for k, n in sorted(self.outcomes.items())]
        rows.append(("time", f"{self.seconds:.1f} s"))
        return rows

    def render(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        lines = [f"{self.stage}"] + [f"  {k.ljust(width)}  {v}" for k, v in rows]
        return "\n".join(lines)
