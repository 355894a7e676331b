"""Proofs out of model answers: the 102 real Goedel-Prover answers of kimina-match in the shapes models
answer in, and reasoning-style answers (Kimina-Prover, DeepSeek-Prover-V2, Goedel-Prover-V2)."""

import pytest

from flywheel.answers import NoCode, after_thinking, code_blocks, final_block
from flywheel.lean.text.statements import parse_theorem
from prover_loop.extract import NoProof, extract_proof


def _goedel(shared_data):
    """(name, whole answer file, the proof body it holds) for each kimina-match input."""
    cases = []
    for path in sorted((shared_data.parent / "lean" / "kimina-match" / "input").glob("*.lean")):
        text = path.read_text()
        thm = parse_theorem(text[text.index("theorem"):])
        cases.append((thm.name, text, thm.proof.strip()))
    return cases


def test_the_102_goedel_answers_in_every_shape(shared_data):
    cases = _goedel(shared_data)
    assert len(cases) == 102
    for name, text, proof in cases:
        block = f"```lean4\n{text.rstrip()}\n```"
        draft = text[: text.index(":=", text.index("theorem"))] + ":= by\n  sorry"
        shapes = {
            "as Goedel-Prover answers": f"{block}\nThe proof is complete.",
            "after prose and a draft": f"First a sketch:\n```lean4\n{draft}\n```\nNow the full proof:\n{block}\n",
            "after thinking": f"<think>\nTry this:\n```lean4\n{draft}\n```\nIt works.\n</think>\n{block}\nDone: ```",
            "with a lemma after it": f"```lean4\n{text.rstrip()}\n\n/-- spare -/\nlemma spare : True := trivial\n```",
        }
        for shape, answer in shapes.items():
            assert extract_proof(answer, name=name) == proof, (name, shape)
        assert extract_proof(f"<think>\n{block}\nstill thinking", name=name) is NoProof.THINKING


KIMINA = """<think>
We need $x^2 - 2x + 1 \\ge 0$, which is $(x - 1)^2 \\ge 0$.

```lean4
theorem fw_q (x : ℝ) : x ^ 2 - 2 * x + 1 ≥ 0 := by
  nlinarith
```

That may not be enough without a hint; give it the square.
</think>
```lean4
import Mathlib
import Aesop

set_option maxHeartbeats 400000

open BigOperators Real Nat Topology Rat

theorem fw_q (x : ℝ) : x ^ 2 - 2 * x + 1 ≥ 0 := by
  have h : (x - 1) ^ 2 ≥ 0 := by
    exact sq_nonneg (x - 1)
  nlinarith [h]
```"""

DEEPSEEK_V2 = """### Detailed Proof

The square $(x - 1)^2$ is non-negative and equals the left side.

### Step 1: Abstract Plan (Lean 4 with `have` statements)

```lean4
theorem fw_q (x : ℝ) : x ^ 2 - 2 * x + 1 ≥ 0 := by
  have h : (x - 1) ^ 2 ≥ 0 := by sorry
  sorry
```

### Complete Lean 4 Proof

```lean4
theorem fw_q (x : ℝ) : x ^ 2 - 2 * x + 1 ≥ 0 := by
  have h : (x - 1) ^ 2 ≥ 0 := by
    exact sq_nonneg (x - 1)
  nlinarith [h]
```

The `have` gives the square and `nlinarith` finishes, as in the plan ```above```."""

GOEDEL_V2 = """The key is a helper about squares.

```lean4
lemma square_nonneg (y : ℝ) : y ^ 2 ≥ 0 := by
  positivity

theorem fw_q (x : ℝ) : x ^ 2 - 2 * x + 1 ≥ 0 := by
  have h : (x - 1) ^ 2 ≥ 0 := by
    exact sq_nonneg (x - 1)
  nlinarith [h]

theorem extra : True := trivial
```"""

PROOF = "by\n  have h : (x - 1) ^ 2 ≥ 0 := by\n    exact sq_nonneg (x - 1)\n  nlinarith [h]"


@pytest.mark.parametrize("answer", [KIMINA, DEEPSEEK_V2, GOEDEL_V2], ids=["kimina", "deepseek-v2", "goedel-v2"])
def test_reasoning_answers_give_their_final_proof_verbatim(answer):
    assert extract_proof(answer, name="fw_q") == PROOF


@pytest.mark.parametrize(
    "answer, proof",
    [
        ("  subst h\n  rfl\n```\nThis closes it; ```lean4\ntheorem t : 1 = 1 := by\n  omega", "by\n  subst h\n  rfl"),
        ("  tac1\n    tac2\n\ntheorem helper : True := trivial\n```", "by\n  tac1\n    tac2"),
        ("nlinarith [sq_nonneg (a - b),\n  sq_nonneg a]", "by\n  nlinarith [sq_nonneg (a - b),\n    sq_nonneg a]"),
        ("theorem t (a : ℕ) : a = a := by\n   rfl\n```\nprose", "by\n   rfl"),
        ("I will restart.\n```\nthe plan\n```\n```lean\ntheorem t : 1 = 1 := by\n  norm_num\n```", "by\n  norm_num"),
    ],
    ids=["continued", "tactics-then-declaration", "unindented", "restated", "restarted"],
)
def test_completion_answers(answer, proof):
    assert extract_proof(answer) == proof


@pytest.mark.parametrize(
    "answer, why",
    [
        ("```", NoProof.NONE),
        ("", NoProof.NONE),
        ("<think>\nLet me see.\n```lean4\ntheorem t : True := trivial\n```", NoProof.THINKING),
        ("<think>a</think>\nNo code, only prose.", NoProof.NONE),
        ("<think>a</think>\n```lean4\ntheorem t : 1 = 1 := by\n  norm_num", NoProof.NONE),  # never closed
        ("<think>a</think>\n```lean4\ntheorem t (x : ℕ : x = x := rfl\n```", NoProof.UNPARSABLE),
    ],
)
def test_answers_without_a_proof_say_why(answer, why):
    assert extract_proof(answer) is why


def test_blocks_and_thinking():
    assert after_thinking("<think>a</think>b") == "b" and after_thinking("a</think>b</think>c") == "c"
    assert after_thinking("<think>a") is None and after_thinking("plain") == "plain"
    blocks = code_blocks("  simp\n```\nprose\n```python\nprint(1)\n```\n```lean4\ntheorem t", opened=True)
    assert [(b.code, b.lang, b.complete, b.continued) for b in blocks] == [
        ("  simp\n", "lean4", True, True), ("print(1)\n", "python", True, False), ("theorem t", "lean4", False, False)]
    assert code_blocks("  simp", opened=True)[0].complete  # the stop string took the fence
    python = "<think>x</think>```python\ntheorem t : True := trivial\n```"
    assert final_block(python, opened=True, wanted=lambda b: True) is NoCode.NO_BLOCK
