"""Several strategies one after another on a side (`prover.strategy: [sample, repair]`): the next starts when
the one before has nothing more to check and proved nothing, with what the side's budget has left. Step i's
checks come at (i, *their order); its attempts name its own strategy."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flywheel.records import VerdictStatus
from prover_loop.strategies.base import Check, Checked, Generate, Generated, Order, Proposal, Strategy


@dataclass(slots=True)
class Chain(Strategy):
    name = "chain"
    steps: list = field(default_factory=list)  # Strategy classes, in turn
    current: Strategy | None = None
    index: int = 0
    proved: bool = False
    inner: dict = field(default_factory=dict)  # id of a check we proposed -> the step's own check
    ran: list = field(default_factory=list)  # every step started, in turn

    def start(self) -> list[Proposal]:
        self.current = self.steps[0](self.task)
        self.ran.append(self.current)
        return self._wrap(self.current.start())

    def keeps(self, check: Check) -> bool:
        return self.ran[check.order[0]].keeps(replace(check, order=check.order[1:]))

    def _wrap(self, proposals: list[Proposal]) -> list[Proposal]:
        out = []
        for p in proposals:
            if isinstance(p, Generate):
                out.append(Generate(p.request, (self.index, p.tag)))
            else:
                sampling = p.sampling if self.index == 0 else dict(p.sampling, step=self.index)
                ours = replace(p, order=(self.index, *p.order), sampling=sampling, strategy=p.strategy or self.current.name)
                self.inner[id(ours)] = p
                out.append(ours)
        return out + self._next_step()

    def _next_step(self) -> list[Proposal]:
        """When the current step is done without a proof, the next one starts."""
        if self.proved or self.current.frontier() is not None or self.index + 1 >= len(self.steps) or self.inner:
            return []
        self.index += 1
        self.current = self.steps[self.index](self.task)
        self.ran.append(self.current)
        return self._wrap(self.current.start())

    def generated(self, result: Generated) -> list[Proposal]:
        index, tag = result.tag
        if index != self.index:
            return []
        return self._wrap(self.current.generated(Generated(tag, result.completions)))

    def checked(self, result: Checked) -> list[Proposal]:
        own: Check = self.inner.pop(id(result.check))
        if result.check.order[0] != self.index:
            return []
        if result.verdict is not None and result.verdict.status is VerdictStatus.PROVED and result.check.of_goal:
            self.proved = True
        return self._wrap(self.current.checked(Checked(own, result.verdict, result.attempt)))

    def frontier(self) -> Order | None:
        front = self.current.frontier() if self.current is not None else (0,)
        if front is not None:
            return (self.index, *front)
        if self.proved or self.index + 1 >= len(self.steps):
            return None
        return (self.index + 1,)  # the next step may start
