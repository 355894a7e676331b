"""Preambles on the real Lean 4 REPL of 2021: the `def r … #exit` statement, whose `#print axioms r` the
preamble's def answered, is refused by the guard and, sent past it, by the reading of the answer; honest
preambles prove."""

import pytest

from flywheel.lean.guard.verifier import Prepared, Verifier
from flywheel.records import VerdictStatus as V

pytestmark = pytest.mark.lean

EXIT = "def r : True := trivial #exit\n\ntheorem r : 2 + 2 = 5 := sorry"


def test_a_preamble_def_answering_for_the_theorem_is_refused(real_lean_cfg):
    with Verifier(real_lean_cfg) as v:
        same_name = v.check("", EXIT, "by decide")
        other = v.check("", EXIT.replace("def r", "def q"), "by decide")
        cr = v.check("", "def q : Nat := 1\r#exit\n\ntheorem r : 2 + 2 = 5 := sorry", "by decide")
    assert same_name.status is V.REJECTED and "the theorem's own name" in same_name.reason, same_name
    assert other.status is V.REJECTED and "#exit" in other.reason, other
    assert cr.status is V.REJECTED and "carriage return" in cr.reason, cr


def test_past_the_guard_an_exit_gets_no_answer_and_is_refused(real_lean_cfg):
    """The code the old guard let through, run as it was: Lean stops at `#exit`, our `#print axioms r`
    is never answered, and nothing is asked again (the preamble's `def r` would answer)."""
    code = "def r : True := trivial #exit\n\ntheorem r : 2 + 2 = 5 := (by decide\n)"
    prepared = Prepared("", "r", code, "k", 3, 27)
    with Verifier(real_lean_cfg) as v:
        verdict = v.run_in_pool(prepared, False)
    assert verdict.status is not V.PROVED and verdict.status is V.REJECTED, verdict


@pytest.mark.parametrize("preamble, statement, proof", [
    ("def bound : Nat :=\nNat.zero", "theorem t1 : bound + 2 = 2 := sorry", "rfl"),  # the body at column 0
    ("section\nvariable (n : Nat)\ndef twice := n + n\nend", "theorem t2 : twice 2 = 4 := sorry", "rfl"),
    ("universe u\n\ndef idd {α : Sort u} (a : α) : α := a -- a comment", "theorem t3 : idd 3 = 3 := sorry", "rfl"),
    ("open Nat\n\nabbrev k : Nat := succ 1", "theorem t4 : k = 2 := sorry", "rfl"),
])
def test_honest_preambles_prove(real_lean_cfg, preamble, statement, proof):
    with Verifier(real_lean_cfg) as v:
        got = v.check("", f"{preamble}\n\n{statement}", proof)
    assert got.status is V.PROVED, got
