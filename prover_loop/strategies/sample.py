"""sample: k whole proofs of the side from one request, each checked once (DeepSeek-Prover's pass@k)."""

from __future__ import annotations

from dataclasses import dataclass

from prover_loop.strategies.asking import check_of, first_request, sampling_of
from prover_loop.strategies.base import Generate, Generated, Order, Proposal, Strategy


@dataclass(slots=True)
class Sample(Strategy):
    name = "sample"
    answered: bool = False

    def attempt_of(self, check) -> int:
        return check.order[0]  # each sample is an attempt of its own, one check

    def start(self) -> list[Proposal]:
        req = first_request(self.task)
        return [Generate(req, tag=req)]

    def generated(self, result: Generated) -> list[Proposal]:
        self.answered = True
        sampling = sampling_of(result.tag, self.task.pass_)
        return [check_of(self.task, (k,), c, dict(sampling, sample=k)) for k, c in enumerate(result.completions)]

    def frontier(self) -> Order | None:
        return None if self.answered else (0,)
