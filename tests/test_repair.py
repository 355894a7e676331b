"""The repair strategy: a failed proof revised from Lean's errors, stored with its parent and exported as a
multi-turn conversation; budgets stop it where they say."""

import json

import pytest

from flywheel.config import ProverConfig
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import Side, VerdictStatus
from prover_loop.prove import prove_pass
from tests.doubles import ScriptedGenerator
from tests.seed import statement

BAD, GOOD = "  subst h\n  omega\n```", "  subst h\n  rfl\n```"
ERROR = "omega could not prove the goal"
GOAL = "x : ℕ\n⊢ 0 + 1 = 1"


def _script(req):
    text = req.prompt if isinstance(req.prompt, str) else req.prompt[-1]["content"]
    return [GOOD if ERROR in text else BAD]  # a revision, asked with Lean's error, gets it right


def _check(seen):
    def check(header, goal, proof):
        seen.append(proof)
        if "rfl" in proof:
            return Verdict(VerdictStatus.PROVED, time_s=0.01)
        error = {"severity": "error", "pos": {"line": 5, "column": 2}, "proof_pos": {"line": 3, "column": 2},
                 "data": ERROR, "goal": GOAL}
        return Verdict(VerdictStatus.FAILED, ERROR, [error], time_s=0.01)
    return check


def _prove(sides, workers=1, **cfg):
    results, seen = [], []
    generator = ScriptedGenerator(_script)
    prove_pass([statement(0)], {}, sides, ProverConfig(**({"samples_per_side": 1, "strategy": ["repair"]} | cfg)), 0, 1,
               generator, _check(seen), workers, results.extend)
    return results, generator, seen


@pytest.mark.parametrize("workers", [1, 3])
def test_a_repair_chain_fixes_the_proof_on_its_second_turn(workers):
    (result,), generator, _ = _prove([Side.STATEMENT, Side.NEGATION], workers)
    first_s, first_n, revision = result.attempts  # S0, N0, then S's revision; N's revision comes after: dropped
    assert (first_s.side, first_n.side, revision.side) == (Side.STATEMENT, Side.NEGATION, Side.STATEMENT)
    assert [a.turn for a in result.attempts] == [0, 0, 1] and {a.strategy for a in result.attempts} == {"repair"}
    assert revision.parent == first_s.id and first_s.parent is None and revision.verdict is VerdictStatus.PROVED
    assert result.side is Side.STATEMENT and result.proof.attempt_id == revision.id
    assert all(a.tokens > 0 for a in result.attempts)
    asked = next(r.prompt for r in generator.requests if "does not check" in r.prompt and "¬" not in r.prompt)
    assert asked.endswith(":= by\n") and "Goal:\n" + GOAL in asked and ">   omega" in asked and ERROR in asked


def test_repair_turns_and_budgets_stop_each_chain_where_they_say():
    def never(req):
        return [BAD]

    results, seen = [], []
    cfg = ProverConfig(samples_per_side=2, strategy=["repair"], repair_turns=2)
    prove_pass([statement(0)], {}, [Side.STATEMENT], cfg, 0, 1, ScriptedGenerator(never), _check(seen), 2, results.extend)
    assert [(a.turn, a.sampling["sample"]) for a in results[0].attempts] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    results.clear()
    cfg = ProverConfig(samples_per_side=2, strategy=["repair"], repair_turns=2, budget_checks=3)
    prove_pass([statement(0)], {}, [Side.STATEMENT], cfg, 0, 1, ScriptedGenerator(never), _check(seen), 2, results.extend)
    assert [(a.turn, a.sampling["sample"]) for a in results[0].attempts] == [(0, 0), (0, 1), (1, 0)]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_revision_whose_prompt_is_past_the_context_ends_its_chain_and_the_pass_goes_on(workers):
    """A revision's prompt holds the failed proof and Lean's feedback: past the model's context it gets no
    answer. That attempt is stored with the reason, its chain ends (a later revision's prompt only grows), and
    the other statements of the pass are proved as they would be alone."""
    from prover_loop.extract import NoProof

    first_prompt = len(_first_prompt(ScriptedGenerator(_script), statement(0)))
    results, seen = [], []
    generator = ScriptedGenerator(_script, context_chars=first_prompt + 80)
    cfg = ProverConfig(samples_per_side=1, strategy=["repair"], repair_turns=3)
    prove_pass([statement(0), statement(1)], {}, [Side.STATEMENT], cfg, 0, 1, generator, _check(seen), workers,
               results.extend)
    assert len(results) == 2
    for result in results:
        first, revision = result.attempts  # no third turn: the chain ended
        assert first.verdict is VerdictStatus.FAILED and first.turn == 0
        assert (revision.turn, revision.verdict, revision.reason) == (1, VerdictStatus.REJECTED,
                                                                      NoProof.PROMPT_TOO_LONG.value)
        assert revision.parent == first.id and result.side is None
    assert len(seen) == 2  # Lean was asked the first answers only


def _first_prompt(generator, st) -> str:
    """The first request's prompt for st, as a repair pass asks it."""
    results = []
    prove_pass([st], {}, [Side.STATEMENT], ProverConfig(samples_per_side=1, strategy=["repair"], repair_turns=0), 0, 1,
               generator, lambda h, g, p: Verdict(VerdictStatus.FAILED, "no", []), 1, results.extend)
    return generator.requests[0].prompt


def test_chat_revisions_carry_the_whole_conversation():
    (result,), generator, _ = _prove([Side.STATEMENT], prompt_style="chat")
    assert result.side is Side.STATEMENT
    revision = generator.requests[-1].prompt
    assert [m["role"] for m in revision] == ["user", "assistant", "user"] and ERROR in revision[-1]["content"]


@pytest.mark.postgres
@pytest.mark.parametrize("turns", ["all", "final"])
def test_a_repair_chain_is_stored_with_parent_links_and_exported_as_messages(store, tmp_path, turns):
    from sqlalchemy import text

    from db import proofs as dbproofs
    from db import statements as dbst
    from db.export import export_dataset

    st = statement(0)
    with store.session() as s:
        dbst.insert_statements(s, [st])
    results, _, _ = _prove([Side.STATEMENT, Side.NEGATION])
    with store.session() as s:
        dbproofs.save_results(s, results, 1)
    with store.engine.connect() as c:
        rows = c.execute(text("SELECT a.turn, a.strategy, p.attempt_key, a.tokens FROM proof_attempts a "
                              "LEFT JOIN proof_attempts p ON p.id = a.parent_id ORDER BY a.id")).all()
    first = results[0].attempts[0].id
    assert [(t, s, p) for t, s, p, _ in rows] == [(0, "repair", None), (0, "repair", None), (1, "repair", first)]
    assert all(tokens > 0 for *_, tokens in rows)
    with store.session() as s:
        assert dbproofs.attempts_of(s, st.id)[-1].parent == first
    manifest = export_dataset(store, tmp_path / "out", style="messages", include_unaudited=True, turns=turns)
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    roles = [m["role"] for m in row["messages"]]
    if turns == "final":
        assert roles == ["user", "assistant"] and "rfl" in row["messages"][1]["content"]
        return
    assert roles == ["user", "assistant", "user", "assistant"] and manifest["counts"]["repaired"] == 1
    assert "omega" in row["messages"][1]["content"] and ERROR in row["messages"][2]["content"]
    assert "rfl" in row["messages"][3]["content"]

def test_strategies_chain_on_a_side_each_after_the_one_before():
    def never(req):
        return [BAD]

    results, seen = [], []
    cfg = ProverConfig(samples_per_side=2, strategy=["sample", "repair"], repair_turns=1)
    prove_pass([statement(0)], {}, [Side.STATEMENT], cfg, 0, 1, ScriptedGenerator(never), _check(seen), 2, results.extend)
    assert [(a.strategy, a.turn) for a in results[0].attempts] == [("sample", 0)] * 2 + [("repair", 0)] * 2 + [("repair", 1)] * 2
    assert len({a.id for a in results[0].attempts}) == 6


def _real_messages():
    """Every error message in the REPL's own v4.26 test answers (tests/data/lean/repl-v4.26-tests)."""
    from pathlib import Path

    root = Path(__file__).parent / "data" / "lean" / "repl-v4.26-tests" / "test"
    decoder, out = json.JSONDecoder(), []
    for path in sorted(root.rglob("*.expected.out")):
        text, i = path.read_text(), 0
        while (i := len(text) - len(text[i:].lstrip())) < len(text):
            answer, i = decoder.raw_decode(text, i)
            out += [(path.name, m) for m in answer.get("messages", []) if m.get("severity") == "error"]
    return out


def test_feedback_gives_the_goals_real_repl_errors_print():
    """A plain check carries no `goal` field: the goals are in Lean's own message text, and the repair prompt
    gets them under Goal, the `unsolved goals` text said once."""
    from flywheel.prompting import lean_feedback

    unsolved = [(name, m) for name, m in _real_messages() if m["data"].startswith("unsolved goals")]
    assert len(unsolved) >= 5
    for name, m in unsolved:
        body = m["data"].removeprefix("unsolved goals\n")
        feedback = lean_feedback("by\n  skip", [m])
        assert ("Goal:\n" if "\n\n" not in body else "Goals:\n") + body in feedback, (name, feedback)
        assert feedback.count("unsolved goals") == 1
    others = [m for _, m in _real_messages() if "⊢" not in m["data"]]
    assert others and all("Goal" not in lean_feedback("by\n  skip", [m]) for m in others)


def test_a_revision_is_asked_with_the_goal_from_lean_s_message():
    real = "unsolved goals\nx : ℕ\nh : x = 1\n⊢ x + 0 = 1"

    def check(header, goal, proof):
        if "rfl" in proof:
            return Verdict(VerdictStatus.PROVED, time_s=0.01)
        error = {"severity": "error", "pos": {"line": 5, "column": 2}, "proof_pos": {"line": 3, "column": 2},
                 "data": real}  # as the REPL answers a plain check: no goal field
        return Verdict(VerdictStatus.FAILED, "unsolved goals", [error], time_s=0.01)

    results, generator = [], ScriptedGenerator(lambda req: [GOOD if "⊢ x + 0 = 1" in (
        req.prompt if isinstance(req.prompt, str) else req.prompt[-1]["content"]) else BAD])
    prove_pass([statement(0)], {}, [Side.STATEMENT], ProverConfig(samples_per_side=1, strategy=["repair"]), 0, 1,
               generator, check, 1, results.extend)
    asked = generator.requests[-1].prompt
    assert "Goal:\nx : ℕ\nh : x = 1\n⊢ x + 0 = 1" in asked and results[0].side is Side.STATEMENT


def test_a_plain_check_s_unsolved_goals_error_carries_its_goal():
    """The real REPL's answer to its own test have_by_sorry (`theorem foo (x : Int) : x = x := by` then
    `have h : x = 1 := by sorry`): the verdict's message gets the goals Lean printed as its `goal`."""
    from flywheel.lean.guard.verdicts import map_positions

    root = __import__("pathlib").Path(__file__).parent / "data" / "lean" / "repl-v4.26-tests" / "test"
    cmd = json.JSONDecoder(strict=False).raw_decode((root / "have_by_sorry.in").read_text())[0]["cmd"]
    answer = json.JSONDecoder().raw_decode((root / "have_by_sorry.expected.out").read_text())[0]
    col = cmd.index(":= by") + 3  # the proof body starts at its `by`
    messages = map_positions([m for m in answer["messages"] if m["severity"] == "error"], 1, col)
    assert messages[0]["goal"] == "x : Int\nh : x = 1\n⊢ x = x" and messages[0]["proof_pos"] == {"line": 1, "column": 0}


def test_feedback_cuts_a_message_blown_up_past_its_share():
    from flywheel.prompting import lean_feedback

    huge = {"severity": "error", "proof_pos": {"line": 1, "column": 2}, "data": "simp made no progress\n" + "x" * 50_000,
            "goal": "⊢ " + "a + " * 20_000 + "0 = 0"}
    feedback = lean_feedback("by\n  simp", [huge], max_chars=2000)
    assert len(feedback) < 4500 and "more characters)" in feedback and feedback.count("more characters") == 2
    assert "simp made no progress" in feedback and "Goal:\n⊢ a + a + " in feedback
