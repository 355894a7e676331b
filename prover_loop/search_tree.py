"""The tree of RMaxTS (DeepSeek-Prover-V1.5, its reference prover/algorithms/rmax_tree_search.py): nodes are
tactic states, each reached by a proof prefix. A rollout is selected by discounted UCB walking down from the
root; its proof, cut before its first failure, is walked from the root step by step (`walk`: every step that
changes the tactic state goes to the child of that state, made when new), children keyed by state per parent, so
one state reached along two paths is two nodes. The rollout earns 1 when the walk made a node (RMax's intrinsic
reward), credited at the node it was selected from and, as subtree statistics, at every node above it; while
in flight it weighs on its path as `virtual_loss` rollouts of reward 0.

Statistics, discounted by γ: a node's own (`here`: the rollouts selected at it) and its subtree's (`through`:
at it or below). With rewards r_1..r_m, oldest first, the in-flight ones after them as zeros, N = Σ γ^(m-i)
and W = Σ γ^(m-i)·r_i (the reference's R ← γR + r, N ← γN + 1). At a node with children the choices are to
expand it (its own N, W) or to go down into a child (the child's subtree N, W); the total is the node's own N
plus every child's subtree N, and a choice scores W/max(N, 0.01) + c·sqrt(2·ln(max(total, 2)) / max(N, 0.01)).
The highest wins; ties go to expanding the node, then to the children in the order they were made. Pure: no
time, no randomness, so a search replayed from its stored rollouts selects the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

ROOT = "root"
FLOOR = 1e-2  # the least visitation a score divides by (an untried choice: N = 0)
LOG_FLOOR = 2.0  # the least total under the logarithm


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
    key: str  # this node's id in the tree: ROOT, else node_id(parent, state)
    parent: str | None
    prefix: str  # the proof up to this state (cut where a generator resumes): the first prefix that reached it
    goals: tuple[str, ...]
    state: str = ""  # the tactic state's goal key (flywheel.lean.tactics.goals.goal_key)
    children: dict[str, str] = field(default_factory=dict)  # state -> child id, in the order they were made
    here: Stats = field(default_factory=Stats)  # rollouts expanded at this node
    through: Stats = field(default_factory=Stats)  # rollouts expanded at it or below


def node_ids(states: Sequence[str]) -> list[str]:
    """The ids of the nodes a walk from the root through these states reaches: each its parent's and its
    state's (the same state under two parents is two nodes)."""
    from flywheel.hashing import sha256_text

    out, at = [], ROOT
    for state in states:
        at = sha256_text("rmaxts-node", at, state)
        out.append(at)
    return out


@dataclass(slots=True)
class Tree:
    ucb_c: float = 1.0
    discount: float = 0.99
    virtual_loss: int = 1
    nodes: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.nodes:
            self.nodes[ROOT] = Node(ROOT, None, "", ())

    def walk(self, steps: Sequence[tuple[str, str, tuple[str, ...]]]) -> bool:
        """File a rollout's steps, (state, prefix, goals) along its accepted prefix in order, from the root:
        each goes to its node's child of that state, made when there is none. True (the rollout's reward) when
        the walk made a node."""
        at, made = ROOT, False
        for (state, prefix, goals), child in zip(steps, node_ids([s for s, _, _ in steps])):
            node = self.nodes[at]
            if state not in node.children:
                self.nodes[child] = Node(child, at, prefix, tuple(goals), state)
                node.children[state] = child
                made = True
            at = child
        return made

    def score(self, stats: Stats, total: float) -> float:
        n, w = stats.discounted(self.discount, self.virtual_loss)
        return w / max(n, FLOOR) + self.ucb_c * math.sqrt(2 * math.log(max(total, LOG_FLOOR)) / max(n, FLOOR))

    def select(self) -> list[str]:
        """The path from the root to the node to expand next."""
        path = [ROOT]
        while True:
            node = self.nodes[path[-1]]
            if not node.children:
                return path
            kids = [self.nodes[c] for c in node.children.values()]
            total = (node.here.discounted(self.discount, self.virtual_loss)[0]
                     + sum(k.through.discounted(self.discount, self.virtual_loss)[0] for k in kids))
            choices = [(self.score(node.here, total), None)] + [(self.score(k.through, total), k.key) for k in kids]
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
