"""The records that flow between stages. Small, typed, hashable by content."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Side(str, enum.Enum):
    """Which goal an attempt proves: the statement, its negation, or False from its hypotheses."""

    STATEMENT = "statement"
    NEGATION = "negation"
    FALSE_HYPS = "false_hyps"


class VerdictStatus(str, enum.Enum):
    PROVED = "proved"
    FAILED = "failed"  # Lean reported errors
    INCOMPLETE = "incomplete"  # sorry / admit
    REJECTED = "rejected"  # soundness guard, before or after Lean
    TIMEOUT = "timeout"
    CRASHED = "crashed"


class StatementStatus(str, enum.Enum):
    CANDIDATE = "candidate"  # extracted, not yet filtered
    KEPT = "kept"  # passed every filter; open until a side is proved
    DROPPED = "dropped"  # see drop_reason
    PROVED = "proved"  # the statement was proved
    DISPROVED = "disproved"  # its negation was proved
    INFRA_FAILED = "infra_failed"  # Lean timed out or crashed on every try of a filter: filtered again next round


class DropReason(str, enum.Enum):
    # extraction of a statement from model text
    NO_CODE = "no_code"
    NO_THEOREM = "no_theorem"
    SEVERAL_THEOREMS = "several_theorems"
    UNPARSABLE = "unparsable"
    # filters, cheapest first
    DUPLICATE = "duplicate"
    CONTAMINATED = "contaminated"
    DOES_NOT_COMPILE = "does_not_compile"
    LOW_GRADE = "low_grade"
    NO_GRADE = "no_grade"
    INCONSISTENT_HYPOTHESES = "inconsistent_hypotheses"


# A round's stages in the order they run (`flywheel status` lists them so too).
ROUND_STAGES = ("autoformalize", "filter", "hypotheses", "prove", "audit", "export", "train", "evaluate")


class StageState(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPED = "stopped"  # Ctrl-C or SIGTERM: the work in flight was finished and stored; --resume goes on
    DONE = "done"
    SKIPPED = "skipped"  # nothing for the stage to do this round (the reason is in its counts); --resume passes it
    FAILED = "failed"


@dataclass(slots=True)
class Problem:
    id: str  # sha256(source, normalised informal text)
    source: str
    external_id: str | None
    informal: str
    answer: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Statement:
    id: str  # sha256(header, normalised preamble and statement)
    problem_id: str | None
    round: int
    header: str
    text: str  # the theorem declaration, proof replaced by `sorry`
    name: str
    normalized_sha256: str
    origin_model: str | None = None
    sample_index: int = 0
    status: StatementStatus = StatementStatus.CANDIDATE
    drop_reason: DropReason | None = None
    drop_detail: str | None = None
    grade: str | None = None
    grade_rationale: str | None = None
    preamble: str = ""  # the def/abbrev/open/variable/universe commands `text` needs, rendered before it
    formal: bool = False  # ingested formal (`ingest --formal`), not autoformalized


@dataclass(slots=True)
class ProofAttempt:
    id: str  # sha256(statement, side, round, model, sample key, proof)
    statement_id: str
    side: Side
    round: int
    model: str | None
    sampling: dict[str, Any]
    proof: str  # the proof body: everything after `:=`
    code_sha256: str  # what was sent to Lean (toolchain, header, code)
    verdict: VerdictStatus
    reason: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    time_s: float = 0.0
    cached: bool = False
    strategy: str = "sample"  # the proving strategy that made it (prover.strategy)
    turn: int = 0  # 0: a first answer; n: the n-th revision after Lean's feedback
    parent: str | None = None  # the id (key) of the attempt this one revises
    tokens: int = 0  # tokens generated for this proof: with the Lean checks, a strategy's budget
    source: str = "prove"  # prove | sample (a curriculum's sampling pass) | rl (a GRPO rollout)
    checkpoint_id: int | None = None  # rl: the checkpoint whose training sampled it
    # rmaxts: the tree node it was resumed from and the one it reached ({"parent", "prefix_len", "node", "prefix",
    # "goals", "path"}; node None when nothing elaborated past the start)
    search: dict | None = None


@dataclass(slots=True)
class Proof:
    statement_id: str
    side: Side
    attempt_id: str
    round: int
    theorem: str  # the declaration Lean checked (the negation, for side negation)
    proof: str
    code: str  # the exact code Lean checked, header included


@dataclass(slots=True, frozen=True)
class ProvedLemma:
    """A subgoal lemma proved in an earlier pass, as the lemma pool reads it from the store (db.lemmas.pool)."""

    sha: str  # prover_loop.lemmas.lemma_sha256
    header: str
    preamble: str
    statement: str  # `theorem NAME binders : concl := by sorry`
    proof: str
