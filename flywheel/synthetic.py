"""A synthetic formal benchmark that core Lean 4 checks and a small model can learn: families of `Nat` and
`List` statements whose proofs differ by family (rfl, decide, simp, a lemma applied to the right arguments,
an induction), generated deterministically, with a train split (to ingest with `--formal`) and a held-out
test split (`eval.benchmark: synthetic`). Words are separated by spaces, so a word-level tokenizer sees
every symbol of a statement and every word of a proof.

Which proof closes which family, on the core library alone, was checked on a real Lean 4 (tests/test_synthetic.py
verifies every reference proof, and that each family's tactic fails on the families it must not close):
  rfl        definitional unfoldings simp does not know (`Nat.pred ( Nat.succ n ) = n`)
  decide     closed propositions of literals (simp, whose default config decides them too, also closes these)
  simp       simp lemmas over variables, not definitional (`0 + n = n`)
  lemma      `exact Nat.add_comm x y` and its kin: the lemma, and its arguments in the statement's order
  induction  `List.map id xs = xs` and `List.length ( xs ++ ys ) = ...`: induction on the list, then simp
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

FAMILIES = ("rfl", "decide", "simp", "lemma", "induction")
PER_FAMILY = 40  # statements a family
HELD_OUT = 10  # of them, in the test split
SEED = 20  # the benchmark is this seed's draw; changing it makes another benchmark
NAT_VARS = ("a", "b", "c", "k", "m", "n", "x", "y", "z")
LIST_VARS = ("xs", "ys", "zs", "l", "s")
ELEMENT_TYPES = ("Nat", "Bool")
# The one-word tactics that close each family on core Lean, beside its reference proof (tests/test_synthetic.py
# checks this on the real Lean 4 of 2021): decide's propositions are closed, and simp decides them as well.
ONE_WORD_CLOSES = {"rfl": ("rfl",), "decide": ("decide", "simp"), "simp": ("simp",), "lemma": (), "induction": ()}


@dataclass(slots=True, frozen=True)
class SyntheticItem:
    name: str
    family: str
    split: str  # train | test
    formal_statement: str  # `theorem NAME binders : conclusion := by sorry`
    proof: str  # the reference proof: `by` and one line of tactics
    header: str = ""  # core Lean: nothing to import


Candidate = tuple[str, str, str]  # (binders, conclusion, tactic)


def _nat_binders(*names: str) -> str:
    return f"( {' '.join(names)} : Nat )"


def _rfl(r: random.Random) -> Iterator[Candidate]:
    while True:
        v, w = r.sample(NAT_VARS, 2)
        yield from r.sample([
            (_nat_binders(v), f"Nat.pred ( Nat.succ {v} ) = {v}", "rfl"),
            (_nat_binders(v), f"Nat.succ {v} - 1 = {v}", "rfl"),
            (_nat_binders(v), f"List.reverse [ {v} ] = [ {v} ]", "rfl"),
            (_nat_binders(v, w), f"List.head? [ {v} , {w} ] = some {v}", "rfl"),
        ], 1)


def _decide(r: random.Random) -> Iterator[Candidate]:
    while True:
        a, b, c, d = (r.randint(2, 60) for _ in range(4))
        m = r.randint(2, 9)
        yield from r.sample([
            ("", f"{a} ≠ {a + b}", "decide"),
            ("", f"¬ ( {a + b} < {a} )", "decide"),
            ("", f"( {a} < {a + c} ) ∧ ( {d} ≠ {d + b} )", "decide"),
            ("", f"{a} % {m} ≠ {(a % m + 1) % m}", "decide"),
        ], 1)


def _simp(r: random.Random) -> Iterator[Candidate]:
    while True:
        v, k = r.choice(NAT_VARS), r.randint(0, 9)
        xs, t = r.choice(LIST_VARS), r.choice(ELEMENT_TYPES)
        yield from r.sample([
            (_nat_binders(v), f"0 + {v} = {v}", "simp"),
            (_nat_binders(v), f"1 * {v} = {v}", "simp"),
            (_nat_binders(v), f"0 * {v} = 0", "simp"),
            (_nat_binders(v), f"List.length ( List.replicate {v} {k} ) = {v}", "simp"),
            (f"( {xs} : List {t} )", f"{xs} ++ [] = {xs}", "simp"),
        ], 1)


def _lemma(r: random.Random) -> Iterator[Candidate]:
    while True:
        u, v, w = r.sample(NAT_VARS, 3)
        yield from r.sample([
            (_nat_binders(u, v), f"{u} + {v} = {v} + {u}", f"exact Nat.add_comm {u} {v}"),
            (_nat_binders(u, v), f"{u} * {v} = {v} * {u}", f"exact Nat.mul_comm {u} {v}"),
            (_nat_binders(u, v, w), f"{u} + {v} + {w} = {u} + ( {v} + {w} )", f"exact Nat.add_assoc {u} {v} {w}"),
            (_nat_binders(u, v, w), f"{u} * {v} * {w} = {u} * ( {v} * {w} )", f"exact Nat.mul_assoc {u} {v} {w}"),
        ], 1)


def _induction(r: random.Random) -> Iterator[Candidate]:
    while True:
        xs, ys = r.sample(LIST_VARS, 2)
        t = r.choice(ELEMENT_TYPES)
        yield from r.sample([
            (f"( {xs} : List {t} )", f"List.map id {xs} = {xs}",
             f"induction {xs} with | nil => rfl | cons x {xs} ih => simp [ List.map , ih ]"),
            (f"( {xs} {ys} : List {t} )", f"List.length ( {xs} ++ {ys} ) = List.length {xs} + List.length {ys}",
             f"induction {xs} with | nil => simp | cons x {xs} ih => simp [ ih , Nat.succ_add ]"),
        ], 1)


MAKERS: dict[str, Callable[[random.Random], Iterator[Candidate]]] = {
    "rfl": _rfl, "decide": _decide, "simp": _simp, "lemma": _lemma, "induction": _induction}


def _family(family: str, seed: int, count: int) -> list[Candidate]:
    """`count` distinct statements of a family (their variable names and numbers drawn from `seed`)."""
    r = random.Random(f"{seed}:{family}")
    made = MAKERS[family](r)
    out: dict[tuple[str, str], Candidate] = {}
    for _ in range(100 * count):
        cand = next(made)
        out.setdefault(cand[:2], cand)
        if len(out) == count:
            return list(out.values())
    raise ValueError(f"synthetic family {family}: only {len(out)} distinct statements, {count} asked")


def generate(seed: int = SEED, per_family: int = PER_FAMILY, held_out: int = HELD_OUT) -> list[SyntheticItem]:
    """Every family's statements, the first `held_out` of each in the test split; the test split interleaves
    the families, so its first problems (`eval.limit`) cover all of them."""
    if not 0 < held_out < per_family:
        raise ValueError(f"held_out must be between 1 and per_family - 1, got {held_out} of {per_family}")
    train: list[SyntheticItem] = []
    test: list[list[SyntheticItem]] = []
    for family in FAMILIES:
        items = []
        for i, (binders, conclusion, tactic) in enumerate(_family(family, seed, per_family)):
            name = f"syn_{family}_{i}"
            split = "test" if i < held_out else "train"
            head = f"theorem {name} {binders} :" if binders else f"theorem {name} :"
            items.append(SyntheticItem(name, family, split, f"{head} {conclusion} := by sorry", f"by {tactic}"))
        test.append(items[:held_out])
        train.extend(items[held_out:])
    return [it for row in zip(*test) for it in row] + train


def vocabulary(items: list[SyntheticItem]) -> list[str]:
    """The words of the statements' conclusions (numbers left out: a policy need not spell them) and of the
    reference proofs, in first-seen order: what a word-level policy reads a statement by and writes proofs in."""
    words: dict[str, None] = {}
    for it in items:
        conclusion = it.formal_statement.rsplit(" := ", 1)[0].rsplit(" : ", 1)[-1]
        for word in conclusion.split() + it.proof.split():
            if not word.isdigit():
                words.setdefault(word, None)
    return list(words)


def write(out: Path, items: list[SyntheticItem]) -> dict[str, Path]:
    """`train.jsonl` and `test.jsonl` in `out`, one record a line (name, family, split, formal_statement,
    proof, header): what `flywheel ingest --formal` and `flywheel lean check` read."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in ("train", "test"):
        path = out / f"{split}.jsonl"
        path.write_text("".join(json.dumps(asdict(it), ensure_ascii=False) + "\n" for it in items if it.split == split),
                        encoding="utf-8")
        paths[split] = path
    return paths
