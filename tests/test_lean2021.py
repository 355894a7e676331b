"""The real-Lean tier: the verifier against the real Lean 4 REPL of 2021 (tests/real_lean.py)."""

import pytest

from flywheel.lean.guard.verifier import Verifier
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


def test_real_many_checks_one_verifier(real_lean_cfg):
    # Environments are reused: one Verifier, several verdicts in a row, each still right.
    cases = [
        ("theorem u1 (n : Nat) : n + 0 = n := sorry", "rfl", V.PROVED),
        ("theorem u2 (p : Prop) : p ∨ ¬p := sorry", "Classical.em p", V.PROVED),
        ("theorem u3 : 3 * 3 = 10 := sorry", "rfl", V.FAILED),
        ("theorem u4 : 1 = 1 := sorry", "exact sorry", V.REJECTED),
        ("theorem u5 (a b : Nat) : a * b = b * a := sorry", "Nat.mul_comm a b", V.PROVED),
    ]
    with Verifier(real_lean_cfg) as v:
        got = [v.check("", s, p).status for s, p, _ in cases]
    assert got == [want for _, _, want in cases]


def test_real_deep_recursion_fails_then_next_check_right(real_lean_cfg):
    # `decide` on a huge power stops at Lean's recursion limit (a failure, not a hang); the process stays usable.
    from dataclasses import replace

    cfg = replace(real_lean_cfg, timeout_s=2.0)
    with Verifier(cfg) as v:
        slow = v.check("", "theorem w1 : 2 ^ 100000 % 7 = 2 := sorry", "by decide")
        after = v.check("", "theorem w2 : 2 + 2 = 4 := sorry", "rfl")
    assert slow.status is V.FAILED and "maximum recursion depth" in slow.reason, slow
    assert after.status is V.PROVED, after


def test_real_timeout_replaces_process(real_lean_cfg):
    # rfl on a long list's length makes the real kernel unfold for seconds: past timeout_s the REPL is killed
    # and replaced, and the next check on the same verifier is still right.
    from dataclasses import replace

    with Verifier(replace(real_lean_cfg, timeout_s=2.0)) as v:
        slow = v.check("", "theorem w3 : (List.replicate 200000 1).length = 200000 := sorry", "rfl")
        after = v.check("", "theorem w4 : 1 = 1 := sorry", "rfl")
    assert slow.status is V.TIMEOUT, slow
    assert after.status is V.PROVED, after


def test_real_restart_on_memory_and_reuse(real_lean_cfg):
    # A real REPL's resident memory is far past 1 MB, so each check after the first restarts it; verdicts stay
    # right. With the default limit the same checks run on one process.
    from dataclasses import replace

    checks = [(f"theorem r{i} : {i} + 1 = {i + 1} := sorry", "rfl") for i in range(3)]
    for cfg, restarts in ((replace(real_lean_cfg, rss_limit_mb=1), 2), (real_lean_cfg, 0)):
        with Verifier(cfg) as v:
            got = [v.check("", s, p).status for s, p in checks]
            stats = v.stats()
        assert got == [V.PROVED] * 3
        assert stats["checks"] == 3 and stats["restarts"] == restarts, stats


def test_real_crash_under_tiny_memory_cap(real_lean_cfg):
    # A 64 MB address-space cap kills the real REPL (it cannot even map its runtime): the verdict is crashed,
    # retried once on a fresh process, never a hang or a false failure.
    from dataclasses import replace

    with Verifier(replace(real_lean_cfg, memory_limit_mb=64)) as v:
        got = v.check("", "theorem c1 : 1 = 1 := sorry", "rfl")
        stats = v.stats()
    assert got.status is V.CRASHED, got
    assert stats["crashes"] >= 1 and stats["retries"] == 1, stats


def test_real_axioms_read_from_print_axioms(real_lean_cfg):
    # The axioms come from the real `#print axioms` answer: the three standard ones for excluded middle,
    # none for a proof by rfl.
    with Verifier(real_lean_cfg) as v:
        em = v.check("", "theorem a1 (p : Prop) : p ∨ ¬p := sorry", "Classical.em p")
        refl = v.check("", "theorem a2 : 1 = 1 := sorry", "rfl")
    assert em.status is V.PROVED and sorted(em.axioms) == ["Classical.choice", "Quot.sound", "propext"], em
    assert refl.status is V.PROVED and refl.axioms == [], refl


def test_real_new_axiom_refused(real_lean_cfg):
    # A proof that declares its own axiom is refused by the guard; Lean would have accepted it.
    with Verifier(real_lean_cfg) as v:
        got = v.check("", "theorem x1 : 1 = 2 := sorry", "cheat\naxiom cheat : 1 = 2")
    assert got.status is V.REJECTED, got


def test_real_tactic_names_are_identifiers_where_no_tactic_starts(real_lean_cfg):
    # `stop` and `hint` are refused where a tactic starts; Lean reserves neither name, so elsewhere they are
    # identifiers to Lean as to the guard: these prove, and the tactic forms never reach Lean.
    with Verifier(real_lean_cfg) as v:
        honest = v.check("", "theorem y1 (stop hint : Nat) : stop + hint = hint + stop := sorry",
                         "Nat.add_comm stop hint")
        tactic = v.check("", "theorem y2 (stop : Nat) : stop = stop := sorry", "by\n  (stop\n  rfl)")
    assert honest.status is V.PROVED, honest
    assert tactic.status is V.REJECTED and "stop" in tactic.reason, tactic


@pytest.mark.parametrize("imports", ["", "import Init\n\n"])
def test_real_headers_differing_in_an_open_share_one_process(real_lean_cfg, imports):
    # `succ` means Nat.succ only under `open Nat`: each header gives the verdict it gives alone, in one process
    opened, plain = imports + "open Nat\n", imports
    cases = [(opened, "theorem o1 (n : Nat) : succ n = n + 1 := sorry", "rfl"),
             (plain, "theorem o2 (n : Nat) : succ n = n + 1 := sorry", "rfl"),
             (opened, "theorem o3 (n : Nat) : n + 0 = n := sorry", "rfl"),
             (plain, "theorem o4 (n : Nat) : Nat.succ n = n + 1 := sorry", "rfl")]
    alone = []
    for case in cases:
        with Verifier(real_lean_cfg) as v:
            alone.append(v.check(*case))
    assert [x.status for x in alone] == [V.PROVED, V.FAILED, V.PROVED, V.PROVED], alone
    assert "unknown identifier 'succ'" in alone[1].reason
    with Verifier(real_lean_cfg) as v:
        shared = [v.check(*case) for case in cases + cases]
        stats = v.stats()
    assert [(x.status, x.reason, x.messages) for x in shared] == [(x.status, x.reason, x.messages) for x in alone * 2]
    assert stats["started"] == 1 and stats["env_builds"] == 1  # one process; the plain header needs no env


def test_real_header_that_does_not_elaborate_fails_its_checks_only(real_lean_cfg):
    with Verifier(real_lean_cfg) as v:
        bad = v.check("open Nat\nopen NoSuchSpace\n", "theorem b1 : 1 = 1 := sorry", "rfl")
        good = v.check("open Nat\n", "theorem b2 (n : Nat) : succ n = n + 1 := sorry", "rfl")
        stats = v.stats()
    assert bad.status is V.FAILED and "header does not elaborate" in bad.reason and "NoSuchSpace" in bad.reason, bad
    assert good.status is V.PROVED and stats["started"] == 1 and stats["crashes"] == 0


def test_real_a_lemma_negation_in_forall_form_is_false_where_the_hyps_form_is_vacuous(real_lean_cfg):
    """decompose's lemma negation (¬ ∀ binders, concl): a lemma true because its context is contradictory has
    its `hyps` negation proved by the contradiction, and its `forall` negation refuted (its negation proved)."""
    from flywheel.lean.text import statements as surgery

    lemma = surgery.parse_theorem("theorem l (n : Nat) (h : False) : n = n + 1 := by sorry")
    hyps = surgery.render(surgery.with_name(surgery.negate(lemma, "hyps"), "l_neg"), "by sorry")
    ours = surgery.render(surgery.with_name(surgery.negate(lemma, "forall"), "l_neg2"), "by sorry")
    with Verifier(real_lean_cfg) as v:
        vacuous = v.check("", hyps, "h.elim")
        not_ours = v.check("", ours, "h.elim")
        refuted = v.check("", "theorem l_neg3 : ¬ " + ours.split(":", 1)[1].split(":= by sorry")[0].strip()
                          + " := by sorry", "fun k => k (fun n h => h.elim)")
    assert vacuous.status is V.PROVED, vacuous
    assert not_ours.status is V.FAILED and refuted.status is V.PROVED, (not_ours, refuted)
