"""Attempts and proofs as they are stored: keyed by content, with exactly the code the verifier sent."""

from __future__ import annotations

from flywheel.hashing import sha256_json, sha256_text
from flywheel.records import Proof, ProofAttempt, VerdictStatus


def render_code(header: str, goal: str, proof: str, preamble: str = "") -> str:
    """Exactly the code the verifier sends to Lean for this proof (header, preamble, theorem, proof)."""
    from flywheel.lean.text import statements as surgery
    from flywheel.lean.guard.soundness import Policy
    from flywheel.lean.guard.verifier import checked_code

    return checked_code(header, surgery.with_preamble(preamble, goal), proof, Policy())


def attempt_of(task, check, verdict, round_: int, model: str | None, strategy: str) -> ProofAttempt:
    """The attempt a check of the side's goal stores (task: strategies.Task, check: strategies.Check). Its key
    is that of the prover loop before strategies: statement, side, round, model, sampling and proof."""
    st = task.statement
    proof = check.proof if check.proof is not None else ""
    key = sha256_text(st.id, task.side.value, str(round_), model or "", sha256_json(check.sampling), proof)
    lineage = dict(strategy=check.strategy or strategy, turn=check.turn, parent=check.parent, tokens=check.tokens)
    if verdict is None:  # nothing was sent to Lean
        return ProofAttempt(key, st.id, task.side, round_, model, check.sampling, proof,
                            code_sha256=sha256_text("", ""), verdict=VerdictStatus.REJECTED, reason=check.no_proof,
                            **lineage)
    code = render_code(st.header, task.goal, proof, st.preamble)
    return ProofAttempt(key, st.id, task.side, round_, model, check.sampling, proof,
                        code_sha256=sha256_text(st.header, code), verdict=verdict.status, reason=verdict.reason,
                        messages=list(verdict.messages), time_s=verdict.time_s, cached=verdict.cached, **lineage)


def proof_of(task, attempt: ProofAttempt, round_: int) -> Proof:
    from flywheel.lean.text import statements as surgery
    from prover_loop.strategies.base import parsed_goal

    st = task.statement
    theorem = surgery.render(parsed_goal(task.goal), "").removesuffix(":=").rstrip()
    return Proof(st.id, task.side, attempt.id, round_, theorem, attempt.proof,
                 render_code(st.header, task.goal, attempt.proof, st.preamble))
