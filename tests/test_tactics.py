"""Tactic-level information: the real REPL's own transcripts (v4.26) parse into the records and replay through
LeanRepl and the fake REPL; the verifier's tactic and sketch paths; the first failure and the prefix that
re-elaborates; goal keys; goals as lemma statements that statement surgery parses."""

import json
import shlex

import pytest

from flywheel.errors import UnparsableStatement
from flywheel.lean.guard.cache import MemoryCache
from flywheel.lean.tactics.goals import goal_key, lemma_statement, parse_goal
from flywheel.lean.repl.protocol import ProtocolError
from flywheel.lean.repl.client import LeanRepl
from flywheel.lean.text.statements import parse_theorem
from flywheel.lean.tactics.records import (Position, ProofStep, TacticError, checked_from, infotree_tactics, parse_sorries,
                                   parse_step, parse_tactics, split_goals, with_goals_after)
from flywheel.lean.text.truncate import CLOSER, first_failure, prefix
from flywheel.lean.guard.verdicts import Verdict, map_positions
from flywheel.lean.guard.verifier import Verifier
from flywheel.records import VerdictStatus as V
from tests.conftest import HEADER

STATEMENT = "theorem t (x : ℕ) (h : 0 < x) : 0 < x * x := by sorry"


def _blocks(text):
    return [json.loads(b, strict=False) for b in text.strip().split("\n\n") if b.strip()]


def _transcripts(shared_data):
    root = shared_data.parent / "lean" / "repl-v4.26-tests" / "test"
    out = []
    for path in sorted(root.rglob("*.in")):
        answers = path.with_name(path.stem + ".expected.out")
        if answers.is_file():
            try:
                out.append((path.relative_to(root).as_posix(), _blocks(path.read_text()), _blocks(answers.read_text())))
            except json.JSONDecodeError:
                continue  # invalid_line_break and the like: tests of malformed input
    return out


def test_every_real_answer_with_tactic_information_parses(shared_data):
    counts = {"sorries": 0, "tactics": 0, "steps": 0}
    for name, requests, answers in _transcripts(shared_data):
        for req, ans in zip(requests, answers):
            if "tactic" in req:
                outcome = parse_step(ans)
                counts["steps"] += 1
                assert isinstance(outcome, (ProofStep, TacticError)), name
                if isinstance(outcome, ProofStep):
                    assert outcome.goals == tuple(ans["goals"])
                    assert outcome.finished == (ans.get("proofStatus") == "Completed")
            sorries, tactics = parse_sorries(ans), parse_tactics(ans)
            counts["sorries"] += len(sorries)
            counts["tactics"] += len(tactics)
            assert [s.goal for s in sorries] == [s["goal"] for s in ans.get("sorries", [])]
            for t, raw in zip(tactics, ans.get("tactics", [])):
                assert t.pos <= t.end_pos and "\n\n".join(t.goals_before) == raw["goals"].replace("no goals", "")
    assert counts["sorries"] > 40 and counts["tactics"] >= 10 and counts["steps"] > 25, counts


def test_the_tactic_answers_read_as_the_transcripts_say(shared_data):
    by_name = {name: (reqs, answers) for name, reqs, answers in _transcripts(shared_data)}
    calc = parse_tactics(by_name["calc.in"][1][0])
    assert [t.tactic for t in calc][2:] == ["sorry", "sorry"] and calc[1].goals_before == ()
    assert calc[0].goals_before == ("⊢ 3 = 5",) and "Trans.trans" in calc[0].used_constants
    step = parse_step(by_name["proof_branching.in"][1][1])
    assert isinstance(step, ProofStep) and not step.finished and len(step.goals) == 2
    assert step.goals[0].startswith("case left")
    failed = parse_step(by_name["invalid_tactic.in"][1][1])
    assert isinstance(failed, TacticError) and "my_fake_premise" in failed.message and failed.proof_state == 1
    unknown = parse_step(by_name["unknown_proof_state.in"][1][1])
    assert unknown == TacticError("Unknown proof state.")
    with_sorry = parse_step(by_name["have_by_sorry.in"][1][2])
    assert with_sorry.sorries[0].goal == "x : Int\n⊢ x = 1" and with_sorry.sorries[0].pos is None


def test_goals_after_come_from_the_infotree(shared_data):
    by_name = {name: answers for name, _, answers in _transcripts(shared_data)}
    tree = infotree_tactics(by_name["infotree_theorem.in"][0])
    exact = [t for t in tree if t.tactic == "exact h"]
    assert exact and exact[-1].goals_before == ("p : Prop\nh : p\n⊢ p",) and exact[-1].goals_after == ()
    listed = parse_tactics({"tactics": [{"pos": {"line": 1, "column": 43}, "endPos": {"line": 1, "column": 50},
                                         "goals": "p : Prop\nh : p\n⊢ p", "tactic": "exact h"}]})
    assert with_goals_after(listed, tree)[0].goals_after == () and listed[0].goals_after is None
    constructor = infotree_tactics(by_name["infotree.in"][0])
    assert [(t.tactic, t.goals_before, t.goals_after) for t in constructor] == [("constructor", ("h : Int\n⊢ Nat",), ())]


@pytest.mark.parametrize("answer, field", [
    ({"tactics": [{"pos": {"line": 1}, "endPos": {"line": 1, "column": 2}, "goals": "", "tactic": "rfl"}]}, "column"),
    ({"tactics": [{"pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 2}, "tactic": "rfl"}]}, "goals"),
    ({"sorries": [{"pos": {"line": 1, "column": 0}, "goal": 3}]}, "goal"),
    ({"sorries": "none"}, "sorries"),
])
def test_malformed_answers_name_the_field(answer, field):
    with pytest.raises(ProtocolError, match=field):
        parse_sorries(answer) if "sorries" in answer else parse_tactics(answer)
    with pytest.raises(ProtocolError, match="goals"):
        parse_step({"proofState": 1, "goals": "⊢ x"})


def test_real_transcripts_replay_through_lean_repl_and_the_fake(fake_repl, shared_data):
    """Every transcript of commands and tactics, fed in order to one fake process, is answered as recorded
    (envs and proof states numbered alike, since both count from 0)."""
    replayed = 0
    for name, requests, answers in _transcripts(shared_data):
        if any(set(r) - {"cmd", "env", "tactic", "proofState", "allTactics", "infotree", "rootGoals"} for r in requests):
            continue  # pickling and files: not spoken by the fake
        with LeanRepl(shlex.split(fake_repl), "", timeout_s=10) as repl:
            for req, expected in zip(requests, answers):
                if "tactic" in req:
                    got = repl.step(req["proofState"], req["tactic"])
                else:
                    options = {k: req[k] for k in ("allTactics", "infotree", "rootGoals") if k in req}
                    got = repl.run(req["cmd"], env=req.get("env"), options=options)
                assert got == expected, (name, req)
        replayed += 1
    assert replayed >= 35


def test_tactic_mode_rules_of_the_fake(fake_repl):
    with LeanRepl(shlex.split(fake_repl), "import Mathlib", timeout_s=10) as repl:
        answer = repl.run("theorem u (a b : ℕ) (h : a < b) : a ≤ b := by\n  have k : a < b + 1 := by sorry\n  sorry")
        states = [s.proof_state for s in parse_sorries(answer)]
        goals = [s.goal for s in parse_sorries(answer)]
        assert goals == ["a b : ℕ\nh : a < b\n⊢ a < b + 1", "a b : ℕ\nh : a < b\nk : a < b + 1\n⊢ a ≤ b"]
        step = parse_step(repl.step(states[1], "have m : a ≤ b := sorry"))
        assert step.goals == ("a b : ℕ\nh : a < b\nk : a < b + 1\nm : a ≤ b\n⊢ a ≤ b",)
        assert step.sorries[0].goal.endswith("⊢ a ≤ b") and not step.finished
        done = parse_step(repl.step(step.proof_state, "exact m"))
        assert done.finished and done.goals == ()
        assert isinstance(parse_step(repl.step(states[0], "exact undefined_lemma")), TacticError)
        assert parse_step(repl.step(999, "rfl")) == TacticError("Unknown proof state.")


def _offset(text, pos):
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: pos.line - 1]) + pos.column


def test_check_tactics_gives_the_verdict_and_the_spans_in_the_proof(lean_cfg):
    proof = "by\n  have h2 : 0 < x * x := by positivity\n  nlinarith [h2]"
    with Verifier(lean_cfg, MemoryCache()) as verifier:
        checked = verifier.check_tactics(HEADER, STATEMENT, proof)
        assert verifier.check(HEADER, STATEMENT, proof).cached  # the verdict is check()'s, cached for it
        assert checked.verdict.status is V.PROVED and checked.proof == proof
        assert [t.tactic for t in checked.tactics] == ["have h2 : 0 < x * x := by positivity", "positivity",
                                                        "nlinarith [h2]"]
        for t in checked.tactics:
            assert proof[_offset(proof, t.pos):_offset(proof, t.end_pos)] == t.tactic
        assert checked.tactics[0].goals_before == ("x : ℕ\nh : 0 < x\n⊢ 0 < x * x",)
        assert checked.tactics[2].goals_before == ("x : ℕ\nh : 0 < x\nh2 : 0 < x * x\n⊢ 0 < x * x",)
        assert verifier.check_tactics(HEADER, STATEMENT, "by\n  sorry").verdict.status is V.REJECTED


def test_a_sketch_gives_its_goals_and_is_never_proved(lean_cfg):
    sketch = "by\n  have h2 : 0 < x * x := by sorry\n  nlinarith [h2]"
    with Verifier(lean_cfg) as verifier:
        checked = verifier.sketch(HEADER, STATEMENT, sketch)
        assert checked.verdict.status is V.INCOMPLETE
        assert [s.goal for s in checked.sorries] == ["x : ℕ\nh : 0 < x\n⊢ 0 < x * x"]
        assert checked.sorries[0].pos == Position(2, 28)
        lemma = lemma_statement(checked.sorries[0].goal, "t_h2")
        assert parse_theorem(lemma).conclusion == "0 < x * x"
        assert verifier.compile_check(HEADER, lemma).status is V.INCOMPLETE
        # the guard is as strict as ever: only the sketch path lets `sorry` through, and never to `proved`
        assert verifier.check(HEADER, STATEMENT, sketch).status is V.REJECTED
        complete = verifier.sketch(HEADER, STATEMENT, "by\n  nlinarith")
        assert complete.verdict.status is V.REJECTED and "sorry" in complete.verdict.reason
        for banned, why in [("admit", "admit"), ("exact sorryAx _ false", "sorryAx"), ("native_decide", "native")]:
            verdict = verifier.sketch(HEADER, STATEMENT, f"by\n  have k : 1 = 1 := by sorry\n  {banned}").verdict
            assert verdict.status is V.REJECTED and why in verdict.reason
        ok = verifier.sketch(HEADER, STATEMENT, "by\n  sorry -- fake:axioms=propext").verdict
        assert ok.status is V.INCOMPLETE and ok.axioms is None


@pytest.mark.parametrize("proof, closed", [
    # a failing tactic that starts its line: the line goes, its block is closed at its column
    ("by\n  have h2 : 0 < x := h\n  nlinarith [h2] -- fake:fail\n  simp",
     f"by\n  have h2 : 0 < x := h\n  {CLOSER}"),
    # nested: the inner block and then the outer one closed
    ("by\n  have h2 : 0 < x * x := by\n    have h3 : x ≠ 0 := by omega\n    positivity -- fake:fail\n  nlinarith [h2]",
     f"by\n  have h2 : 0 < x * x := by\n    have h3 : x ≠ 0 := by omega\n    {CLOSER}\n  {CLOSER}"),
    # after an inline `by`: the closer takes the tactic's place
    ("by\n  have h2 : 0 < x * x := by positivity -- fake:fail\n  nlinarith [h2]",
     f"by\n  have h2 : 0 < x * x := by {CLOSER}\n  {CLOSER}"),
])
def test_the_prefix_before_the_first_failure_re_elaborates(lean_cfg, proof, closed):
    with Verifier(lean_cfg) as verifier:
        checked = verifier.check_tactics(HEADER, STATEMENT, proof)
        assert checked.verdict.status is V.FAILED
        failure = first_failure(checked)
        assert failure.tactic is not None and failure.tactic.tactic.startswith("positivity" if "positivity -- fake:fail"
                                                                                in proof else "nlinarith")
        assert proof[:_offset(proof, failure.at)] == prefix(checked, failure, close=False)
        assert prefix(checked, failure) == closed
        again = verifier.sketch(HEADER, STATEMENT, closed)
        assert again.verdict.status is V.INCOMPLETE, again.verdict
        assert again.sorries and all(s.goal.endswith("⊢ 0 < x * x") for s in again.sorries)


def test_unsolved_goals_of_a_real_answer_close_at_the_end_of_the_block(shared_data):
    """have_by_sorry: Lean's `unsolved goals` spans the whole `by` block; the prefix is the whole proof closed."""
    (_, requests, answers), = [t for t in _transcripts(shared_data) if t[0] == "have_by_sorry.in"]
    code, answer = requests[0]["cmd"], answers[0]
    line, col = 1, code.index("by")
    verdict = Verdict(V.FAILED, "unsolved goals", map_positions(answer["messages"], line, col))
    checked = checked_from(verdict, answer, code + "\n)", line, col, sketch=False)
    assert checked.proof == "by\n  have h : x = 1 := by sorry"
    assert [s.goal for s in checked.sorries] == ["x : Int\n⊢ x = 1"] and checked.sorries[0].pos == Position(2, 23)
    failure = first_failure(checked)
    assert failure.unsolved and failure.tactic is None
    assert prefix(checked, failure) == checked.proof + f"\n  {CLOSER}"


def test_first_failure_without_a_listed_tactic_cuts_at_the_error():
    code = "theorem t : True := by\n  skip\n  exact (oops\n)"
    verdict = Verdict(V.FAILED, "unexpected", map_positions(
        [{"severity": "error", "pos": {"line": 3, "column": 13}, "endPos": None, "data": "unexpected token"}], 1, 20))
    answer = {"tactics": [{"pos": {"line": 2, "column": 2}, "endPos": {"line": 2, "column": 6}, "goals": "⊢ True",
                           "tactic": "skip"}]}
    checked = checked_from(verdict, answer, code, 1, 20, sketch=False)
    failure = first_failure(checked)
    assert failure.tactic is None and failure.at == Position(3, 13)
    assert prefix(checked, failure) == f"by\n  skip\n  {CLOSER}"  # an unbalanced line goes whole


def test_goal_keys():
    g = "x y : ℕ\nh : x < y\n⊢ P x y"
    assert goal_key([g]) == goal_key(["case h\nx y : ℕ\nh :  x <\n    y\n⊢ P x  y"])
    assert goal_key(["n✝ : ℕ\na✝¹ : n✝ = n✝\n⊢ n✝ = 0"]) == goal_key(["n✝¹ : ℕ\na✝ : n✝¹ = n✝¹\n⊢ n✝¹ = 0"])
    assert goal_key([g]) != goal_key(["x y : ℕ\nk : x < y\n⊢ P x y"])
    assert goal_key([g], rename=True) == goal_key(["a b : ℕ\nk : a < b\n⊢ P a b"], rename=True)
    assert goal_key([g]) != goal_key(["h : x < y\nx y : ℕ\n⊢ P x y"])  # the order of hypotheses is kept
    assert goal_key([g, "⊢ True"]) != goal_key(["⊢ True", g]) and len(goal_key([])) == 64
    assert parse_goal("z : ℕ := x + 1\n⊢ z = x + 1").hypotheses[0].value == "x + 1"


@pytest.mark.parametrize("goal, lets, statement", [
    ("x y : ℕ\nh : x < y\n⊢ P x y", "equation", "theorem L (x y : ℕ) (h : x < y) :\n    P x y := by sorry"),
    ("case succ\nn✝ : ℕ\na✝ : n✝ = n✝\n⊢ n✝ + 1 = n✝ + 1", "equation",
     "theorem L (n : ℕ) (a : n = n) :\n    n + 1 = n + 1 := by sorry"),
    ("α : Type u_1\ninst✝¹ : Fintype α\ninst✝ : DecidableEq α\ns : Finset α\n⊢ s.card ≤ Fintype.card α", "equation",
     "theorem L (α : Type u_1) [Fintype α] [DecidableEq α] (s : Finset α) :\n    s.card ≤ Fintype.card α := by sorry"),
    ("x : ℕ\nz : ℕ := x + 1\nhz : 0 < z\n⊢ z = x + 1", "equation",
     "theorem L (x : ℕ) (z : ℕ) (hz_1 : z = x + 1) (hz : 0 < z) :\n    z = x + 1 := by sorry"),
    ("x : ℕ\nz : ℕ := x + 1\nhz : 0 < z\n⊢ z = x + 1", "let",
     "theorem L (x : ℕ) :\n    let z : ℕ := x + 1; ∀ (hz : 0 < z), z = x + 1 := by sorry"),
    ("x : ℕ\nx✝ : x = 0\nn : ℕ\n⊢ ∀ x_1, x_1 = x", "equation",
     "theorem L (x : ℕ) (x_2 : x = 0) (n : ℕ) :\n    ∀ x_1, x_1 = x := by sorry"),
])
def test_goals_become_lemma_statements(goal, lets, statement):
    assert lemma_statement(goal, "L", lets) == statement
    parse_theorem(statement)


def test_every_real_goal_becomes_a_statement_that_parses(shared_data):
    goals = set()
    for _, _, answers in _transcripts(shared_data):
        for ans in answers:
            goals |= {s["goal"] for s in ans.get("sorries", [])} | set(ans.get("goals", []))
            goals |= {g for t in ans.get("tactics", []) for g in split_goals(t["goals"])}
    made = 0
    for i, goal in enumerate(sorted(goals)):
        try:
            text = lemma_statement(goal, f"g{i}")
        except UnparsableStatement as e:
            assert "metavariable" in str(e), goal
            continue
        thm = parse_theorem(text)
        assert thm.name == f"g{i}" and "✝" not in text
        made += 1
    assert made >= 25
