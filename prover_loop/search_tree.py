"""The tree of RMaxTS (DeepSeek-Prover-V1.5): nodes are tactic states (goal keys), each reached by a proof prefix;
a rollout is selected by discounted UCB walking down from the root, rewarded 1 when it reaches a state never
seen (an intrinsic reward), and while in flight it weighs on its path as `virtual_loss` rollouts of reward 0.

At each node the choices are to expand there ("here") or to go down into a child. A choice's statistics are the
rewards of the rollouts that took it, oldest first, with those in flight after them as zeros; with discount γ
the i-th of m rewards weighs γ^(m-1-i), so the newest counts most (discounted UCB). The score of a choice is
W/N + c·sqrt(2·ln(N_node)/N), an untried choice first; ties go to "here", then to children in the order
they were found. Pure: no time, no randomness, so a search replayed from its stored rollouts selects the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ROOT = "root"


@dataclass(slots=True)
class Stats:
    rewards: list[float] = field(default_factory=list)  # of finished rollouts, oldest first
    pending: int = 0  # rollouts in flight

    def discounted(self, discount: float, virtual_loss: int) -> tuple[float, float]:
        """(N, W): the discounted count and reward sum, in-flight rollouts counted as the newest zeros."""
        entries = self.rewards + [0.0] * (self.pending * virtual_loss)
        m = len(entries)
        weights = [discount ** (m - 1 - i) for i in range(m)]
        return sum(weights), sum(w * r for w, r in zip(weights, entries))


@dataclass(slots=True)
class Node:
    key: str
    parent: str | None
    prefix: str  # the proof up to this state (cut where a generator resumes)
    goals: tuple[str, ...]
    children: list[str] = field(default_factory=list)  # in the order they were found
    here: Stats = field(default_factory=Stats)  # rollouts expanded at this node
    through: Stats = field(default_factory=Stats)  # rollouts expanded at it or below


@dataclass(slots=True)
class Tree:
    ucb_c: float = 1.0
    discount: float = 0.99
    virtual_loss: int = 1
    nodes: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes[ROOT] = Node(ROOT, None, "", ())

    def add(self, key: str, parent: str, prefix: str, goals: tuple[str, ...]) -> bool:
        """A state reached from `parent`: True (reward 1) when it was never seen in this tree."""
        if key in self.nodes:
            return False
        self.nodes[key] = Node(key, parent, prefix, goals)
        self.nodes[parent].children.append(key)
        return True

    def score(self, stats: Stats, total: float) -> float:
        n, w = stats.discounted(self.discount, self.virtual_loss)
        if n == 0:
            return math.inf
        return w / n + self.ucb_c * math.sqrt(2 * math.log(max(total, 1.0)) / n)

    def select(self) -> list[str]:
        """The path from the root to the node to expand next."""
        path = [ROOT]
        while True:
            node = self.nodes[path[-1]]
            if not node.children:
                return path
            total, _ = node.through.discounted(self.discount, self.virtual_loss)
            choices = [(self.score(node.here, total), None)]
            choices += [(self.score(self.nodes[c].through, total), c) for c in node.children]
            best = max(choices, key=lambda sc: sc[0])[1]  # max keeps the first of equals: here, then the oldest
            if best is None:
                return path
            path.append(best)

    def start(self, path: list[str]) -> None:
        """A rollout from path[-1] is in flight: virtual loss on its path."""
        for key in path:
            self.nodes[key].through.pending += 1
        self.nodes[path[-1]].here.pending += 1

    def finish(self, path: list[str], reward: float) -> None:
        for key in path:
            self.nodes[key].through.pending -= 1
            self.nodes[key].through.rewards.append(reward)
        self.nodes[path[-1]].here.pending -= 1
        self.nodes[path[-1]].here.rewards.append(reward)
