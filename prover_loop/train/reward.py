"""GRPO's reward: Lean's verdict on each rollout, through the same guarded check as proving (1.0 for `proved`,
0 otherwise, plus a configurable format term), every rollout stored as a proof attempt of source `rl`.

TRL calls the reward with a whole generation batch (each prompt's G completions): they are checked
concurrently on the verifier's pool, the cache in front; a check that raises is a `crashed` attempt with
reward 0, never a failed training step. Storing happens on a thread of its own, so the trainer waits on
Lean only."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from flywheel.config import ProverConfig
from flywheel.hashing import sha256_json, sha256_text
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import Proof, ProofAttempt, Side, Statement, VerdictStatus


@dataclass(slots=True, frozen=True)
class Prompt:
    """One statement side trained on: what the prover is asked, what Lean checks its answer against, and
    its pass rate in the store when it was chosen."""

    statement: Statement
    side: Side
    goal: str  # the declaration checked for this side, proof `by sorry`
    name: str  # the declaration's name: the answer's proof is taken from the declaration so named
    prompt: str | list  # exactly what proving asks (flywheel/prompting.py): a text, or a chat turn
    attempts: int = 0  # stored attempts of the starting prover on this side when it was chosen
    proved: int = 0

    @property
    def key(self) -> str:
        return f"{self.statement.id}:{self.side.value}"

    @property
    def rate(self) -> float | None:
        return self.proved / self.attempts if self.attempts else None


def make_prompt(st: Statement, side: Side, informal: str | None, cfg: ProverConfig, attempts: int = 0,
                proved: int = 0) -> Prompt:
    """The prompt of a statement side, as the prove stage builds it."""
    from flywheel.lean.text import statements as surgery
    from flywheel.prompting import chat_question, proof_prompt
    from prover_loop.goals import goal_text

    goal = goal_text(st, side, cfg.negation_form)
    declaration = goal.removesuffix("by sorry").rstrip().removesuffix(":=").rstrip()
    ask = chat_question if cfg.prompt_style == "chat" else proof_prompt
    return Prompt(st, side, goal, surgery.parse_theorem(goal).name, ask(st.header, declaration, informal, st.preamble),
                  attempts, proved)


def _text(completion) -> str:
    """A completion as text: a chat completion is a list of turns, the answer the last one."""
    return completion[-1]["content"] if isinstance(completion, list) else completion


class LeanReward:
    """The reward function GRPOTrainer calls; a context manager (its thread pools). `on_results` stores a batch's
    results (`Stored`: a statement side's attempts, and a proof where one was found) in the store."""

    def __init__(self, prompts: Sequence[Prompt], check: Callable[[str, str, str], Verdict], workers: int,
                 round_: int, model: str, on_results: Callable[[list], None], run: str,
                 format_reward: float = 0.0, sampling: Mapping | None = None):
        self.__name__ = "lean"  # TRL names its reward columns after this
        self._prompts = {p.key: p for p in prompts}
        self._check, self._round, self._model, self._run = check, round_, model, run
        self._on_results, self._format = on_results, format_reward
        self._sampling = dict(sampling or {})
        self._checks = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="reward")
        self._store = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-rollouts")
        self._stored: list[Future] = []
        self._lock = threading.Lock()
        self.calls = 0
        self.curve: list[dict] = []  # per call: step, mean reward, rollouts, proved, wait on Lean, slowest check

    def __enter__(self) -> "LeanReward":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Waits for every batch to be stored; a storing error is raised here if not before."""
        self._checks.shutdown(wait=True)
        self._store.shutdown(wait=True)
        self._raise_store_error()

    def _raise_store_error(self) -> None:
        with self._lock:
            done = [f for f in self._stored if f.done()]
            self._stored = [f for f in self._stored if not f.done()]
        for f in done:
            f.result()  # a store that refused rollouts stops the training: nothing Lean checked is lost

    def __call__(self, prompts, completions, key, trainer_state=None, **_) -> list[float]:
        return self.score(completions, key, int(trainer_state.global_step) if trainer_state is not None else None)

    def score(self, completions: Sequence, keys: Sequence[str], step: int | None = None,
              rank: int | None = None) -> list[float]:
        """The rewards of one generation batch (completions with their prompts' keys), its rollouts stored.
        `rank`: the training process that generated them, under `accelerate launch` (reward_service.py); it is
        part of each rollout's sampling record, so two processes' rollouts of one step are distinct attempts."""
        from prover_loop.extract import NoProof, extract_proof

        self._raise_store_error()
        with self._lock:
            call = self.calls
            self.calls += 1
        step = call if step is None else step
        who = {} if rank is None else {"rank": rank}
        rollouts = []
        for i, (k, completion) in enumerate(zip(keys, completions, strict=True)):
            p = self._prompts[k]
            proof = extract_proof(_text(completion), name=p.name)
            sampling = self._sampling | {"method": "grpo", "run": self._run, "step": step, "call": call,
                                         "sample": i} | who
            rollouts.append(Rollout(p, sampling, proof.value if isinstance(proof, NoProof) else None,
                                    None if isinstance(proof, NoProof) else proof))
        start = time.perf_counter()
        timed = list(self._checks.map(self._verify, rollouts))
        wait = time.perf_counter() - start
        verdicts = [v for v, _ in timed]
        rewards = [(1.0 if v is not None and v.status is VerdictStatus.PROVED else 0.0)
                   + (self._format if r.proof is not None else 0.0) for r, v in zip(rollouts, verdicts)]
        results = stored_results(rollouts, verdicts, self._round, self._model)
        with self._lock:
            self._stored.append(self._store.submit(self._on_results, results))
        self.curve.append(who | {"step": step, "reward": sum(rewards) / len(rewards), "rollouts": len(rewards),
                           "proved": sum(v is not None and v.status is VerdictStatus.PROVED for v in verdicts),
                           "wait_s": wait, "slowest_check_s": max((t for _, t in timed), default=0.0)})
        return rewards

    def _verify(self, r: "Rollout") -> tuple[Verdict | None, float]:
        """The prove stage's check on one rollout, and how long it took; None where there is no proof to send."""
        from flywheel.lean.text.statements import with_preamble

        if r.proof is None:
            return None, 0.0
        st = r.prompt.statement
        start = time.perf_counter()
        try:
            verdict = self._check(st.header, with_preamble(st.preamble, r.prompt.goal), r.proof)
        except Exception as e:  # a dead Ray worker, a broken pool: the rollout fails, the step goes on
            verdict = Verdict(VerdictStatus.CRASHED, f"the check raised {type(e).__name__}: {e}")
        return verdict, time.perf_counter() - start


@dataclass(slots=True)
class Rollout:
    prompt: Prompt
    sampling: dict
    no_proof: str | None  # why there is nothing to check
    proof: str | None


@dataclass(slots=True)
class Stored:
    """What the store writes for one statement side of a batch (as db.proofs.save_results takes a prove
    Result): its rollouts as attempts of source `rl`, and a proof where one verified."""

    attempts: list[ProofAttempt]
    proof: Proof | None


def attempt(r: Rollout, verdict: Verdict | None, round_: int, model: str) -> ProofAttempt:
    """A rollout as a proof attempt, keyed as the prover's are (statement, side, round, model, sampling, proof)."""
    from flywheel.lean.guard.soundness import Policy
    from flywheel.lean.text.statements import with_preamble
    from flywheel.lean.guard.verifier import checked_code

    st, proof = r.prompt.statement, r.proof or ""
    key = sha256_text(st.id, r.prompt.side.value, str(round_), model, sha256_json(r.sampling), proof)
    if verdict is None:
        return ProofAttempt(key, st.id, r.prompt.side, round_, model, r.sampling, proof, sha256_text("", ""),
                            VerdictStatus.REJECTED, r.no_proof, source="rl")
    code = checked_code(st.header, with_preamble(st.preamble, r.prompt.goal), proof, Policy())
    return ProofAttempt(key, st.id, r.prompt.side, round_, model, r.sampling, proof, sha256_text(st.header, code),
                        verdict.status, verdict.reason, list(verdict.messages), verdict.time_s, verdict.cached,
                        source="rl")


def stored_results(rollouts: Sequence[Rollout], verdicts: Sequence[Verdict | None], round_: int,
                   model: str) -> list[Stored]:
    from flywheel.lean.text import statements as surgery
    from flywheel.lean.guard.soundness import Policy
    from flywheel.lean.guard.verifier import checked_code

    out: dict[str, Stored] = {}
    for r, v in zip(rollouts, verdicts):
        a = attempt(r, v, round_, model)
        group = out.setdefault(r.prompt.key, Stored([], None))
        group.attempts.append(a)
        if a.verdict is VerdictStatus.PROVED and group.proof is None:
            p, st = r.prompt, r.prompt.statement
            theorem = surgery.render(surgery.parse_theorem(p.goal), "").removesuffix(":=").rstrip()
            code = checked_code(st.header, surgery.with_preamble(st.preamble, p.goal), a.proof, Policy())
            group.proof = Proof(st.id, p.side, a.id, round_, theorem, a.proof, code)
    return list(out.values())
