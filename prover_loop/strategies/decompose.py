"""decompose: DeepSeek-Prover-V2's subgoal decomposition. The sketcher (its own model role) writes
`prover.sketches` proof sketches whose steps are `have h_i : P_i := by sorry`; Lean elaborates each as a
sketch and gives every sorry's goal; each goal becomes a lemma (subgoals.py), taken from the lemma pool when
its statement is there, else proved as a statement of its own by `prover.lemma_strategy` on both its sides
(a proved negation kills the sketch); once every lemma is proved, the sketch with the lemmas applied in its
holes is checked whole, as any proof of the side. A sketch Lean refuses is dropped, its reason stored with it.

Orders: sketch k's check at (k, 0), its lemma i's side j at (k, 1, i, j, *the lemma strategy's order), the
assembled proof at (k, 2): an earlier sketch is finished before a later one under a budget, and its success
stops the later ones."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from flywheel.errors import UnparsableStatement
from flywheel.records import Side, VerdictStatus
from prover_loop.strategies.asking import check_of, request, sampling_of
from prover_loop.strategies.base import (Check, CheckKind, Checked, Generate, Generated, Order, Proposal, Strategy,
                                         Task)

SIDES = (Side.STATEMENT, Side.NEGATION)


@dataclass(slots=True)
class Lemma:
    hole: object  # subgoals.Hole
    proof: str | None = None  # from the pool, or proved here
    runs: list = field(default_factory=list)  # the lemma strategy on each side (SIDES order)

    def open(self) -> bool:
        return self.proof is None and any(r.frontier() is not None for r in self.runs)


@dataclass(slots=True)
class Sketch:
    sampling: dict
    checked: bool = False
    over: bool = False  # dropped, killed, or assembled
    text: str = ""  # the sketch as Lean saw it
    attempt: str | None = None  # its attempt's key, the parent of its lemmas' first attempts and of the whole
    lemmas: list[Lemma] = field(default_factory=list)


@dataclass(slots=True)
class Decompose(Strategy):
    name = "decompose"
    sketches: list[Sketch] | None = None  # None until the sketcher answers
    inner: dict = field(default_factory=dict)  # id of a lemma check we proposed -> (k, i, j, its own check)

    def start(self) -> list[Proposal]:
        from flywheel.prompting import sketch_prompt

        st, task = self.task.statement, self.task
        prompt = sketch_prompt(st.header, task.declaration, task.informal, st.preamble, task.cfg.prompt_style == "chat")
        req = request(task, prompt, task.cfg.sketches, f"{st.id}:{task.side.value}:{task.pass_}:sketch")
        return [Generate(req, tag=("sketch", req), role="sketcher")]

    def generated(self, result: Generated) -> list[Proposal]:
        what, *rest = result.tag
        if what == "sketch":
            base = sampling_of(rest[0], self.task.pass_, strategy=self.name, kind="sketch")
            self.sketches = [Sketch(dict(base, sample=k)) for k in range(len(result.completions))]
            return [check_of(self.task, (k, 0), c, self.sketches[k].sampling, kind=CheckKind.SKETCH, role="sketcher")
                    for k, c in enumerate(result.completions)]
        k, i, j, tag = rest
        sketch = self.sketches[k]
        if sketch.over or sketch.lemmas[i].proof is not None:
            return []
        return self._wrap(k, i, j, sketch.lemmas[i].runs[j].generated(Generated(tag, result.completions)))

    def checked(self, result: Checked) -> list[Proposal]:
        check = result.check
        k, step = check.order[0], check.order[1]
        sketch = self.sketches[k]
        if step == 0:
            return self._sketched(k, sketch, result)
        if step == 2:
            sketch.over = True
            return []
        _, i, j, _, own = self.inner.pop(id(check))
        lemma = sketch.lemmas[i]
        if sketch.over or lemma.proof is not None:
            return []
        if result.verdict is not None and result.verdict.status is VerdictStatus.PROVED:
            if SIDES[j] is Side.NEGATION:  # the subgoal is false: the sketch cannot be completed
                sketch.over = True
                return []
            lemma.proof = check.proof
            return self._assemble(k, sketch)
        more = self._wrap(k, i, j, lemma.runs[j].checked(Checked(own, result.verdict, result.attempt)))
        in_flight = any(kk == k and ii == i for kk, ii, *_ in self.inner.values())  # its other side's checks
        if not more and not in_flight and not lemma.open():
            sketch.over = True  # a subgoal neither proved nor disproved: nothing more can complete the sketch
        return more

    def _sketched(self, k: int, sketch: Sketch, result: Checked) -> list[Proposal]:
        from prover_loop.lemmas import derived
        from prover_loop.strategies import make_strategy
        from prover_loop.strategies.subgoals import hole

        sketch.checked = True
        tactics, verdict = result.tactics, result.verdict
        if (verdict is None or verdict.status is not VerdictStatus.INCOMPLETE or tactics is None
                or not tactics.sorries or result.attempt is None):
            sketch.over = True  # refused by Lean or the guard: its verdict and reason are stored with its attempt
            return []
        sketch.text, sketch.attempt = tactics.proof, result.attempt.id
        task, st = self.task, self.task.statement
        try:
            holes = [hole(tactics.proof, s, f"{task.name}_s{k}_{i}") for i, s in enumerate(tactics.sorries)]
        except UnparsableStatement:
            sketch.over = True  # a goal Lean printed that cannot be written back as a statement
            return []
        out: list[Proposal] = []
        pool = task.lemmas
        for i, h in enumerate(holes):
            lemma = Lemma(h, pool.lookup(st.header, st.preamble, h.statement) if pool is not None else None)
            sketch.lemmas.append(lemma)
            if lemma.proof is not None:
                continue
            from prover_loop.goals import goal_text

            lemma_st = derived(st, h.statement)
            for j, side in enumerate(SIDES):
                sub = Task(lemma_st, side, goal_text(lemma_st, side, task.cfg.negation_form), None, task.pass_,
                           task.cfg.lemma_samples, task.cfg, True, attempt=task.attempt)
                lemma.runs.append(make_strategy(list(task.cfg.lemma_strategy), sub))
                out += self._wrap(k, i, j, lemma.runs[j].start())
        return out + self._assemble(k, sketch)

    def _wrap(self, k: int, i: int, j: int, proposals: list[Proposal]) -> list[Proposal]:
        sketch = self.sketches[k]
        run = sketch.lemmas[i].runs[j]
        out: list[Proposal] = []
        for p in proposals:
            if isinstance(p, Generate):
                out.append(Generate(p.request, ("lemma", k, i, j, p.tag), p.role))
                continue
            ours = replace(p, order=(k, 1, i, j, *p.order), statement=run.task.goal, subject=run.task,
                           parent=p.parent or sketch.attempt, sampling=dict(p.sampling, sketch=k, lemma=i),
                           strategy=p.strategy or run.name)
            self.inner[id(ours)] = (k, i, j, ours, p)
            out.append(ours)
        return out

    def _assemble(self, k: int, sketch: Sketch) -> list[Proposal]:
        """The whole proof, once every lemma has one."""
        from prover_loop.strategies.subgoals import fill

        if sketch.over or any(lemma.proof is None for lemma in sketch.lemmas):
            return []
        whole = fill(sketch.text, [lemma.hole for lemma in sketch.lemmas], [lemma.proof for lemma in sketch.lemmas])
        return [Check((k, 2), whole, dict(sketch.sampling, kind="assembled"), parent=sketch.attempt)]

    def frontier(self) -> Order | None:
        if self.sketches is None:
            return (0, 0)
        pending = []
        for k, sketch in enumerate(self.sketches):
            if sketch.over:
                continue
            if not sketch.checked:
                pending.append((k, 0))
                continue
            fronts = [(k, 1, i, j, *f) for i, lemma in enumerate(sketch.lemmas) if lemma.proof is None
                      for j, run in enumerate(lemma.runs) if (f := run.frontier()) is not None]
            pending.append(min(fronts, default=(k, 2)))
        return min(pending, default=None)
