"""Preambles as checked commands: every way a preamble could be a raw command channel comes back `rejected`
from `flywheel lean check`, the honest forms are proved, and what Lean reads is our rendering."""

import json

import pytest

from flywheel.lean.text.preamble import preamble_commands, variable_binders
from flywheel.lean.guard.soundness import Policy
from flywheel.lean.guard.verdicts import axioms_missing, classify
from orchestration.cli import main
from tests.conftest import HEADER

P = Policy()
THEOREM = "theorem t (x : ℕ) (h : 0 < x) : 0 < x * x := sorry"

ATTACKS = [
    # the #print axioms of `r` answered by the preamble's def, the theorem never elaborated
    ("def r : True := trivial #exit", "theorem r : 2 + 2 = 5 := sorry", "r, the theorem's own name"),
    ("def q : True := trivial #exit", THEOREM, "#exit"),
    ("def q : ℕ := 1\r#eval 1", THEOREM, "carriage return not followed by a line feed"),
    ("def q : ℕ := 1\n#guard_msgs (drop error) in", THEOREM, "#guard_msgs"),
    ("def q : ℕ := (1\n#exit)", THEOREM, "')' missing"),  # cut at the #exit: the def never closes
    ("open Lean.Elab.Command", THEOREM, "metaprogram"),
    ("open Nat hiding succ", THEOREM, "open of something other than namespaces"),
    ("open Real in", THEOREM, "open of something other than namespaces"),
    ("variable [Fact False]", THEOREM, "instance binder"),
    ("variable {α : Type} [inst : Inhabited α]", THEOREM, "instance binder"),
    ("variable (x)", THEOREM, "names, ':' and a type"),
    ("namespace Nat\ndef sqrt (n : ℕ) : ℕ := n\nend Nat", THEOREM, "namespace"),
    ("def q := 1 instance : Inhabited ℕ := ⟨q⟩", THEOREM, "instance"),
    ("private def q := 1", THEOREM, "private"),
    ("section Foo\nend Foo", THEOREM, "named section"),
    ("end", THEOREM, "end without a section"),
    ("universe u.v", THEOREM, "universe"),
    ("set_option trace.profiler.output \"/tmp/x\"", THEOREM, "writes a file"),
    ("set_option autoImplicit true in", THEOREM, "set_option"),
]

HONEST = [
    "abbrev bound : ℕ := 0",
    "def bound : ℕ :=\nNat.zero",  # a def body continued at column 0, as Lean accepts it
    "noncomputable def f : ℕ → ℕ\n| 0 => 0\n| (n + 1) => f n",
    "open Real\nopen scoped BigOperators\n\nuniverse u\n\nvariable (y : ℕ) {z : ℕ}",
    "noncomputable section\n\n-- a comment\ndef g (n : ℕ) : ℕ := n /- another -/ + 1\n\nend",
    "set_option autoImplicit false\ndef k := 2",
]


def _check(tmp_path, rows):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["lean", "check", str(src), "--out", str(out), "--workers", "1", "--timeout", "10", "--no-store"])
    return code, {x["id"]: x for x in map(json.loads, out.read_text().splitlines())}


def test_preamble_attacks_are_rejected_and_honest_preambles_proved(tmp_path, fake_repl, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    rows = [{"id": f"attack{i}", "header": HEADER, "statement": f"{pre}\n\n{thm}", "proof": "by positivity"}
            for i, (pre, thm, _) in enumerate(ATTACKS)]
    rows += [{"id": f"honest{i}", "header": HEADER, "statement": f"{pre}\n\n{THEOREM}", "proof": "by positivity"}
             for i, pre in enumerate(HONEST)]
    # names after a header's `open` are checked too: `open Lean.Elab.Command` would let them pass unqualified
    rows.append({"id": "header", "header": "import Mathlib\nopen Lean.Elab.Command\n", "statement": THEOREM,
                 "proof": "by positivity"})
    code, got = _check(tmp_path, rows)
    assert code == 0
    assert got["header"]["verdict"] == "rejected" and "opened in the header" in got["header"]["reason"]
    for i, (pre, _, reason) in enumerate(ATTACKS):
        answer = got[f"attack{i}"]
        assert answer["verdict"] == "rejected" and reason in answer["reason"], (pre, answer)
    for i, pre in enumerate(HONEST):
        assert got[f"honest{i}"]["verdict"] == "proved", (pre, got[f"honest{i}"])


def test_the_preamble_is_sent_as_we_render_it():
    got = preamble_commands("open Real Nat -- x\ndef q : ℕ := 1 /- c\n -/ + 2\r\nvariable (y : ℕ)", P, "t")
    assert got.reason is None
    assert got.text == "open «Real» «Nat»\n\ndef q : ℕ := 1     \n    + 2\n\nvariable (y : ℕ)"  # columns kept
    assert got.variables == ("(y : ℕ)",)
    # a def named like the theorem, however spelled, is refused
    assert "own name" in preamble_commands("def «t» := 1", P, "t").reason


def test_variables_are_hypotheses_of_the_false_goal():
    from flywheel.records import Side, Statement
    from prover_loop.goals import goal_text

    preamble = "section\nvariable (w : ℕ)\nend\nvariable (n : ℕ) (hn : n < 0) {m : ℕ}"
    assert variable_binders(preamble) == ("(n : ℕ)", "(hn : n < 0)", "{m : ℕ}")  # the section's w is gone
    st = Statement("s", None, 0, HEADER, "theorem s (h : 0 < n) : n = n := by sorry", "s", "x", preamble=preamble)
    goal = goal_text(st, Side.FALSE_HYPS)
    assert goal.startswith("theorem s_false (n : ℕ) (hn : n < 0) {m : ℕ} (h : 0 < n) :\n    False")


def test_an_answer_without_messages_is_never_asked_again():
    """`#exit` in the command: Lean answers nothing at our `#print axioms`; asked alone afterwards, whatever
    holds the name then would answer. Only a REPL that gives messages without positions is asked again."""
    at = (5, 0)
    assert not axioms_missing({"env": 1, "messages": []}, at)
    assert not axioms_missing({"env": 1}, at)
    assert axioms_missing({"env": 1, "messages": [{"severity": "info", "data": "'t' does not depend on any axioms"}]}, at)
    verdict = classify({"env": 1, "messages": []}, "t", None, P, axioms_at=at)
    assert verdict.status.value == "rejected"


@pytest.mark.parametrize("pre, thm, reason", [a for a in ATTACKS if "guard_msgs" in a[0]])
def test_guard_msgs_in_the_preamble_never_reaches_lean(pre, thm, reason):
    assert reason in preamble_commands(pre, P, "t").reason
