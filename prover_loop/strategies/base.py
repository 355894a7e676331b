"""What a strategy works on, what it proposes, what it is told, and the base class every strategy extends."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from flywheel.config import ProverConfig
from flywheel.records import ProofAttempt, Side, Statement
from prover_loop.extract import NoProof

NO_PROOF = NoProof.NONE.value
Order = tuple[int, ...]


class CheckKind(str, enum.Enum):
    PROOF = "proof"  # a proof body for a declaration: the verifier's check, `proved` possible
    SKETCH = "sketch"  # a proof with `sorry` holes: `incomplete` when only the holes are open, never `proved`
    # a proof of the side's goal checked as PROOF is (the same guarded verdict, stored as an attempt) and told
    # back with the tactics Lean ran (Checked.tactics)
    TACTICS = "tactics"


@dataclass(slots=True)
class Task:
    """One statement side, handed to a strategy."""

    statement: Statement
    side: Side
    goal: str  # the declaration whose proof counts for this side, proof `by sorry`
    informal: str | None
    pass_: int
    samples: int  # first answers per side (prover.samples_per_side, false_hyps_samples, eval's n)
    cfg: ProverConfig
    early_stop: bool = True  # False: every chain runs to its end (evaluation counts correct samples)
    lemmas: Any = None  # the lemma pool (prover_loop.lemmas.Pool): proofs of lemmas stored before this pass
    resumed: list = field(default_factory=list)  # this side's attempts of an interrupted search (Strategy.journal)
    # which of a side's independent attempts this task is (evaluation runs eval.n of them, each a lane of its
    # own at the stated budget): its requests' keys and seeds differ from the other attempts'
    attempt: int = 0
    # proved lemmas near this one (a subgoal lemma's, prover_loop.lemmas.Pool.examples), shown in its first prompt
    examples: tuple[str, ...] = ()

    @property
    def declaration(self) -> str:
        """The goal without `:= by sorry`, as the prompts show it."""
        return self.goal.removesuffix("by sorry").rstrip().removesuffix(":=").rstrip()

    @property
    def name(self) -> str:
        return parsed_goal(self.goal).name


@functools.lru_cache(maxsize=4096)
def parsed_goal(goal: str):
    """A side's goal, parsed once for all its attempts (Theorem is immutable)."""
    from flywheel.lean.text import statements as surgery

    return surgery.parse_theorem(goal)


@dataclass(slots=True)
class Generate:
    """Ask the model: the request, and a note of the strategy's own handed back with the completions."""

    request: Any  # flywheel.llm.base.GenerationRequest
    tag: Any = None
    role: str | None = None  # the model role that answers (flywheel.roles: "sketcher"); None: the prover
    # asked once a pass: an equal request of another unit (or of this one) waits on the same answer (decompose's
    # lemmas, whose requests follow from the lemma alone, so each unit is told what it would have been told alone)
    shared: bool = False


@dataclass(slots=True)
class Check:
    """Ask Lean. Each check of a side has its own `order`, a deterministic function of what the strategy was
    told (never of timing): the unit's canonical order is (order, side index), which early stop and budgets
    follow, so a serial run and a parallel one store the same rows."""

    order: Order
    proof: str | None  # None: nothing to send (no_proof says why); stored as a rejected attempt
    sampling: dict  # stored with the attempt, and part of its key
    turn: int = 0
    parent: str | None = None  # the key of the attempt this one revises
    tokens: int = 0  # the tokens generated for this proof
    no_proof: str = NO_PROOF
    kind: CheckKind = CheckKind.PROOF
    # Code the strategy built in place of the side's goal (a lemma, a sketch's statement): checked the same
    # guarded way, told back, counted in the budget, but not an attempt of this side (not stored).
    statement: str | None = None
    strategy: str | None = None  # stored with the attempt; None: the side's strategy's name
    tag: Any = None
    # The task a built statement proves (a lemma, as a derived statement, base.Task): its attempt is stored as
    # one of that task's statement and side, never settles this side, and goes out with the unit's outcome.
    subject: "Task | None" = None
    role: str | None = None  # the model role that wrote the proof (stored as the attempt's model)
    # an attempt stored before (a resumed search): its verdict is told back as it was and Lean is not asked
    replay: ProofAttempt | None = None
    shared: bool = False  # checked once a pass: an equal check (same code) waits on the same verdict (Generate.shared)

    @property
    def of_goal(self) -> bool:
        return self.statement is None and self.kind in (CheckKind.PROOF, CheckKind.TACTICS)

    @property
    def stored(self) -> bool:
        """Stored as an attempt: a check of the side's goal (a proof or a sketch), or of a subject's."""
        return self.statement is None or self.subject is not None


@dataclass(slots=True)
class Generated:
    tag: Any
    completions: list  # flywheel.llm.base.Completion, n of them


@dataclass(slots=True)
class Checked:
    check: Check
    verdict: Any  # flywheel.lean.guard.verdicts.Verdict, or None when nothing was sent
    attempt: ProofAttempt | None  # as it will be stored (checks of the goal, or of a subject)
    tactics: Any = None  # a sketch's flywheel.lean.tactics.records.Checked: the proof as Lean saw it and its sorries


Proposal = Union[Generate, Check]


@dataclass(slots=True)
class Strategy:
    """A state machine for one statement side. The scheduler calls start() once, then generated() with each
    Generate's completions and checked() with each Check's verdict; each returns the next proposals.
    frontier() is the least order of any check it may still propose (None: none more) and must count the
    checks that pending generations will bring. The scheduler owns budgets, early stop and storing: it may
    drop any proposal (a budget spent, the unit settled), so a strategy never waits on one answer alone."""

    name: ClassVar[str] = ""
    # True: the unit's attempts are stored as soon as their place in the canonical order is sure, not only when
    # the unit settles, so that a killed run resumes the strategy from them (Task.resumed)
    journal: ClassVar[bool] = False
    task: Task

    def attempt_of(self, check: Check) -> int:
        """Which independent attempt of this strategy a check of it belongs to (the unit evaluation counts,
        and spends a budget on): 0, the whole run of the strategy on its side, unless each of its answers is
        one (sample)."""
        return 0

    def keeps(self, check: Check) -> bool:
        """Whether a check's attempt is part of the unit's outcome: False for one a serial run would never have
        made (decompose: past the answer that decided its lemma or killed its sketch), in flight or not."""
        return True

    def start(self) -> list[Proposal]:
        raise NotImplementedError

    def generated(self, result: Generated) -> list[Proposal]:
        raise NotImplementedError

    def checked(self, result: Checked) -> list[Proposal]:
        return []

    def frontier(self) -> Order | None:
        raise NotImplementedError

    def unanswered(self) -> Order | None:
        """A journal strategy's least order of a check it proposed and was not told of yet, or may still
        propose (None: none); the unit stores the attempts before it early."""
        raise NotImplementedError
