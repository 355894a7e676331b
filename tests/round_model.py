"""TEST DOUBLE: the scripted model of a whole round, served over the OpenAI API by tests.doubles.OpenAIServer.

Problem k of the bundled sample gets the statement `(n : ℕ) (h₀ : n = k) : n * 2 = 2k` (or a false or
inconsistent variant), and its proofs behave by k % 4:
  0: the statement is proved on the second sample;  1: the negation is proved;
  2: nothing is proved (the budget runs out);        3: the hypotheses prove False.
"""

from __future__ import annotations

import json
import re

from tests.conftest import REPO

SAMPLE = REPO / "flywheel" / "data" / "sample_problems.jsonl"
FAIL = "  omega -- fake:error=omega could not prove the goal"


def _index(prompt: str) -> int:
    rows = [json.loads(x) for x in SAMPLE.read_text().splitlines()]
    problem = prompt.rsplit("Mathematical Problem in Natural Language:\n", 1)[1]
    return next(j for j, r in enumerate(rows) if r["informal_prefix"].strip("/-\n ").strip()[:40] in problem)


def statement_for(k: int) -> str:
    if k % 4 == 1:
        return f"theorem s (n : ℕ) (h₀ : n = {k}) : n * 2 = {2 * k + 1} := by sorry"
    if k % 4 == 3:
        return f"theorem s (n : ℕ) (h₀ : n = {k}) (h₁ : n = {k + 1}) : n * 2 = {2 * k} := by sorry"
    return f"theorem s (n : ℕ) (h₀ : n = {k}) : n * 2 = {2 * k} := by sorry"


def respond(prompt: str, i: int) -> str:
    if "You are grading an autoformalization" in prompt:
        return "Back-translation: n is k, so 2n is 2k.\nGrade: excellent"
    if "Translate the problem to Lean 4" in prompt:
        return statement_for(_index(prompt)).removesuffix(" := by sorry") + " := by\n  sorry\n```"
    decl = prompt.rsplit(":= by\n", 1)[0].rsplit("\n", 2)[-2:]
    decl = "\n".join(decl)
    k = int(re.search(r"n = (\d+)", decl).group(1))
    if decl.rstrip().endswith("False"):
        return "  omega\n```" if k % 4 == 3 else FAIL + "\n```"
    if "¬" in decl:
        return "  omega\n```" if k % 4 == 1 else FAIL + "\n```"
    if k % 4 == 0 and i >= 1:
        return "  subst h₀\n  rfl\n```"
    return FAIL + "\n```"


# The same round for the real Lean 4 of 2021 (core library only, tests/real_lean.py): `Nat` for `ℕ`, core
# tactics for omega. Problem k % 4 == 2 keeps Mathlib's `ℕ`, which core Lean does not know: the real compile
# filter drops it (does_not_compile) where the Mathlib round leaves it open.
CORE_FAIL = "  exact rfl"


def core_statement_for(k: int) -> str:
    return statement_for(k) if k % 4 == 2 else statement_for(k).replace("ℕ", "Nat")


def respond_core(prompt: str, i: int) -> str:
    if "You are grading an autoformalization" in prompt:
        return respond(prompt, i)
    if "Translate the problem to Lean 4" in prompt:
        return core_statement_for(_index(prompt)).removesuffix(" := by sorry") + " := by\n  sorry\n```"
    decl = "\n".join(prompt.rsplit(":= by\n", 1)[0].rsplit("\n", 2)[-2:])
    k = int(re.search(r"n = (\d+)", decl).group(1))
    if decl.rstrip().endswith("False"):
        return ("  exact absurd (h₀.symm.trans h₁) (by decide)" if k % 4 == 3 else CORE_FAIL) + "\n```"
    if "¬" in decl:
        return ("  subst h₀\n  decide" if k % 4 == 1 else CORE_FAIL) + "\n```"
    if k % 4 == 0 and i >= 1:
        return "  subst h₀\n  rfl\n```"
    return CORE_FAIL + "\n```"
