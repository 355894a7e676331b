"""Stored rows for store tests: problems, statements and verified pairs written through the product's own
write paths (insert_statements, save_result, which uses the bulk attempt writer)."""

from __future__ import annotations

from db import proofs as dbproofs
from db import statements as dbst
from db.ingest import write_problems
from flywheel.hashing import sha256_text
from flywheel.lean.text.statements import statement_sha256
from flywheel.records import Problem, Proof, ProofAttempt, Side, Statement, StatementStatus, VerdictStatus
from prover_loop.prove import Result

HEADER = "import Mathlib\n"


def statement(i: int, round_: int = 1, text: str | None = None, problem_id: str | None = None) -> Statement:
    text = text or f"theorem s{i} (x : ℕ) (h : x = {i}) : x + 1 = {i + 1} := by sorry"
    norm = statement_sha256(text, HEADER)
    return Statement(id=sha256_text(problem_id or "none", norm, str(i)), problem_id=problem_id, round=round_,
                     header=HEADER, text=text, name=f"s{i}", normalized_sha256=norm, status=StatementStatus.KEPT)


def attempt(st: Statement, side: Side, k: int, verdict: VerdictStatus, proof: str = "by\n  omega") -> ProofAttempt:
    return ProofAttempt(id=sha256_text(st.id, side.value, str(k), proof), statement_id=st.id, side=side, round=st.round,
                        model="m", sampling={"temperature": 1.0, "pass": 0, "sample": k}, proof=proof,
                        code_sha256=sha256_text(proof), verdict=verdict, time_s=0.5)


def seed(store, n: int = 4, rounds=(1,), extra_texts=()) -> list[Statement]:
    """n statements a round with informal problems; even ones proved, odd ones disproved."""
    problems, out = [], []
    for r in rounds:
        for i in range(n):
            p = Problem(sha256_text("seed", str(r), str(i)), "seed", f"{r}-{i}", f"Problem {i} of round {r}.")
            problems.append(p)
            out.append(statement(i + 100 * r, r, problem_id=p.id))
    for j, text in enumerate(extra_texts):
        out.append(statement(9000 + j, rounds[0], text=text))
    write_problems(store, problems)
    with store.session() as s:
        dbst.insert_statements(s, out)
    for i, st in enumerate(out):
        side = Side.STATEMENT if i % 2 == 0 else Side.NEGATION
        failed = attempt(st, side, 0, VerdictStatus.FAILED, "by\n  simp")
        good = attempt(st, side, 1, VerdictStatus.PROVED)
        theorem = st.text.removesuffix(" := by sorry") if side is Side.STATEMENT else f"theorem {st.name}_neg : ¬ (True)"
        proof = Proof(st.id, side, good.id, st.round, theorem, good.proof, HEADER + theorem + " := " + good.proof)
        with store.session() as s:
            dbproofs.save_result(s, Result(st, side, [failed, good], proof), st.round)
    return out


def audit_all(conn) -> None:
    """Every stored proof audited with every check the default export policy requires, as a full audit leaves it."""
    import json

    from sqlalchemy import text

    from flywheel.config import AUDIT_CHECKS

    conn.execute(text("UPDATE proofs SET audit = 'audited', audited_at = now(), audit_checks = CAST(:c AS jsonb)"),
                 {"c": json.dumps(list(AUDIT_CHECKS))})
