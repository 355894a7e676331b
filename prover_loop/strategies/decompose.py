"""decompose: DeepSeek-Prover-V2's subgoal decomposition. The sketcher (its own model role) writes
`prover.sketches` proof sketches whose steps are `have h_i : P_i := by sorry`; Lean elaborates each as a
sketch and gives every sorry's goal; each goal becomes a lemma (subgoals.py, named from the lemma alone), taken
from the lemma pool when its statement is there, else proved as a statement of its own by `prover.lemma_strategy`
on both its sides (the pool's near matches shown in its prompt, its requests and checks shared within the pass);
once every lemma is proved, the sketch with the lemmas applied in its holes is checked whole, as any proof of
the side. A sketch Lean refuses is dropped, its reason stored with it.

A lemma's negation is `¬ (∀ binders, concl)` (negation form `forall`, whatever prover.negation_form says): false
whenever the lemma is true, where `binders ⊢ ¬ concl` holds too when the hole's context is contradictory (a
sketch of a theorem with inconsistent hypotheses, a `False` goal) and would kill a valid sketch.

Orders: sketch k's check at (k, 0), its lemma i's side j at (k, 1, i, *the lemma strategy's order, j) (the two
sides interleaved), the assembled proof at (k, 2): an earlier sketch is finished before a later one under a
budget, and its success stops the later ones. What the lemmas' answers decide is decided in that order, never
in the order they arrive: a sketch's answers are taken in canonical order once every check before them is
known. The first proved side of a lemma decides it (proved, or its negation kills the sketch); a lemma both
of whose sides end unproved kills it at its end (k, 1, i, END). The sketch's checks past a kill, and a lemma's
past its proof, are left out of the unit's outcome (Strategy.keeps) whether or not they were in flight, so the
stored rows are those of a serial run."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

from flywheel.errors import UnparsableStatement
from flywheel.records import Side, VerdictStatus
from prover_loop.strategies.asking import check_of, request, sampling_of
from prover_loop.strategies.base import (Check, CheckKind, Checked, Generate, Generated, Order, Proposal, Strategy,
                                         Task)

SIDES = (Side.STATEMENT, Side.NEGATION)
END = 2**62  # a lemma's place after every check of it: where a lemma that ends unproved kills its sketch


@dataclass(slots=True)
class Lemma:
    hole: object  # subgoals.Hole
    proof: str | None = None  # from the pool, or proved here
    runs: list = field(default_factory=list)  # the lemma strategy on each side (SIDES order)
    at: Order | None = None  # the check whose proof decided it
    cap: Order | None = None  # the least order of a proved answer told so far: it is decided there or before
    ended: bool = False  # both sides ended unproved (its END is queued)

    def decided(self) -> bool:
        return self.proof is not None


@dataclass(slots=True)
class Sketch:
    sampling: dict
    checked: bool = False
    over: bool = False  # dropped, killed, or assembled
    text: str = ""  # the sketch as Lean saw it
    attempt: str | None = None  # its attempt's key, the parent of its lemmas' first attempts and of the whole
    lemmas: list[Lemma] = field(default_factory=list)
    cut: Order | None = None  # killed there: its checks after it are no part of the outcome
    told: list = field(default_factory=list)  # heap of (order, i, j, proof or None): answers not yet taken


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
        if sketch.over or sketch.lemmas[i].decided():
            return []
        return self._wrap(k, i, j, sketch.lemmas[i].runs[j].generated(Generated(tag, result.completions))) + \
            self._settle(k)

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
        if sketch.over or lemma.decided():
            return []
        proved = result.verdict is not None and result.verdict.status is VerdictStatus.PROVED
        heapq.heappush(sketch.told, (check.order, i, j, check.proof if proved else None))
        if proved and (lemma.cap is None or check.order < lemma.cap):
            lemma.cap = check.order
        more = self._wrap(k, i, j, lemma.runs[j].checked(Checked(own, result.verdict, result.attempt)))
        return more + self._settle(k)

    def _pending(self, k: int, i: int) -> Order | None:
        """The least order of a check of lemma i of sketch k not told yet: in flight, or still to come."""
        lemma = self.sketches[k].lemmas[i]
        if lemma.decided() or lemma.ended:
            return None
        coming = [ours.order for kk, ii, _, ours, _ in self.inner.values() if kk == k and ii == i]
        coming += [(k, 1, i, *f, j) for j, run in enumerate(lemma.runs) if (f := run.frontier()) is not None]
        return min(coming, default=None)

    def _settle(self, k: int) -> list[Proposal]:
        """Take the sketch's answers in canonical order, each once every check before it is known: a proved
        side decides its lemma (a negation kills the sketch there), a lemma ended unproved kills it at its END;
        then assemble once every lemma is proved."""
        sketch = self.sketches[k]
        while not sketch.over:
            for i, lemma in enumerate(sketch.lemmas):
                if not (lemma.decided() or lemma.ended) and self._pending(k, i) is None:
                    lemma.ended = True  # nothing more can come of either side, and neither proved
                    heapq.heappush(sketch.told, ((k, 1, i, END), i, None, None))
            if not sketch.told:
                break
            horizon = min((p for i in range(len(sketch.lemmas)) if (p := self._pending(k, i)) is not None),
                          default=None)
            order, i, j, proof = sketch.told[0]
            if horizon is not None and horizon < order:
                break  # an earlier check may still decide otherwise
            heapq.heappop(sketch.told)
            lemma = sketch.lemmas[i]
            if lemma.decided():
                continue
            if j is None or (proof is not None and SIDES[j] is Side.NEGATION):
                sketch.over, sketch.cut = True, order  # the subgoal is false, or nothing proved it
            elif proof is not None:
                lemma.proof, lemma.at = proof, order
        return self._assemble(k, sketch)

    def keeps(self, check: Check) -> bool:
        """A lemma's check past its sketch's kill, or past the check that proved the lemma, is no part of the
        outcome: a serial run would never have made it."""
        if len(check.order) < 3 or check.order[1] != 1:
            return True
        sketch = self.sketches[check.order[0]]
        lemma = sketch.lemmas[check.order[2]]
        return ((sketch.cut is None or check.order <= sketch.cut)
                and (lemma.at is None or check.order <= lemma.at))

    def _sketched(self, k: int, sketch: Sketch, result: Checked) -> list[Proposal]:
        from prover_loop.lemmas import derived
        from prover_loop.strategies import make_strategy

        sketch.checked = True
        tactics, verdict = result.tactics, result.verdict
        if (verdict is None or verdict.status is not VerdictStatus.INCOMPLETE or tactics is None
                or not tactics.sorries or result.attempt is None):
            sketch.over = True  # refused by Lean or the guard: its verdict and reason are stored with its attempt
            return []
        sketch.text, sketch.attempt = tactics.proof, result.attempt.id
        task, st = self.task, self.task.statement
        try:
            holes = [self._hole(tactics.proof, s) for s in tactics.sorries]
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
            examples = pool.examples(st.header, st.preamble, h.statement, task.cfg.lemma_examples) if pool else ()
            for j, side in enumerate(SIDES):
                sub = Task(lemma_st, side, goal_text(lemma_st, side, "forall"), None, task.pass_,
                           task.cfg.lemma_samples, task.cfg, True, attempt=task.attempt,
                           examples=examples if side is Side.STATEMENT else ())
                lemma.runs.append(make_strategy(list(task.cfg.lemma_strategy), sub))
                out += self._wrap(k, i, j, lemma.runs[j].start())
        return out + self._settle(k)

    def _hole(self, proof: str, sorry):
        """A sorry's lemma, named from the lemma alone (lemma_name), so that every unit asks the same of it."""
        from prover_loop.lemmas import lemma_name
        from prover_loop.strategies.subgoals import hole

        st = self.task.statement
        return hole(proof, sorry, lemma_name(st.header, st.preamble, hole(proof, sorry, "subgoal").statement))

    def _wrap(self, k: int, i: int, j: int, proposals: list[Proposal]) -> list[Proposal]:
        """A lemma run's proposals as the sketch's; a check past the lemma's cap is dropped (the lemma is
        decided before it, so it would be no part of the outcome)."""
        sketch = self.sketches[k]
        lemma = sketch.lemmas[i]
        run = lemma.runs[j]
        out: list[Proposal] = []
        for p in proposals:
            if isinstance(p, Generate):
                out.append(Generate(p.request, ("lemma", k, i, j, p.tag), p.role, shared=True))
                continue
            order = (k, 1, i, *p.order, j)
            if lemma.cap is not None and order > lemma.cap:
                continue
            ours = replace(p, order=order, statement=run.task.goal, subject=run.task,
                           parent=p.parent or sketch.attempt, sampling=dict(p.sampling, sketch=k, lemma=i),
                           strategy=p.strategy or run.name, shared=True)
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
            fronts = [(k, 1, i, *f, j) for i, lemma in enumerate(sketch.lemmas) if not lemma.decided()
                      for j, run in enumerate(lemma.runs) if (f := run.frontier()) is not None]
            pending.append(min(fronts, default=(k, 2)))
        return min(pending, default=None)
