"""The same checks against a real Lean REPL, when FLYWHEEL_LEAN_REPL names one."""

import os

import pytest

from flywheel.config import LeanConfig
from flywheel.lean.guard.verifier import Verifier
from flywheel.records import VerdictStatus as V

pytestmark = pytest.mark.lean
REAL = os.environ.get("FLYWHEEL_LEAN_REPL", "")
needs_repl = pytest.mark.skipif(not REAL or "fake_repl" in REAL, reason="FLYWHEEL_LEAN_REPL does not name a real Lean REPL")
HEADER = "import Mathlib\n"


@pytest.fixture(scope="module")
def verifier():
    with Verifier(LeanConfig(repl=REAL, timeout_s=300, workers=1)) as v:
        yield v


@needs_repl
@pytest.mark.parametrize(
    "statement, proof, status",
    [
        ("theorem t1 (a b : ℕ) : a + b = b + a := by sorry", "by\n  omega", V.PROVED),
        ("theorem t2 (a b : ℕ) : a + b = b + a := by sorry", "by\n  rfl", V.FAILED),
        ("theorem t3 : (2 : ℕ) + 2 = 4 := by sorry", "by\n  sorry", V.REJECTED),
        ("theorem t4 : (2 : ℕ) + 2 = 4 := by sorry", "by native_decide", V.REJECTED),
        ("theorem t5 : (2 : ℕ) + 2 = 4 := by sorry", "by\n  exact?", V.REJECTED),
    ],
)
def test_real_verdicts(verifier, statement, proof, status):
    assert verifier.check(HEADER, statement, proof).status is status


@needs_repl
def test_real_compile_check(verifier):
    assert verifier.compile_check(HEADER, "theorem c (x : ℝ) : x ^ 2 ≥ 0 := by sorry").status is V.INCOMPLETE
    assert verifier.compile_check(HEADER, "theorem c (x : ℝ) : x ^ 2 ≥ y := by sorry").status is V.FAILED
