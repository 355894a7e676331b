"""repair: k whole proofs, then each failed one revised from Lean's errors, up to prover.repair_turns times
(Goedel-Prover-V2's self-correction, Kimina-Prover's attempts + repairs). A chain is sample k and its
revisions; each revision's attempt names the attempt it revises. Checks go breadth first: every first answer
(turn 0) comes before any revision in the canonical order, revision t of chain k at (t, k)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.records import VerdictStatus
from prover_loop.strategies.asking import check_of, first_request, request, sampling_of
from prover_loop.strategies.base import Checked, Generate, Generated, Order, Proposal, Strategy

# Verdicts a revision can answer: Lean said what is wrong (or the guard did). A crash says nothing of the proof.
REVISABLE = {VerdictStatus.FAILED, VerdictStatus.INCOMPLETE, VerdictStatus.REJECTED, VerdictStatus.TIMEOUT}


@dataclass(slots=True)
class Chain:
    turn: int = 0  # of its newest check, or of the revision being generated
    generating: bool = False
    done: bool = False
    failed: list[tuple[str, str]] = field(default_factory=list)  # (proof, Lean's feedback) of each failed turn


@dataclass(slots=True)
class Repair(Strategy):
    name = "repair"
    chains: dict[int, Chain] | None = None  # None until the first answers come

    def start(self) -> list[Proposal]:
        req = first_request(self.task)
        return [Generate(req, tag=("first", req))]

    def generated(self, result: Generated) -> list[Proposal]:
        what, *rest = result.tag
        if what == "first":
            (req,) = rest
            self.chains = {k: Chain() for k in range(len(result.completions))}
            base = sampling_of(req, self.task.pass_, strategy=self.name)
            return [check_of(self.task, (0, k), c, dict(base, sample=k)) for k, c in enumerate(result.completions)]
        k, parent, req = rest
        chain = self.chains[k]
        chain.generating = False
        (completion,) = result.completions
        sampling = sampling_of(req, self.task.pass_, strategy=self.name, sample=k, turn=chain.turn)
        return [check_of(self.task, (chain.turn, k), completion, sampling, turn=chain.turn, parent=parent)]

    def checked(self, result: Checked) -> list[Proposal]:
        check, verdict = result.check, result.verdict
        k = check.order[1]
        chain = self.chains[k]
        cfg = self.task.cfg
        if (verdict is None or verdict.status not in REVISABLE or chain.turn >= cfg.repair_turns
                or result.attempt is None):
            chain.done = True
            return []
        from flywheel.prompting import lean_feedback

        chain.failed.append((check.proof, lean_feedback(check.proof, verdict.messages, verdict.reason,
                                                        cfg.repair_errors)))
        chain.turn += 1
        chain.generating = True
        req = self._revision_request(k, chain)
        return [Generate(req, tag=("revise", k, result.attempt.id, req))]

    def _revision_request(self, k: int, chain: Chain):
        from flywheel.prompting import repair_messages, repair_prompt

        st, task = self.task.statement, self.task
        if task.cfg.prompt_style == "chat":
            prompt = repair_messages(st.header, task.declaration, chain.failed, task.informal, st.preamble)
        else:
            proof, feedback = chain.failed[-1]
            prompt = repair_prompt(st.header, task.declaration, proof, feedback, task.informal, st.preamble)
        key = f"{st.id}:{task.side.value}:{task.pass_}:{k}.{chain.turn}"
        return request(task, prompt, 1, key, seed_offset=100 * chain.turn + k + 1)

    def frontier(self) -> Order | None:
        if self.chains is None:
            return (0, 0)
        # a chain whose newest check is out may still be revised; one generating a revision surely brings a check
        pending = [(c.turn + (0 if c.generating else 1), k) for k, c in self.chains.items()
                   if not c.done and (c.generating or c.turn < self.task.cfg.repair_turns)]
        return min(pending, default=None)
