"""Every cheat category is caught before Lean; comments and strings neither trigger nor hide a ban."""

import pytest

from flywheel.config import LeanConfig
from flywheel.lean.soundness import (
    Policy, check_axioms, limit_heartbeats, parse_axioms, scan_header, scan_proof, scan_statement,
)

P = Policy()


@pytest.mark.parametrize(
    "proof, reason",
    [
        ("by sorry", "sorry"),
        ("by\n  admit", "admit"),
        ("by exact sorryAx _ false", "sorry"),
        ("by /- harmless -/ sorry", "sorry"),
        ("by exact «sorry»", "sorry"),
        ("by apply?", "search"),
        ("by\n  exact?", "search"),
        ("by native_decide", "native_decide"),
        ("by decide +native", "native"),
        ("by exact Lean.ofReduceBool _ _ rfl", "ofReduceBool"),
        ("by\n  simp\naxiom cheat : False", "axiom"),
        ("by\n  simp\n#exit", "#exit"),
        ("by\n  simp\ntheorem other : False := sorry", "theorem"),
        ("by\n  simp\n#print axioms foo", "#print"),
        ("by\n  simp\nmacro \"x\" : tactic => `(tactic| sorry)", "macro"),
        ("by\n  simp\nnotation \"x\" => 1", "notation"),
        ("by\n  set_option debug.skipKernelTC true in\n  simp", "debug"),
        ("by\n  set_option maxHeartbeats 0 in\n  nlinarith", "maxHeartbeats 0"),
        ("by\n  set_option maxHeartbeats 999999999 in\n  nlinarith", "maxHeartbeats"),
        ("by run_tac Lean.Elab.Tactic.evalTactic", "metaprogram"),
        ("by\n  simp\n@[implemented_by foo] def x := 1", "command"),
        ("by simp /- never closed", "unterminated comment"),
        ('by simp "never closed', "unterminated string"),
        ("by\n  simp\nunsafe def x := 1", "def"),
        ("by\n  unsafe simp", "unsafe"),
        ("   ", "empty"),
    ],
)
def test_cheats_are_rejected_with_their_reason(proof, reason):
    found = scan_proof(proof, P)
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "proof",
    [
        "by\n  -- no sorry here, and no native_decide either\n  simp",
        'by\n  have h : "sorry" ≠ "admit" := by decide\n  simp',
        "by /- a /- nested -/ sorry -/ simp",
        "by\n  set_option maxHeartbeats 200000 in\n  nlinarith [sq_nonneg (a - b)]",
        "by\n  open Real in\n  simp [sqrt_eq_iff]",
        "by simp?",
        "by\n  have h' : x' = x' := rfl\n  exact h'",
        "fun x => x",
        "by\n  decide",
    ],
)
def test_honest_proofs_pass(proof):
    assert scan_proof(proof, P) is None


def test_native_decide_allowed_by_config():
    policy = Policy.from_config(LeanConfig(allow_native_decide=True))
    assert scan_proof("by native_decide", policy) is None
    assert check_axioms(["Lean.ofReduceBool"], policy) is not None  # the axiom check still speaks


def test_statement_and_header_scans():
    assert scan_statement("theorem t (h : sorry) : True := by sorry", P) == "banned: sorry"
    assert scan_statement("theorem t (x : ℕ) : x = x := by sorry", P) is None  # the proof part is not scanned
    assert "command" in scan_statement("axiom a : False\ntheorem t : True := by sorry", P)
    assert scan_header("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real\n", P) is None
    assert "axiom" in scan_header("import Mathlib\naxiom cheat : False\n", P)
    assert "debug" in scan_header("set_option debug.skipKernelTC true\n", P)
    assert limit_heartbeats("import Mathlib\nset_option maxHeartbeats 0\n", P) == "import Mathlib\nset_option maxHeartbeats 400000\n"


def test_axioms_answers():
    wrapped = [{"severity": "info", "data": "'t' depends on axioms: [propext,\n sorryAx,\n Classical.choice]"}]
    assert parse_axioms(wrapped, "t") == ["propext", "sorryAx", "Classical.choice"]
    assert parse_axioms(wrapped, "other") is None
    assert parse_axioms([{"severity": "info", "data": "'t' does not depend on any axioms"}], "t") == []
    assert parse_axioms([], "t") is None
    assert check_axioms(["propext", "Quot.sound", "Classical.choice"], P) is None
    assert check_axioms(["propext", "sorryAx"], P) == "uses sorry (sorryAx)"
    assert check_axioms(["Lean.ofReduceBool"], P) == "uses native_decide (Lean.ofReduceBool)"
    assert check_axioms(["cheat"], P) == "depends on axiom cheat"
