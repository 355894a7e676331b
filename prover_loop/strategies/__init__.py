"""Proving strategies: one small state machine per statement side, one scheduler that runs them all.

A strategy (base.Strategy, a dataclass holding its base.Task: the statement, the side, the goal, the
config) is told what happened and answers with proposals:

    start() -> [Generate | Check]            once, when its unit is admitted
    generated(Generated) -> [...]            the n completions of one of its Generates (with its tag)
    checked(Checked) -> [...]                the verdict of one of its Checks, and the attempt stored for it
    frontier() -> order | None               the least order of any check it may still propose

`Generate(request, tag)` asks the model (a flywheel.llm GenerationRequest). `Check(order, proof, sampling,
turn, parent, tokens, ...)` asks Lean through the same guarded verifier as every proof: by default the proof
of the side's goal (stored as an attempt, with `parent` the key of the attempt it revises); with
`statement=` code the strategy built itself (a lemma, a prefix), and with `kind=CheckKind.SKETCH` a proof
with `sorry` holes (incomplete when only the holes are open). Those are told back and spent from the budget
but not stored as attempts of the side. A check's `order` (a tuple) is its place among the side's checks and
must follow from what the strategy was told, never from timing.

The scheduler (scheduler.py) owns everything else: batching generation, keeping `workers` Lean checks in
flight across many units, the budgets (prover.budget_checks, prover.budget_tokens per side, spent in
canonical order), early stop (a unit is the statement's sides; it settles at its first proved attempt in
(order, side) order) and handing each settled unit whole to the store. So a strategy holds no thread, lock,
timer or store.

`kind=CheckKind.TACTICS` checks a proof of the side's goal as PROOF does (the same guarded verdict, stored as
an attempt) and tells it back with the tactics Lean ran (`Checked.tactics`, flywheel.lean.tactics.records.Checked; the
caller's Lean must give them: Verifier.check_tactics). `Check(replay=attempt)` tells back an attempt stored
before without asking Lean. A strategy with `journal = True` (rmaxts) has its unit's attempts stored as soon as
their place in the canonical order is sure (before `unanswered()`, the least order it may still be told of), so
that a killed run resumes it from them (`Task.resumed`): it must replay them in the same order, asking nothing.

A Generate may name a model role (`role="sketcher"`, flywheel/roles.py): the scheduler sends it to that role's
generator where one was given (`Scheduler(roles=)`), else to the prover. A sketch check is told back with the
tactic-level answer (`Checked.tactics`: the proof as Lean saw it, its sorries and their goals) and stored as an
attempt of the side. A check with `subject=` a Task of its own (decompose's lemmas, as derived statements) is
stored as an attempt of that task's statement and side, never settles the unit, and goes out with the unit's
outcome (prove.Result.derived, .lemmas). `Task.lemmas` is the lemma pool read before the pass. A Generate or
Check marked `shared` is asked once a pass however many units propose it (flights.py: decompose's lemmas, named
from the lemma alone so that equal lemmas ask equal things); each asker is told the answer as its own.

A new strategy is one file here, `<name>.py` with one Strategy subclass whose `name` is <name>, and the name
in flywheel.config.STRATEGIES. Lean's feedback for a prompt is flywheel.prompting.lean_feedback over the
verdict's messages; tactic-level information (goals at each error, sorries' goals, proof states) arrives as
keys of those messages (`goal`) once the REPL returns it (flywheel/lean/tactics/records.py).
"""

from __future__ import annotations

import importlib

from flywheel.errors import ConfigError
from prover_loop.strategies.base import Check, CheckKind, Checked, Generate, Generated, Strategy, Task


def strategy_class(name: str) -> type[Strategy]:
    """The Strategy subclass named `name`, from prover_loop/strategies/<name>.py."""
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        raise ConfigError(f"prover.strategy: no strategy {name!r} (prover_loop/strategies/{name}.py)") from e
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Strategy) and value.name == name:
            return value
    raise ConfigError(f"prover.strategy: prover_loop/strategies/{name}.py defines no Strategy named {name!r}")


def make_strategy(names: list[str], task: Task) -> Strategy:
    """One strategy, or several run one after another on the side (chain.py)."""
    if len(names) == 1:
        return strategy_class(names[0])(task)
    from prover_loop.strategies.chain import Chain

    return Chain(task, steps=[strategy_class(n) for n in names])


__all__ = ["Check", "CheckKind", "Checked", "Generate", "Generated", "Strategy", "Task", "make_strategy",
           "strategy_class"]
