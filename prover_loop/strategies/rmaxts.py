"""rmaxts: DeepSeek-Prover-V1.5's tree search. Each rollout asks the model to continue a proof prefix (the resume
prompt: flywheel.prompting.resume_prompt, the goals at the cut as a comment), checks the whole proof with the
tactics Lean ran (CheckKind.TACTICS), cuts it before its first failure (flywheel.lean.text.truncate) and walks the
states along what is left from the root of the tree (prover_loop/search_tree.py, `steps`): a node for every
step that changes the tactic state, reward 1 when the walk made one.

Order: rollout i is the check (i,). Up to prover.rmaxts.in_flight rollouts are out at once; rollout i + in_flight
is selected once the results of rollouts 0..i are in, applied in index order, with the later ones still in
flight weighing as virtual loss. So the selections, and the stored rows, depend only on the results, never on
timing, and a search resumed from its stored rollouts (Task.resumed, each attempt's `search`) replays them
without Lean or the model and goes on as the killed run would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.llm.base import FinishReason
from flywheel.records import VerdictStatus
from prover_loop.search_tree import ROOT, Tree, node_ids
from prover_loop.strategies.asking import check_of, request, sampling_of
from prover_loop.strategies.base import Check, Checked, CheckKind, Generate, Generated, Order, Proposal, Strategy


@dataclass(slots=True)
class Rollout:
    index: int
    path: list[str]
    generating: bool = True


def reached(checked) -> tuple[str, str, tuple[str, ...]] | None:
    """(goal key, prefix, goals) of the state before the proof's first failure, or None when nothing elaborated
    past the start or Lean gave no tactics (a guard refusal, a timeout, a proof with no error position)."""
    from flywheel.lean.tactics.goals import goal_key
    from flywheel.lean.tactics.records import goals_of_message
    from flywheel.lean.text.truncate import first_failure, prefix

    if checked is None or not checked.tactics:
        return None
    failure = first_failure(checked)
    if failure is None:
        return None
    if failure.unsolved:
        goals = goals_of_message(str(failure.message.get("data", "")))
    elif failure.tactic is not None:
        goals = failure.tactic.goals_before
    else:  # no tactic listed at the error: back to the last one that starts before it
        before = [t for t in checked.tactics if t.pos < failure.at]
        if not before:
            return None
        last = max(before, key=lambda t: t.pos)
        failure = type(failure)(last.pos, failure.message, last)
        goals = last.goals_before
    cut = prefix(checked, failure, close=False)
    if not cut.removeprefix("by").strip():
        return None
    try:
        return goal_key(goals), cut, tuple(goals)
    except Exception:  # goals Lean printed that we cannot take apart: no node, the rollout earns nothing
        return None


def steps(checked) -> list[tuple[str, str, tuple[str, ...]]]:
    """The states along the proof's accepted prefix (before its first failure), as the reference's _tree_update
    walks them: after each line on which a tactic ends, the state there (the goals before the tactic that starts
    the next line, or at the cut) with the proof up to there as its prefix; a step that leaves the state as it
    was (the goal key of the one before, the theorem's own goal first) is no step. [] when nothing elaborated
    past the start."""
    from flywheel.lean.tactics.goals import goal_key
    from flywheel.lean.text.truncate import _offset

    last = reached(checked)
    if last is None:
        return []
    text, cut = checked.proof, len(last[1])
    tactics = sorted(checked.tactics, key=lambda t: t.pos)
    ends = sorted(_offset(text, t.end_pos) for t in tactics)
    points: dict[int, tuple[str, ...]] = {}  # offset -> the goals there
    for t in tactics:
        at = _offset(text, t.pos)
        if t.pos.line > 1 and at < cut and not text[text.rfind("\n", 0, at) + 1 : at].strip():
            points.setdefault(at, t.goals_before)  # the outermost of the tactics starting there comes first
    points[cut] = last[2]
    try:
        prev = goal_key(tactics[0].goals_before)
    except Exception:
        prev = None
    out, since = [], 0
    for at in sorted(points):
        if not any(since < e <= at for e in ends):  # no tactic finished since the last step: no new state
            continue
        since = at
        try:
            key = last[0] if at == cut else goal_key(points[at])
        except Exception:  # goals we cannot take apart: no step here
            continue
        if key != prev:
            out.append((key, text[:at], tuple(points[at])))
            prev = key
    return out


@dataclass(slots=True)
class RMaxTS(Strategy):
    name = "rmaxts"
    journal = True
    tree: Tree | None = None
    launched: int = 0  # rollouts selected so far
    applied: int = 0  # results applied to the tree, in index order
    flying: dict[int, Rollout] = field(default_factory=dict)
    results: dict[int, tuple | None] = field(default_factory=dict)  # told, waiting for those before them
    proved: bool = False
    replays: dict = field(default_factory=dict)  # rollout index -> its attempt stored by a killed run

    def start(self) -> list[Proposal]:
        c = self.task.cfg.rmaxts
        self.tree = Tree(c.ucb_c, c.discount, c.virtual_loss)
        self.replays = {a.sampling.get("rollout"): a for a in self.task.resumed if a.search is not None}
        return [p for _ in range(min(c.in_flight, c.rollouts)) for p in self._launch()]

    def _launch(self) -> list[Proposal]:
        if self.proved or self.launched >= self.task.cfg.rmaxts.rollouts:
            return []
        i = self.launched
        self.launched += 1
        path = self.tree.select()
        self.tree.start(path)
        self.flying[i] = Rollout(i, path)
        stored = self.replays.pop(i, None)
        if stored is not None:  # a rollout of the killed run: told back as it was
            self.flying[i].generating = False
            return [Check((i,), stored.proof, dict(stored.sampling), tokens=stored.tokens, kind=CheckKind.TACTICS,
                          replay=stored, tag=i)]
        req = self._request(i, self.tree.nodes[path[-1]])
        return [Generate(req, tag=(i, req))]

    def _request(self, i: int, node):
        from flywheel.prompting import resume_prompt

        st, task = self.task.statement, self.task
        prompt = resume_prompt(st.header, task.declaration, node.prefix, node.goals, task.informal, st.preamble)
        key = f"{st.id}:{task.side.value}:{task.pass_}:r{i}"
        return request(task, prompt, 1, key, seed_offset=i + 1)

    def generated(self, result: Generated) -> list[Proposal]:
        i, req = result.tag
        rollout = self.flying[i]
        rollout.generating = False
        node = self.tree.nodes[rollout.path[-1]]
        (completion,) = result.completions
        sampling = sampling_of(req, self.task.pass_, strategy=self.name, rollout=i)
        if node.key == ROOT or self.task.cfg.prompt_style == "chat" \
                or completion.finish_reason is FinishReason.PROMPT_TOO_LONG:
            check = check_of(self.task, (i,), completion, sampling, kind=CheckKind.TACTICS, tag=i)
        else:  # the model continued the prefix: the proof is the prefix and its continuation
            text = completion.text.split("```", 1)[0].rstrip()
            check = Check((i,), node.prefix + text, sampling, tokens=int(completion.completion_tokens),
                          kind=CheckKind.TACTICS, tag=i)
        return [check]

    def checked(self, result: Checked) -> list[Proposal]:
        i = result.check.tag
        rollout = self.flying[i]
        if result.check.replay is not None:
            got = [(st["key"], st["prefix"], tuple(st["goals"])) for st in result.check.replay.search.get("steps", [])]
        else:
            got = steps(result.tactics)
        if result.attempt is not None:
            parent = self.tree.nodes[rollout.path[-1]]
            ids = node_ids([k for k, _, _ in got])
            result.attempt.search = {
                "node": ids[-1] if ids else None, "parent": parent.key, "prefix_len": len(parent.prefix),
                "prefix": got[-1][1] if got else None, "goals": list(got[-1][2]) if got else None,
                "path": rollout.path, "steps": [{"key": k, "node": n, "parent": up, "prefix": p, "goals": list(g)}
                                                for (k, p, g), n, up in zip(got, ids, [ROOT] + ids)]}
        if result.verdict is not None and result.verdict.status is VerdictStatus.PROVED:
            self.proved = True
        self.results[i] = got
        out: list[Proposal] = []
        while self.applied in self.results:  # in index order, whatever order the answers came in
            j = self.applied
            found = self.results.pop(j)
            done = self.flying.pop(j)
            self.tree.finish(done.path, 1.0 if self.tree.walk(found) else 0.0)
            self.applied += 1
            out += self._launch()
        return out

    def frontier(self) -> Order | None:
        coming = [i for i, r in self.flying.items() if r.generating]
        if not self.proved and self.launched < self.task.cfg.rmaxts.rollouts:
            coming.append(self.launched)
        return (min(coming),) if coming else None

    def unanswered(self) -> Order | None:
        more = not self.proved and self.launched < self.task.cfg.rmaxts.rollouts
        waiting = [i for i in self.flying if i not in self.results] + ([self.launched] if more else [])
        return (min(waiting),) if waiting else None
