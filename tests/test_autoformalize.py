"""Extraction of exactly one theorem from model text, and the autoformalization stage with a scripted model."""

import json

import pytest

from autoformalize.extract import Extracted, Failed, extract_statement, theorem_name
from autoformalize.formalize import formalize
from autoformalize.prompts import DEFAULT_TEMPLATE, load_examples, load_template, render_prompt
from flywheel.config import AutoformalizeConfig
from flywheel.errors import ConfigError
from flywheel.records import DropReason, Problem, StatementStatus
from tests.doubles import ScriptedGenerator

NAME = "fw_test_r1_s0"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", DropReason.NO_CODE),
        ("   \n", DropReason.NO_CODE),
        ("The answer is 42, because the sum telescopes.", DropReason.NO_CODE),
        ("```lean4\n-- nothing here\n```", DropReason.NO_THEOREM),
        ("theorem a (x : ℕ) : x = x := by sorry\ntheorem b : 1 = 1 := rfl", DropReason.SEVERAL_THEOREMS),
        ("```lean4\nlemma h (x : ℕ) : x = x := by sorry\n\ntheorem b : True := trivial\n```", DropReason.SEVERAL_THEOREMS),
        ("<think>\nFirst a draft:\n```lean4\ntheorem a : True := trivial\n```", DropReason.NO_CODE),
        ("```lean4\ninstance : Inhabited ℕ := ⟨0⟩\ntheorem a : True := trivial\n```", DropReason.UNPARSABLE),
        ("```lean4\nx = 3\ntheorem a : True := trivial\n```", DropReason.UNPARSABLE),
        ("theorem broken (x : ℕ := by sorry", DropReason.UNPARSABLE),
    ],
)
def test_failures_have_reasons(text, reason):
    result = extract_statement(text, NAME)
    assert isinstance(result, Failed) and result.reason is reason and result.detail


def test_unfenced_continuation_with_a_proof_gets_sorry_and_our_name():
    # The prompt opened the fence: the model writes the declaration and closes it.
    text = "theorem mathd_algebra_10 (x : ℝ) (h₀ : x ≠ 0) :\n    x / x = 1 := by\n  field_simp\n```\nSome prose."
    result = extract_statement(text, NAME)
    assert isinstance(result, Extracted)
    assert result.text.startswith(f"theorem {NAME} (x : ℝ) (h₀ : x ≠ 0)")
    assert result.text.rstrip().endswith("sorry") and "field_simp" not in result.text


def test_fenced_block_after_prose_and_example_keyword():
    text = "Here is the formalization:\n```lean4\nexample (a b : ℕ) (h : a = b) : b = a := by\n  omega\n```\nDone."
    result = extract_statement(text, NAME)
    assert isinstance(result, Extracted)
    assert result.text == f"theorem {NAME} (a b : ℕ) (h : a = b) :\n    b = a := by sorry"


def test_the_last_block_after_the_thinking_wins():
    draft = "```lean4\ntheorem draft (x : ℕ) : x = x := by sorry\n```"
    final = "```lean4\ntheorem final (x : ℕ) : x + 0 = x := by\n  simp\n```"
    for text in (f"<think>\nA first try:\n{draft}\nNo: the sum.\n</think>\nThe statement:\n{final}\nThat is all.",
                 f"Let me think in prose.\n{draft}\nBetter:\n{final}\nAfter the fence: ```lean4\ntheorem after : True",
                 # the chat template put `<think>` in the prompt: only its end is in the answer
                 f"I reason about it first.\n{draft}\n</think>\n\n{final}"):
        result = extract_statement(text, NAME)
        assert isinstance(result, Extracted) and result.conclusion == "x + 0 = x", text
    unclosed = extract_statement(f"<think>\n{final}\nStill thinking", NAME)
    assert isinstance(unclosed, Failed) and unclosed.reason is DropReason.NO_CODE and "<think>" in unclosed.detail


def test_the_preamble_is_kept_and_imports_dropped():
    text = ("```lean4\nimport Mathlib\nimport Aesop\n\nopen Real\n\n/-- the function -/\n"
            "noncomputable def f (x : ℝ) : ℝ := x ^ 2\n\nabbrev answer : ℝ := 4\n\n"
            "/-- The problem. -/\ntheorem p : f 2 = answer := by\n  norm_num [f]\n```")
    result = extract_statement(text, NAME)
    assert isinstance(result, Extracted)
    assert result.preamble == ("open Real\n\n/-- the function -/\nnoncomputable def f (x : ℝ) : ℝ := x ^ 2\n\n"
                               "abbrev answer : ℝ := 4")
    assert result.text == f"theorem {NAME} :\n    f 2 = answer := by sorry"
    banned = extract_statement(text.replace("x ^ 2", "by native_decide"), NAME)
    assert isinstance(banned, Failed) and banned.reason is DropReason.UNPARSABLE and "native_decide" in banned.detail


def test_statements_that_differ_only_in_preamble_differ():
    from autoformalize.formalize import to_statement

    problem = Problem(id="c" * 64, source="s", external_id="3", informal="Compute f 2.")
    block = "```lean4\n{}def f (x : ℕ) : ℕ := {}\n\ntheorem p : f 2 = 4 := by sorry\n```"
    a, b, c = (to_statement(problem, 1, 0, block.format(pre, body), "import Mathlib\n", None)
               for pre, body in (("", "x * x"), ("", "x + x"), ("-- spacing differs\n", "x*x")))
    assert a.preamble == "def f (x : ℕ) : ℕ := x * x" and a.text == b.text
    assert a.id != b.id and a.normalized_sha256 != b.normalized_sha256
    assert (a.id, a.normalized_sha256) == (c.id, c.normalized_sha256)


def test_names_are_deterministic_identifiers():
    assert theorem_name("ab" * 32, 2, 3) == theorem_name("ab" * 32, 2, 3)
    assert theorem_name("ab" * 32, 2, 3) != theorem_name("ab" * 32, 2, 4)
    assert theorem_name("ab" * 32, 2, 3).replace("_", "").isalnum()


def test_few_shot_from_valid_only(tmp_path):
    examples = load_examples(None, 3)
    assert len(examples) == 3 and all(e.statement.endswith(":= by sorry") for e in examples)
    prompt = render_prompt(DEFAULT_TEMPLATE, "Show that 1 + 1 = 2.", examples)
    assert prompt.count("Mathematical Problem in Natural Language:") == 4
    assert prompt.endswith("Translate the problem to Lean 4 (only the core declaration):\n```lean4\n")
    bad = tmp_path / "shots.jsonl"
    bad.write_text(json.dumps({"split": "test", "informal_prefix": "x", "formal_statement": "theorem t : True := by\n"}) + "\n")
    with pytest.raises(ConfigError, match="test problem"):
        load_examples(str(bad), 1)


def test_template_from_a_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("Problem: {informal}\nLean:\n")
    assert load_template(str(path)) == "Problem: {informal}\nLean:\n"
    path.write_text("no placeholder")
    with pytest.raises(ConfigError, match="informal"):
        load_template(str(path))


def test_stage_keeps_every_sample_with_its_reason():
    problems = [Problem(id="a" * 64, source="s", external_id="1", informal="Prove that 2 + 2 = 4."),
                Problem(id="b" * 64, source="s", external_id="2", informal="Show there is no largest prime.")]
    answers = {
        "2 + 2": ["theorem x : (2 : ℕ) + 2 = 4 := by norm_num\n```", "theorem y : (2 : ℕ) + 2 = 4 := by\n  rfl\n```", "no idea"],
        "largest prime": ["theorem p (n : ℕ) : ∃ p, n < p ∧ Nat.Prime p := by sorry```", "", "```lean4\ntheorem a : True := trivial\ntheorem b : True := trivial\n```"],
    }

    def script(request):
        assert request.n == 3 and request.stop and "```" in request.stop
        return next(v for k, v in answers.items() if k in request.prompt.rsplit("Mathematical Problem", 1)[-1])

    cfg = AutoformalizeConfig(samples=3, few_shot=2)
    statements, counts = formalize(problems, ScriptedGenerator(script), cfg, "import Mathlib\n", 1)
    # the two samples for problem a are the same statement: stored once
    kept = [s for s in statements if s.status is StatementStatus.CANDIDATE]
    dropped = {s.drop_reason for s in statements if s.status is StatementStatus.DROPPED}
    assert len(kept) == 2
    assert dropped == {DropReason.NO_CODE, DropReason.SEVERAL_THEOREMS}
    assert counts.seen == 6 and counts.kept == 2 and counts.dropped["duplicate"] == 1
    assert all(s.round == 1 and s.header == "import Mathlib\n" for s in statements)
    again, _ = formalize(problems, ScriptedGenerator(script), cfg, "import Mathlib\n", 1)
    assert [s.id for s in again] == [s.id for s in statements]  # content ids: a rerun makes the same rows
