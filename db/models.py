"""Tables of the store. Content hashes are the keys, so a rerun inserts nothing twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flywheel.records import DropReason, Side, StatementStatus, VerdictStatus

SHA = String(64)


def _in(column: str, enum: type) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in enum)})"


class Base(DeclarativeBase):
    pass


class ProblemRow(Base):
    __tablename__ = "problems"
    id: Mapped[str] = mapped_column(SHA, primary_key=True)  # sha256(source, normalised informal)
    source: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    informal: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict] = mapped_column("metadata", JSONB, server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (Index("ix_problems_source_external_id", "source", "external_id"),)


class RoundRow(Base):
    __tablename__ = "rounds"
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    stages: Mapped[dict] = mapped_column(JSONB, server_default="{}")  # stage -> {state, started_at, ...}
    config: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StatementRow(Base):
    __tablename__ = "statements"
    id: Mapped[str] = mapped_column(SHA, primary_key=True)  # sha256(problem, normalised statement)
    problem_id: Mapped[str | None] = mapped_column(SHA, ForeignKey("problems.id"))
    round: Mapped[int] = mapped_column(Integer)
    header: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    preamble: Mapped[str] = mapped_column(Text, server_default="")  # def/abbrev/open/variable it needs, rendered before it
    formal: Mapped[bool] = mapped_column(Boolean, server_default="false")  # ingested formal, not autoformalized
    name: Mapped[str] = mapped_column(Text)
    normalized_sha256: Mapped[str] = mapped_column(SHA)
    origin_model: Mapped[str | None] = mapped_column(Text)
    sample_index: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(String(16), server_default=StatementStatus.CANDIDATE.value)
    drop_reason: Mapped[str | None] = mapped_column(String(32))
    drop_detail: Mapped[str | None] = mapped_column(Text)
    grade: Mapped[str | None] = mapped_column(String(16))
    grade_rationale: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # a subgoal lemma of this statement's sketch (decompose), a statement of its own
    derived_from: Mapped[str | None] = mapped_column(SHA, ForeignKey("statements.id", name="fk_statements_derived_from"),
                                                     index=True)
    __table_args__ = (
        CheckConstraint(_in("status", StatementStatus), name="ck_statements_status"),
        CheckConstraint(f"drop_reason IS NULL OR {_in('drop_reason', DropReason)}", name="ck_statements_drop_reason"),
        Index("ix_statements_round_status", "round", "status"),
        Index("ix_statements_normalized_sha256", "normalized_sha256"),
        Index("ix_statements_problem_id", "problem_id"),
    )


class ProofAttemptRow(Base):
    __tablename__ = "proof_attempts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    attempt_key: Mapped[str] = mapped_column(SHA, unique=True)  # sha256(statement, side, round, model, sample, proof)
    statement_id: Mapped[str] = mapped_column(SHA, ForeignKey("statements.id"))
    side: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(Text)
    sampling: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    proof: Mapped[str] = mapped_column(Text)
    code_sha256: Mapped[str] = mapped_column(SHA)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    messages: Mapped[list] = mapped_column(JSONB, server_default="[]")
    time_s: Mapped[float] = mapped_column(Float, server_default="0")
    cached: Mapped[bool] = mapped_column(Boolean, server_default="false")
    strategy: Mapped[str] = mapped_column(String(16), server_default="sample")  # prover.strategy that made it
    turn: Mapped[int] = mapped_column(Integer, server_default="0")  # n: the n-th revision from Lean's feedback
    tokens: Mapped[int] = mapped_column(Integer, server_default="0")  # generated for this proof
    parent_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("proof_attempts.id", name="fk_proof_attempts_parent"),
                                                  index=True)  # the attempt this one revises
    # prove: a prove stage; sample: a curriculum's sampling pass; rl: a rollout of a GRPO training
    source: Mapped[str] = mapped_column(String(16), server_default="prove")
    checkpoint_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("checkpoints.id", ondelete="SET NULL"))
    # rmaxts: {"parent", "prefix_len", "node", "prefix", "goals", "path"}, the rollout's place in its tree
    search: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint(_in("side", Side), name="ck_proof_attempts_side"),
        CheckConstraint("source IN ('prove', 'sample', 'rl')", name="ck_proof_attempts_source"),
        Index("ix_proof_attempts_model_statement", "model", "statement_id"),
        CheckConstraint(_in("verdict", VerdictStatus), name="ck_proof_attempts_verdict"),
        Index("ix_proof_attempts_round_verdict", "round", "verdict"),
        Index("ix_proof_attempts_statement_side", "statement_id", "side"),
    )


class SearchUnitRow(Base):
    """A unit of a journaling strategy (rmaxts) whose attempts were stored before it settled: open until it has."""

    __tablename__ = "search_units"
    statement_id: Mapped[str] = mapped_column(SHA, ForeignKey("statements.id"), primary_key=True)
    round: Mapped[int] = mapped_column(Integer, primary_key=True)
    pass_: Mapped[int] = mapped_column("pass", Integer, primary_key=True)
    sides: Mapped[str] = mapped_column(Text, primary_key=True)  # comma-separated, in the unit's order
    done: Mapped[bool] = mapped_column(Boolean, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProofRow(Base):
    __tablename__ = "proofs"
    statement_id: Mapped[str] = mapped_column(SHA, ForeignKey("statements.id"), primary_key=True)
    side: Mapped[str] = mapped_column(String(16), primary_key=True)
    attempt_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("proof_attempts.id"))
    round: Mapped[int] = mapped_column(Integer)
    theorem: Mapped[str] = mapped_column(Text)  # the declaration Lean checked (negated for side negation)
    proof: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text)  # exactly what Lean checked, header included
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The audit outside the REPL: NULL not yet, 'audited' or 'refused' (audit_reason says why).
    audit: Mapped[str | None] = mapped_column(String(16))
    audit_reason: Mapped[str | None] = mapped_column(Text)
    audit_toolchain: Mapped[str | None] = mapped_column(Text)
    audit_checks: Mapped[list | None] = mapped_column(JSONB)  # the checks an audited proof passed (AUDIT_CHECKS)
    audited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(_in("side", Side), name="ck_proofs_side"),
        CheckConstraint("audit IS NULL OR audit IN ('audited', 'refused')", name="ck_proofs_audit"),
        Index("ix_proofs_round_side", "round", "side"),
        Index("ix_proofs_audit", "audit"),
    )


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str | None] = mapped_column(Text)
    data_manifest_sha256: Mapped[str | None] = mapped_column(SHA)
    metrics: Mapped[dict] = mapped_column(JSONB, server_default="{}")
    method: Mapped[str | None] = mapped_column(String(16))  # sft | sft-lora
    serve: Mapped[str | None] = mapped_column(String(16))  # full | merged (LoRA merged into path) | adapter
    adapter: Mapped[str | None] = mapped_column(Text)  # LoRA: the adapter folder (path, when served as one)
    config: Mapped[dict] = mapped_column(JSONB, server_default="{}")  # the train section it was trained with
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (UniqueConstraint("round", "path", name="uq_checkpoints_round_path"),
                      CheckConstraint("serve IS NULL OR serve IN ('full', 'merged', 'adapter')", name="ck_checkpoints_serve"))


class VerdictCacheRow(Base):
    __tablename__ = "verdict_cache"
    key: Mapped[str] = mapped_column(SHA, primary_key=True)  # sha256(toolchain, header, code)
    toolchain: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    messages: Mapped[list] = mapped_column(JSONB, server_default="[]")
    axioms: Mapped[list] = mapped_column(JSONB, server_default="[]")
    time_s: Mapped[float] = mapped_column(Float, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (CheckConstraint(_in("verdict", VerdictStatus), name="ck_verdict_cache_verdict"),)


class EvaluationRow(Base):
    """One evaluation: a checkpoint on a benchmark split, n samples a problem; pass_at_k once finished."""

    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(SHA, unique=True)  # sha256(checkpoint, benchmark, split, n, settings)
    checkpoint: Mapped[str] = mapped_column(Text)  # the model path or hub name that proved
    checkpoint_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("checkpoints.id"))
    round: Mapped[int | None] = mapped_column(Integer)  # the round whose evaluate stage ran it
    benchmark: Mapped[str] = mapped_column(Text)
    split: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(Integer)
    ks: Mapped[list] = mapped_column(JSONB, server_default="[]")
    settings: Mapped[dict] = mapped_column(JSONB, server_default="{}")  # sampling and prompt style
    problems: Mapped[int] = mapped_column(Integer, server_default="0")  # in the split (or the --limit)
    pass_at_k: Mapped[dict | None] = mapped_column(JSONB)  # {"1": 0.42, ...}, set when every problem is done
    by_source: Mapped[dict | None] = mapped_column(JSONB)
    # pass@k against what k attempts spend (prover_loop.evaluate.budget_curve), set with pass_at_k
    budgets: Mapped[dict | None] = mapped_column(JSONB)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_evaluations_round", "round"),)


class EvalProblemRow(Base):
    """A problem's outcome in an evaluation, committed with its attempts: a resumed evaluation skips it."""

    __tablename__ = "eval_problems"
    evaluation_id: Mapped[int] = mapped_column(Integer, ForeignKey("evaluations.id"), primary_key=True)
    problem: Mapped[str] = mapped_column(Text, primary_key=True)  # the benchmark's theorem name
    source: Mapped[str | None] = mapped_column(Text)
    n: Mapped[int] = mapped_column(Integer)
    correct: Mapped[int] = mapped_column(Integer)
    lean_s: Mapped[float] = mapped_column(Float, server_default="0")
    # per independent attempt, in order: {"checks": Lean checks, "tokens": generated tokens, "proved": bool}
    spent: Mapped[list] = mapped_column(JSONB, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (CheckConstraint("correct >= 0 AND correct <= n", name="ck_eval_problems_correct"),)


class EvalAttemptRow(Base):
    __tablename__ = "eval_attempts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[int] = mapped_column(Integer)
    problem: Mapped[str] = mapped_column(Text)
    sample: Mapped[int] = mapped_column(Integer)  # the row's place among the problem's attempts, canonical order
    attempt: Mapped[int] = mapped_column(Integer, server_default="0")  # the independent attempt (pass@k's unit)
    model: Mapped[str | None] = mapped_column(Text)
    proof: Mapped[str] = mapped_column(Text)
    code_sha256: Mapped[str] = mapped_column(SHA)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    messages: Mapped[list] = mapped_column(JSONB, server_default="[]")
    time_s: Mapped[float] = mapped_column(Float, server_default="0")
    cached: Mapped[bool] = mapped_column(Boolean, server_default="false")
    strategy: Mapped[str] = mapped_column(String(16), server_default="sample")  # prover.strategy that made it
    turn: Mapped[int] = mapped_column(Integer, server_default="0")  # n: the n-th revision from Lean's feedback
    tokens: Mapped[int] = mapped_column(Integer, server_default="0")  # generated for this proof
    __table_args__ = (
        CheckConstraint(_in("verdict", VerdictStatus), name="ck_eval_attempts_verdict"),
        ForeignKeyConstraint(["evaluation_id", "problem"], ["eval_problems.evaluation_id", "eval_problems.problem"],
                             name="fk_eval_attempts_problem"),
        UniqueConstraint("evaluation_id", "problem", "sample", "turn", name="uq_eval_attempts_sample"),
    )


class LemmaRow(Base):
    """The lemma pool: a proved subgoal lemma (or its negation), found by its normalised statement."""

    __tablename__ = "lemmas"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    statement_sha256: Mapped[str] = mapped_column(SHA, index=True)  # prover_loop.lemmas.lemma_sha256
    statement: Mapped[str] = mapped_column(Text)
    side: Mapped[str] = mapped_column(String(16))  # of the lemma: statement, or negation
    proof: Mapped[str] = mapped_column(Text)
    derived_id: Mapped[str] = mapped_column(SHA, ForeignKey("statements.id"))
    source_statement_id: Mapped[str] = mapped_column(SHA, ForeignKey("statements.id"))
    source_side: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer)
    attempt_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("proof_attempts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (UniqueConstraint("derived_id", "side", name="uq_lemmas_derived_side"),)
