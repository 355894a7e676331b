"""The real-Lean tier: the verifier against the real Lean 4 REPL of 2021 (tests/real_lean.py)."""

import pytest

from flywheel.lean.verifier import Verifier
from flywheel.records import VerdictStatus as V

pytestmark = pytest.mark.lean


@pytest.mark.parametrize(
    "statement, proof, status",
    [
        ("theorem t1 (a b : Nat) : a + b = b + a := sorry", "Nat.add_comm a b", V.PROVED),
        ("theorem t2 : 2 + 2 = 4 := sorry", "by decide", V.PROVED),
        ("theorem t3 : 2 + 2 = 5 := sorry", "by decide", V.FAILED),
        ("theorem t4 : 2 + 2 = 4 := sorry", "sorry", V.REJECTED),
    ],
)
def test_real_verdicts(real_lean_cfg, statement, proof, status):
    with Verifier(real_lean_cfg) as v:
        got = v.check("", statement, proof)
    assert got.status is status, got
