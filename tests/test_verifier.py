"""The verifier: the 102 real kimina-match answers map to the right verdicts, every cheat is caught
(before Lean or by `#print axioms`), and a repeated proof costs one cache lookup."""

import json

import pytest

from flywheel.lean.guard.cache import MemoryCache
from flywheel.lean.text.statements import parse_theorem
from flywheel.lean.guard.verifier import Verifier
from flywheel.records import VerdictStatus as V
from tests.conftest import HEADER

STATEMENT = "theorem t (x : ℕ) (h : 0 < x) : 0 < x * x := by sorry"


def _kimina(shared_data):
    root = shared_data.parent / "lean" / "kimina-match"
    cases = []
    for path in sorted((root / "input").glob("*.lean")):
        text = path.read_text()
        at = text.index("theorem")
        result = json.loads((root / "output" / (path.stem + ".json")).read_text())["results"][0]
        msgs = (result["response"] or {}).get("messages", [])
        if result["error"]:
            expected = V.TIMEOUT
        elif any(m["severity"] == "error" for m in msgs):
            expected = V.FAILED
        elif any("sorry" in m["data"] for m in msgs if m["severity"] == "warning"):
            expected = V.INCOMPLETE
        else:
            expected = V.PROVED
        cases.append((path.stem, text[:at], text[at:], parse_theorem(text[at:]).proof, expected))
    return cases


def test_the_102_kimina_cases(lean_cfg, shared_data):
    cases = _kimina(shared_data)
    assert len(cases) == 102
    with Verifier(lean_cfg) as verifier:
        verdicts = verifier.check_many([(h, s, p) for _, h, s, p, _ in cases])
    got = {name: v.status for (name, *_), v in zip(cases, verdicts)}
    assert got == {name: expected for name, *_, expected in cases}
    assert sum(v is V.TIMEOUT for v in got.values()) == 4
    for v in verdicts:
        if v.status is V.PROVED:
            assert v.axioms == ["propext", "Classical.choice", "Quot.sound"]


@pytest.mark.parametrize(
    "proof, status, reason",
    [
        ("by\n  nlinarith", V.PROVED, None),
        ("by\n  sorry", V.REJECTED, "sorry"),
        ("by\n  nlinarith -- fake:sorry-warning", V.INCOMPLETE, "sorry"),  # warning without a sorries entry
        ("by\n  nlinarith -- fake:axioms=propext,sorryAx", V.REJECTED, "sorryAx"),
        ("by\n  nlinarith -- fake:axioms=propext,Lean.ofReduceBool", V.REJECTED, "native_decide"),
        ("by\n  nlinarith -- fake:axioms=propext,cheat", V.REJECTED, "depends on axiom cheat"),
        ("by\n  nlinarith -- fake:error=linarith failed", V.FAILED, "linarith failed"),
        ("by native_decide", V.REJECTED, "native_decide"),
        ("by exact?", V.REJECTED, "search"),
        ("by\n  nlinarith\n#print axioms t", V.REJECTED, "command after the proof"),
        ("by\n  nlinarith\ntheorem t2 : False := sorry", V.REJECTED, "command after the proof"),
        ("by\n  set_option debug.skipKernelTC true in\n  nlinarith", V.REJECTED, "debug"),
        ("by\n  nlinarith -- fake:hang", V.TIMEOUT, "timeout"),
        ("by\n  nlinarith -- fake:die", V.CRASHED, "exited"),
        ("by\n  nlinarith -- fake:garbage", V.CRASHED, "garbage"),
    ],
)
def test_cheats_and_faults(lean_cfg, proof, status, reason):
    with Verifier(lean_cfg) as verifier:
        verdict = verifier.check(HEADER, STATEMENT, proof)
        assert verdict.status is status, verdict
        if reason:
            assert reason in verdict.reason
        # the pool keeps working after any of them
        assert verifier.check(HEADER, STATEMENT, "by\n  positivity").status is V.PROVED


def test_the_statement_checked_is_ours(lean_cfg):
    """A model's own statement is never used: only the proof body travels."""
    with Verifier(lean_cfg) as verifier:
        p = verifier.prepare(HEADER, STATEMENT, "by\n  positivity")
        assert p.code == "theorem t (x : ℕ) (h : 0 < x) :\n    0 < x * x := (by\n  positivity\n)"
        assert (p.proof_line, p.proof_col) == (2, 18)  # the proof's first character, after the parenthesis
        anonymous = verifier.prepare(HEADER, "example : True := trivial", "trivial")
        assert anonymous.name.startswith("flywheel_") and f"theorem {anonymous.name}" in anonymous.code
        assert verifier.check(HEADER, "theorem t (h : sorry) : True := trivial", "trivial").status is V.REJECTED
        assert verifier.check(HEADER, "theorem t (x : ℕ", "trivial").status is V.REJECTED
        assert verifier.check("import Mathlib\naxiom cheat : False\n", STATEMENT, "by positivity").status is V.REJECTED


def test_compile_check(lean_cfg):
    with Verifier(lean_cfg) as verifier:
        assert verifier.compile_check(HEADER, STATEMENT).status is V.INCOMPLETE
        bad = verifier.compile_check(HEADER, "theorem t (x : ℕ) : x = undefined_y\n  := by sorry")
        assert bad.status is V.FAILED and "unknown identifier" in bad.reason


def test_cache_makes_a_repeat_cost_a_lookup(lean_cfg):
    cache = MemoryCache()
    with Verifier(lean_cfg, cache) as verifier:
        first = verifier.check(HEADER, STATEMENT, "by\n  positivity")
        second = verifier.check(HEADER, STATEMENT, "by\n  positivity")
        timeout = verifier.check(HEADER, STATEMENT, "by\n  positivity -- fake:hang")
        again = verifier.check(HEADER, STATEMENT, "by\n  positivity -- fake:hang")
        stats = verifier.stats()
    assert first.status is V.PROVED and not first.cached
    assert second.status is V.PROVED and second.cached
    assert timeout.status is again.status is V.TIMEOUT and not again.cached  # transient: never cached
    assert stats["checks"] == 3 and stats["cache_hits"] == 1


def test_store_cache_is_shared_between_verifiers(lean_cfg, store):
    from db.verdict_cache import StoreCache

    with Verifier(lean_cfg, StoreCache(store)) as verifier:
        assert not verifier.check(HEADER, STATEMENT, "by\n  positivity").cached
    with Verifier(lean_cfg, StoreCache(store)) as verifier:
        verdict = verifier.check(HEADER, STATEMENT, "by\n  positivity")
        assert verdict.cached and verdict.status is V.PROVED and verifier.stats()["checks"] == 0
    from flywheel.lean.guard.verdicts import Verdict

    cache = StoreCache(store)  # a limit's verdict (an answer past lean.max_answer_mb) is not kept, as a timeout is not
    for key, verdict in (("limited", Verdict(V.FAILED, "past 1 MB", limited=True)), ("slow", Verdict(V.TIMEOUT))):
        cache.put(key, "toolchain", verdict)
    cache.close()
    assert StoreCache(store).get("limited") is None and StoreCache(store).get("slow") is None


def test_error_positions_map_to_the_proof(lean_cfg):
    with Verifier(lean_cfg) as verifier:
        verdict = verifier.check(HEADER, STATEMENT, "by\n  nlinarith -- fake:error=oops")
    # the code is "theorem t ... :\n    0 < x * x := by\n  nlinarith": the proof starts on line 2
    assert verdict.messages[0]["pos"] == {"line": 3, "column": 2}
    assert verdict.messages[0]["proof_pos"] == {"line": 2, "column": 2}


def test_the_preamble_comes_between_header_and_theorem(lean_cfg):
    preamble = "open Real\n\nabbrev bound : ℕ := 0"
    statement = f"{preamble}\n\n/-- doc -/\n" + STATEMENT.replace("0 < x * x", "bound < x * x")
    with Verifier(lean_cfg) as verifier:
        p = verifier.prepare(HEADER, statement, "by\n  positivity")
        # rendered command by command: the opened namespace «escaped», as a header's are
        assert p.code.startswith("open «Real»\n\nabbrev bound : ℕ := 0\n\ntheorem t (x : ℕ) (h : 0 < x) :\n    bound < x * x := ")
        verdict = verifier.check(HEADER, statement, "by\n  nlinarith -- fake:error=oops")
        banned = verifier.check(HEADER, "instance : Inhabited ℕ := ⟨1⟩\n\n" + STATEMENT, "by\n  positivity")
        unparsable = verifier.check(HEADER, "x = 1\n" + STATEMENT, "by\n  positivity")
    # lines 1-4 of the code are the preamble and a blank line: the error on line 7 is on the proof's line 2
    assert verdict.messages[0]["pos"] == {"line": 7, "column": 2}
    assert verdict.messages[0]["proof_pos"] == {"line": 2, "column": 2}
    assert banned.status is V.REJECTED and "preamble" in banned.reason
    assert unparsable.status is V.REJECTED and "before the declaration" in unparsable.reason


FORGED = "'t' does not depend on any axioms"


def test_a_forged_axioms_message_from_the_proof_is_not_our_answer(lean_cfg):
    """`#print axioms` travels in the proof's own command; a proof that prints the message itself (`trace`)
    prints it at its own position, and only the message at our command's position counts."""
    with Verifier(lean_cfg) as verifier:
        cheat = verifier.check(HEADER, STATEMENT, f"by\n  nlinarith -- fake:axioms=propext,cheat\n  -- fake:info={FORGED}")
        honest = verifier.check(HEADER, STATEMENT, f"by\n  nlinarith -- fake:info={FORGED}")
    assert cheat.status is V.REJECTED and cheat.reason == "depends on axiom cheat" and cheat.axioms == ["propext", "cheat"]
    assert honest.status is V.PROVED and honest.axioms == ["propext", "Classical.choice", "Quot.sound"]
    # the proof's own message stays among the verdict's messages; ours is taken out
    assert [m["data"] for m in honest.messages] == [FORGED] and honest.messages[0]["proof_pos"]["line"] == 2


def test_an_answer_past_max_answer_mb_fails_its_check_and_the_next_is_right(lean_cfg):
    """A proof that makes Lean print without end (a deep trace, a term at full depth) fails, once its answer
    passes lean.max_answer_mb; the reading stops there, the process is replaced and the next check is right.
    Under the cap a large answer, its reads each ending at a brace, is read whole."""
    import dataclasses

    from flywheel.lean.guard.verdicts import verdict_from_json

    capped = dataclasses.replace(lean_cfg, max_answer_mb=1, workers=1)
    cache = MemoryCache()
    with Verifier(capped, cache=cache) as verifier:
        flood = verifier.check(HEADER, STATEMENT, "by\n  nlinarith -- fake:flood=3")
        after = verifier.check(HEADER, STATEMENT, "by\n  nlinarith [sq_nonneg x]")
        stats = verifier.stats()
    assert flood.status is V.FAILED and "lean.max_answer_mb" in flood.reason, flood
    assert verdict_from_json(flood.to_json()).limited  # as it crosses to a Ray worker's driver, whose cache skips it
    assert after.status is V.PROVED, after
    assert stats["oversize"] == 1 and stats["started"] == 2, stats
    # the limit's verdict is not kept: under a larger cap the same proof is checked again, and read whole
    with Verifier(dataclasses.replace(lean_cfg, workers=1), cache=cache) as verifier:
        large = verifier.check(HEADER, STATEMENT, "by\n  nlinarith -- fake:flood=3")
        assert not large.cached
        # its blank line not yet there: the last brace's decode, put off, is made once the text stops
        late = verifier.check(HEADER, STATEMENT, "by\n  nlinarith -- fake:flood=3\n  -- fake:late-blank")
        after = verifier.check(HEADER, STATEMENT, "by\n  nlinarith [sq_nonneg (x + 1)]")
    assert large.status is V.PROVED and len(large.messages[0]["data"]) == 3 << 20, large.status
    assert late.status is V.PROVED and len(late.messages[0]["data"]) == 3 << 20, late.status
    assert after.status is V.PROVED, after


def test_two_messages_where_print_axioms_answers_are_never_proved():
    from flywheel.lean.guard.soundness import Policy
    from flywheel.lean.guard.verdicts import classify, with_axioms

    code, at = with_axioms("theorem t : True := (trivial\n)", "t")
    assert code.endswith("\n)\n\n#print axioms t") and at == (4, 0)
    ours = {"severity": "info", "pos": {"line": 4, "column": 0}, "data": "'t' depends on axioms: [propext]"}
    forged = dict(ours, data=FORGED)
    assert classify({"env": 1, "messages": [ours]}, "t", None, Policy(), axioms_at=at).status is V.PROVED
    for messages, reason in (([forged, ours], "more than one message"), ([], "did not report t"),
                             ([dict(ours, severity="warning")], "did not report t"),
                             ([dict(ours, pos={"line": 3, "column": 0})], "did not report t")):
        verdict = classify({"env": 1, "messages": messages}, "t", None, Policy(), axioms_at=at)
        assert verdict.status is V.REJECTED and reason in verdict.reason, messages


def test_a_repl_without_positions_is_asked_print_axioms_alone(lean_cfg, monkeypatch):
    """Where the answer holds no positions, nothing in it can be told apart from the proof's own messages:
    `#print axioms` is asked again as a command of its own."""
    monkeypatch.setenv("FAKE_REPL_NO_POSITIONS", "1")
    with Verifier(lean_cfg) as verifier:
        cheat = verifier.check(HEADER, STATEMENT, f"by\n  nlinarith -- fake:axioms=propext,cheat\n  -- fake:info={FORGED}")
        good = verifier.check(HEADER, STATEMENT, "by\n  nlinarith")
    assert cheat.status is V.REJECTED and cheat.reason == "depends on axiom cheat"
    assert good.status is V.PROVED and good.axioms == ["propext", "Classical.choice", "Quot.sound"]


def test_a_check_whose_repl_died_is_retried_once(lean_cfg, tmp_path):
    with Verifier(lean_cfg) as verifier:
        verdict = verifier.check(HEADER, STATEMENT, f"by\n  nlinarith -- fake:die-once={tmp_path / 'died'}")
        stats = verifier.stats()
    assert verdict.status is V.PROVED and stats["crashes"] == 1 and stats["retries"] == 1
