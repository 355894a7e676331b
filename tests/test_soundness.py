"""The guard on tokens: every cheat class is refused however it is spelled, every honest form passes;
comments neither trigger nor hide a ban, the code inside strings is code."""

import pytest

from flywheel.config import LeanConfig
from flywheel.lean.guard.axioms import check_axioms, parse_axioms
from flywheel.lean.text.lexer import tokenize
from flywheel.lean.guard.soundness import (
    Policy, header_commands, limit_heartbeats, scan_header, scan_preamble, scan_proof,
    scan_statement, wrap_proof,
)
from flywheel.lean.guard.verdicts import uses_sorry

P = Policy()

# (proof, a word of the reason): each is accepted by a real Lean 4.26 + Mathlib, or runs something we
# did not check, while the statement is not proved.
CHEATS = [
    ("by sorry", "sorry"),
    ("by\n  admit", "admit"),
    ("by exact sorryAx _ false", "sorry"),
    ("by /- harmless -/ sorry", "sorry"),
    ("by exact «sorry»", "sorry"),
    ("by apply?", "search"),
    ("by\n  exact?", "search"),
    ("by native_decide", "native_decide"),
    ("by decide +native", "native"),
    ("by decide (config := { native := true })", "native"),
    ("by exact Lean.ofReduceBool _ _ rfl", "ofReduceBool"),
    ("by exact Lean.«ofReduceBool» _ _ rfl", "ofReduceBool"),
    ("by\n  simp\naxiom cheat : False", "axiom"),
    ("by\n  simp\n#exit", "#exit"),
    ("by\n  simp\ntheorem other : False := sorry", "theorem"),
    ("by\n  simp\n#print axioms foo", "#print"),
    ("by\n  simp\nmacro \"x\" : tactic => `(tactic| sorry)", "macro"),
    ("by\n  simp\nnotation \"x\" => 1", "notation"),
    ("by run_tac Lean.Elab.Tactic.evalTactic", "metaprogram"),
    ("by\n  simp\n@[implemented_by foo] def x := 1", "attribute"),
    ("by simp /- never closed", "unterminated comment"),
    ('by simp "never closed', "unterminated string"),
    ("by\n  simp\nunsafe def x := 1", "unsafe"),
    ("by\n  unsafe simp", "unsafe"),
    ("   ", "empty"),
    # options, however the name is spelled; only the allowlist may be set
    ("by\n  set_option debug.skipKernelTC true in\n  decide", "debug.skipKernelTC"),
    ("by\n  set_option «debug».skipKernelTC true in\n  decide +kernel", "debug.skipKernelTC"),
    ("by\n  set_option debug.«skipKernelTC» true in\n  decide +kernel", "debug.skipKernelTC"),
    ("by\n  set_option «debug.skipKernelTC» true in\n  decide", "debug.skipKernelTC"),
    ("by\n  set_option maxHeartbeats 0 in\n  nlinarith", "maxHeartbeats 0"),
    ("by\n  set_option «maxHeartbeats» 0 in\n  nlinarith", "maxHeartbeats 0"),
    ("by\n  set_option maxHeartbeats 999999999 in\n  nlinarith", "maxHeartbeats"),
    ("by\n  set_option synthInstance.maxHeartbeats 0 in\n  simp", "synthInstance.maxHeartbeats 0"),
    ("by\n  set_option synthInstance.maxHeartbeats 99999999 in\n  simp", "synthInstance.maxHeartbeats"),
    ("by\n  set_option maxRecDepth 100000000 in\n  simp", "maxRecDepth"),
    ("by\n  set_option backward.isDefEq.lazyWhnfCore false in\n  simp", "not an allowed option"),
    ("by\n  set_option Elab.async false in\n  simp", "not an allowed option"),
    # code inside strings: Lean elaborates the {…} parts of interpolated strings
    ('by\n  have := s!"{set_option debug.skipKernelTC true in (rfl : 1 = 1)}"\n  decide', "debug.skipKernelTC"),
    ('by\n  have : String := s!"x{sorry}y"\n  trivial', "sorry"),
    ('by\n  have := m!"{(by run_tac pure () : True)}"\n  trivial', "metaprogram"),
    ('by\n  dbg_trace "{Lean.ofReduceBool}"; trivial', "ofReduceBool"),
    ('by\n  have := s!"{"}"}"\n  trivial', "interpolation"),
    ('by\n  have := s!"{s!"{native_decide}"}"\n  trivial', "interpolation"),
    ('by\n  have := s!"{native_decide}"\n  trivial', "native_decide"),
    # commands after the proof that a keyword list would miss; a bare open next to an `in`
    ("by\n  simp\nalias cheat := foo", "alias"),
    ("by\n  simp\nnotation3 \"x\" => 1", "notation3"),
    ("by\n  simp\nbinder_predicate x \" > \" y:term => `($x > $y)", "binder_predicate"),
    ("by\n  simp\nirreducible_def c : ℕ := 1", "irreducible_def"),
    ("by\n  simp\nlemma other : False := sorry", "lemma"),
    ("by\n  simp\nopen Real\nset_option pp.all true in\n  simp", "open"),
    ("by\n  simp\nopen Real; exact foo in simp", "open"),
    ("by\n  simp\nopen Real -- in\n  simp", "open"),
    ("by\n  simp)\n#exit\n(by simp", "unbalanced"),
    ("by\n  simp\n  hint", "hint"),
    ("by hint", "hint"),
    ("by simp <;> hint", "hint"),
    ("by (hint)", "hint"),
    ("by\n  simp\n  all_goals (first | hint | simp)", "hint"),
    ("by\n  iterate 2 hint", "hint"),
    ("by\n  classical hint", "hint"),
    # `stop tacs` is `repeat sorry`; the kernel hands Lean.reduceNat to compiled code, as it does reduceBool
    ("by\n  stop\n  simp", "stop"),
    ("by stop simp", "stop"),
    ("by\n  · stop\n    simp", "stop"),
    ("by\n  simp <;> stop simp", "stop"),
    ("by\n  repeat' (stop simp)", "stop"),
    ("by exact Lean.ofReduceNat _ _ rfl", "ofReduceNat"),
    ("by\n  have : Lean.reduceNat 2 = 2 := rfl\n  simp", "ofReduceNat"),
    # control characters: what Lean reads would depend on an escape layer
    ("by\n  simp\x0b", "U+000B"),
    ("by\x00 simp", "U+0000"),
    ("by simp \ud800", "U+D800"),
    ('by\n  set_option trace.profiler.output "/tmp/p.json" in\n  simp', "writes a file"),
    ('by\n  set_option trace.profiler.output.pp true in\n  simp', "writes a file"),
]

HONEST = [
    "by\n  -- no sorry here, and no native_decide either\n  simp",
    'by\n  have h : "sorry" ≠ "admit" := by decide\n  simp',
    "by /- a /- nested -/ sorry -/ simp",
    "by\n  -- the «sorry» case is not this one\n  simp",
    "by\n  set_option maxHeartbeats 200000 in\n  nlinarith [sq_nonneg (a - b)]",
    "by\n  set_option synthInstance.maxHeartbeats 40000 in\n  simp",
    "by\n  set_option maxRecDepth 5000 in\n  simp",
    "by\n  set_option pp.all true in\n  set_option linter.unusedVariables false in\n  simp",
    "by\n  open Real in\n  simp [sqrt_eq_iff]",
    "by\n  open scoped BigOperators in\n  simp",
    "by simp?",
    "by\n  have h' : x' = x' := rfl\n  exact h'",
    "fun x => x",
    "by\n  decide",
    "by\n  have : #s = 3 := by simp\n  omega",
    "by\n  have : (#v[1, 2] : Vector ℕ 2).size = 2 := rfl\n  simp",
    "by\n  exact hint",
    "by\n  exact (hint)",
    "by\n  have : (Std.Range.mk 0 5 1 (by decide)).stop = 5 := rfl\n  simp [r.stop, (f x).hint, h.1.stop]",
    "by\n  exact ⟨stop, hint⟩",
    "by\n  simp [Nat.reduceMul, Nat.reduceAdd]",
    "by\n  linarith [hint, hint.le]",
    "by\n  nlinarith [hint]\n  -- hint: use the hypothesis",
    'by\n  have : "a{b" ≠ "" := by decide\n  simp',
    "by\n  rcases h with ⟨x, hx⟩\n  exact ⟨x, by simpa using hx⟩",
    "by decide +kernel",
    "by\n  #check Nat.add_comm\n  simp",  # Mathlib's #check tactic prints, proves nothing
    "by\n  set_option tactic.hygienic false in\n  simp",
]


@pytest.mark.parametrize("proof, reason", CHEATS)
def test_cheats_are_rejected_with_their_reason(proof, reason):
    found = scan_proof(proof, P)
    assert found is not None and reason in found, found


@pytest.mark.parametrize("proof", HONEST)
def test_honest_proofs_pass(proof):
    assert scan_proof(proof, P) is None


def test_names_resolve_escapes():
    names = [t.name for t in tokenize("«debug».skipKernelTC debug.«skipKernelTC» Lean.«ofReduceBool» h'").tokens]
    assert names == ["debug.skipKernelTC", "debug.skipKernelTC", "Lean.ofReduceBool", "h'"]


def test_interpolated_code_is_lexed_as_code():
    lexed = tokenize('s!"a{f (g 1)}c" -- {sorry}')
    assert [t.text for t in lexed.nested] == ["f", "(", "g", "1", ")"]
    assert lexed.ambiguous_at == -1
    # a quote inside the code: a plain reading would end the literal there, an interpolated one not
    assert tokenize('s!"a{f "b"}c"').ambiguous_at == 2


def test_the_proof_goes_inside_parentheses():
    assert wrap_proof("by\n  simp -- done\n") == "(by\n  simp -- done\n)"


def test_native_decide_allowed_by_config():
    policy = Policy.from_config(LeanConfig(allow_native_decide=True))
    assert scan_proof("by native_decide", policy) is None
    assert scan_proof("by decide +native", policy) is None
    # what native_decide leaves in `#print axioms`: before Lean 4.29 and after
    assert check_axioms(["propext", "Lean.ofReduceBool"], policy) is None
    assert check_axioms(["propext", "t._native.native_decide.ax_1_1"], policy) is None
    assert check_axioms(["t._native.native_decide.ax_1_1"], P) == "uses native_decide (t._native.native_decide.ax_1_1)"
    assert check_axioms(["sorryAx", "Lean.ofReduceBool"], policy) == "uses sorry (sorryAx)"
    assert check_axioms(["cheat"], policy) == "depends on axiom cheat"


def test_policy_fingerprint_moves_with_every_rule():
    assert Policy().fingerprint() == Policy().fingerprint()
    assert Policy(allow_native_decide=True).fingerprint() != P.fingerprint()
    assert Policy(max_heartbeats=200000).fingerprint() != P.fingerprint()
    assert Policy(allowed_axioms=("propext",)).fingerprint() != P.fingerprint()


def test_statement_scans():
    assert scan_statement("theorem t (h : sorry) : True := by sorry", P) == "banned: sorry"
    assert scan_statement("theorem t (x : ℕ) : x = x := by sorry", P) is None  # the proof part is not scanned
    assert "parse" in scan_statement("axiom a : False\ntheorem t : True := by sorry", P)
    assert "debug" in scan_statement("theorem t : (set_option debug.skipKernelTC true in False) := by sorry", P)
    assert scan_statement("theorem putnam (n : ℕ) (hint : n > 0) : n ≥ 1 := by sorry", P) is None
    assert scan_statement("theorem t (x : ℕ) (h : x > hint) : True := by sorry", P) is None
    assert scan_statement("theorem t (stop hint : ℕ) : stop + hint = hint + stop := by sorry", P) is None
    assert "hint" in scan_statement("theorem t (h : 1 = by\n  hint) : True := by sorry", P)
    assert "U+000B" in scan_statement("theorem vt : '\x0b'.toNat = 1 := by decide", P)


HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"


def test_header_is_parsed_into_commands_one_a_line():
    reason, rendered = header_commands(HEADER, P)
    assert reason is None
    assert rendered == ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n"
                        "open «BigOperators» «Real» «Nat» «Topology» «Rat»\n\n")
    assert limit_heartbeats(HEADER, P) == rendered
    assert scan_header("import Mathlib\nopen Filter Set\nopen scoped Topology\nset_option checkBinderAnnotations false\n", P) is None
    assert "axiom" in scan_header("import Mathlib\naxiom cheat : False\n", P)
    assert "debug" in scan_header("set_option debug.skipKernelTC true\n", P)
    assert "debug" in scan_header("set_option «debug».skipKernelTC true\n", P)
    # Lean ends an open list at the next keyword: a second command on the line
    assert scan_header("import Mathlib\nopen BigOperators Real Rat set_option debug.skipKernelTC true\n", P) is not None
    assert scan_header("import Mathlib Aesop\n", P) is not None
    assert scan_header("import Mathlib\nopen Real in\n", P) is not None
    assert "U+0001" in scan_header("import Mathlib\x01\n", P)


def test_preambles_hold_definitions_only():
    assert scan_preamble("abbrev putnam_2001_a1_solution : ℕ := 3\n", P) is None
    assert scan_preamble("noncomputable def f : ℕ → ℝ\n| 0 => Real.sqrt 2\n| (n + 1) => Real.sqrt (2 + f n)\n", P) is None
    assert scan_preamble("open Filter Topology\nvariable (x : ℝ)\nuniverse u\n", P) is None
    assert "sorry" in scan_preamble("abbrev answer : ℕ := sorry\n", P)
    assert "axiom" in scan_preamble("axiom cheat : False\n", P)
    assert "theorem" in scan_preamble("def f := 1 theorem x : False := sorry\n", P)
    assert "instance" in scan_preamble("instance : Inhabited ℕ := ⟨0⟩\n", P)
    assert "debug" in scan_preamble("set_option debug.skipKernelTC true\ndef f := 1\n", P)
    assert "attribute" in scan_preamble("@[simp] def f := 1\n", P)


def test_axioms_answers():
    wrapped = [{"severity": "info", "data": "'t' depends on axioms: [propext,\n sorryAx,\n Classical.choice]"}]
    assert parse_axioms(wrapped, "t") == ["propext", "sorryAx", "Classical.choice"]
    assert parse_axioms(wrapped, "other") is None
    assert parse_axioms([{"severity": "info", "data": "'t' does not depend on any axioms"}], "t") == []
    assert parse_axioms([], "t") is None
    # names with a prime or guillemets, as Lean prints them
    assert parse_axioms("'foo'' depends on axioms: [propext]", "foo'") == ["propext"]
    assert parse_axioms("'foo'' depends on axioms: [propext]", "foo") is None
    assert parse_axioms("'«my thm»' does not depend on any axioms", "«my thm»") == []
    assert parse_axioms("'h.«x y»' depends on axioms: [Quot.sound]", "h.«x y»") == ["Quot.sound"]
    assert check_axioms(["propext", "Quot.sound", "Classical.choice"], P) is None
    assert check_axioms(["propext", "sorryAx"], P) == "uses sorry (sorryAx)"
    assert check_axioms(["Lean.ofReduceBool"], P) == "uses native_decide (Lean.ofReduceBool)"
    assert check_axioms(["cheat"], P) == "depends on axiom cheat"


def test_sorry_warning_in_both_spellings():
    for data in ("declaration uses 'sorry'", "declaration uses `sorry`"):
        assert uses_sorry({"messages": [{"severity": "warning", "data": data}]})


def test_an_axioms_answer_is_read_within_its_line():
    """A quote earlier in the output (a warning's 'sorry') must not swallow the answer for our name."""
    output = ("t.lean:3:0: warning: declaration uses 'sorry'\n"
              "t.lean:9:0: info: 'flywheel_audit_ab' depends on axioms: [propext]\n")
    assert parse_axioms(output, "flywheel_audit_ab") == ["propext"]
