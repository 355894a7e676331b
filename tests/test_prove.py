"""prove_pass as plain logic: a scripted generator and a check function without Lean."""

import dataclasses
import threading
import time

import pytest

from flywheel.config import ProverConfig
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import Side, VerdictStatus
from prover_loop.extract import NoProof
from prover_loop.prove import NO_PROOF, prove_pass
from tests.doubles import ScriptedGenerator
from tests.seed import HEADER, statement

GOOD, BAD = "  subst h\n  rfl\n```", "  omega -- wrong\n```"


def _script(req):
    negation = "¬" in req.prompt.rsplit("\n", 2)[-2]
    if "x = 3" in req.prompt:  # statement 3: nothing before the fence closes
        return ["```"]  # an empty block
    if negation:
        return [BAD, BAD, GOOD] if "x = 1" in req.prompt else [BAD]
    return [BAD, GOOD] if "x = 0" in req.prompt else [BAD]


def _check(seen, delay_s=0.002):
    def check(header, goal, proof):
        seen.append((goal, proof))
        time.sleep(delay_s)
        return Verdict(VerdictStatus.PROVED if "rfl" in proof else VerdictStatus.FAILED, time_s=delay_s)
    return check


@pytest.mark.parametrize("workers", [1, 4])
def test_early_stop_stores_the_canonical_prefix(workers):
    sts = [statement(i) for i in range(4)]
    results, seen = [], []
    prove_pass(sts, {}, [Side.STATEMENT, Side.NEGATION], ProverConfig(samples_per_side=3), 0, 1,
               ScriptedGenerator(_script), _check(seen), workers, results.extend)
    by = {r.statement.id: r for r in results}
    assert len(by) == 4
    r0, r1, r2, r3 = (by[s.id] for s in sts)
    assert r0.side is Side.STATEMENT and [a.side for a in r0.attempts] == [Side.STATEMENT, Side.NEGATION, Side.STATEMENT]
    assert r0.proof is not None and r0.proof.proof.strip().endswith("rfl")
    assert r1.side is Side.NEGATION and len(r1.attempts) == 6  # S0 N0 S1 N1 S2 N2
    assert r2.side is None and len(r2.attempts) == 6 and {a.verdict for a in r2.attempts} == {VerdictStatus.FAILED}
    assert r3.side is None and {a.reason for a in r3.attempts} == {NO_PROOF}
    assert all(a.sampling["pass"] == 0 for r in results for a in r.attempts)


def test_a_failing_store_halts_the_pass_and_raises():
    sts = [statement(i) for i in range(40)]
    seen, stored = [], []

    def on_results(batch):
        if stored:
            raise RuntimeError("the database went away")
        stored.extend(batch)

    with pytest.raises(RuntimeError, match="went away"):
        prove_pass(sts, {}, [Side.STATEMENT, Side.NEGATION], ProverConfig(samples_per_side=3), 0, 1,
                   ScriptedGenerator(_script), _check(seen, 0.02), 2, on_results, chunk=4)
    assert 1 <= len(stored) < 40
    assert len(seen) < 40 * 6  # no check started long after the failure


def test_stop_ends_the_pass_with_whole_results_only():
    sts = [statement(i) for i in range(30)]
    stop, results, seen = threading.Event(), [], []

    def on_results(batch):
        results.extend(batch)
        stop.set()

    prove_pass(sts, {}, [Side.STATEMENT, Side.NEGATION], ProverConfig(samples_per_side=3), 0, 1,
               ScriptedGenerator(_script), _check(seen, 0.02), 2, on_results, stop=stop)
    assert 1 <= len(results) < 30
    assert all(r.side is not None or len(r.attempts) == 6 for r in results)


def test_the_preamble_serves_every_side_and_thinking_without_an_answer_says_so():
    preamble = "def bump (x : ℕ) : ℕ := x + 1"
    st = dataclasses.replace(statement(7, text="theorem s7 (x : ℕ) (h : x = 7) : bump x = 8 := by sorry"), preamble=preamble)
    answers = {"¬": ["<think>\nThe negation is false, but```lean4\ntheorem draft : True := trivial\n```"],
               "False": ["<think>\nNo.\n</think>\nThe hypotheses are consistent."],
               "": ["<think>\nsubst and compute\n</think>\n```lean4\ntheorem s7 (x : ℕ) (h : x = 7) : bump x = 8 := by\n"
                    "  subst h\n  rfl\n```"]}

    def script(req):
        goal = req.prompt.rsplit("\n", 2)[-2]
        return next(v for k, v in answers.items() if k in goal)

    results, seen = [], []
    generator = ScriptedGenerator(script)
    # the statement's side last, so that the attempts of the other two are in the canonical prefix
    prove_pass([st], {}, [Side.NEGATION, Side.FALSE_HYPS, Side.STATEMENT], ProverConfig(samples_per_side=1), 0, 1,
               generator, _check(seen), 1, results.extend)
    assert all(f"{preamble}\n\ntheorem" in req.prompt for req in generator.requests)
    (result,) = results
    assert result.side is Side.STATEMENT and result.proof.code.startswith(f"{HEADER}\n{preamble}\n\ntheorem s7")
    assert result.proof.code.endswith(":= (by\n  subst h\n  rfl\n)")  # exactly what the verifier sent
    ((goal, proof),) = seen  # the other sides had nothing to check
    assert goal.startswith(f"{preamble}\n\ntheorem s7") and proof == "by\n  subst h\n  rfl"
    by_side = {a.side: a for a in result.attempts}
    assert by_side[Side.NEGATION].reason == NoProof.THINKING.value
    assert by_side[Side.FALSE_HYPS].reason == NoProof.NONE.value


def test_chat_style_asks_in_a_chat_turn_and_lets_the_answer_think():
    """A reasoning prover: no closing-fence stop, the answer's last Lean block after its thinking is the proof."""
    from flywheel.config import load_config
    from flywheel.errors import ConfigError

    st = statement(3)
    answer = ("<think>\nA draft:\n```lean4\ntheorem s3 : False := by simp\n```\nNo, subst first.\n</think>\n"
              "```lean4\n" + st.text.removesuffix("by sorry") + "by\n  subst h\n  rfl\n```\nDone.")
    generator = ScriptedGenerator(lambda req: [answer])
    results, seen = [], []
    prove_pass([st], {}, [Side.STATEMENT], ProverConfig(samples_per_side=1, prompt_style="chat"), 0, 1,
               generator, _check(seen), 1, results.extend)
    (req,) = generator.requests
    assert isinstance(req.prompt, list) and req.prompt[0]["role"] == "user" and "```" not in req.stop
    assert req.prompt[0]["content"].endswith(":= by\n  sorry\n```")
    assert seen == [(seen[0][0], "by\n  subst h\n  rfl")]
    with pytest.raises(ConfigError, match="prover.prompt_style: expected one of completion, chat"):
        load_config(overrides={"prover": {"prompt_style": "reasoning"}}, environ={})


def test_a_decided_sides_requests_are_withdrawn_and_what_is_stored_is_the_same():
    """On a streaming generator the negation's request, still being generated when the statement's first
    sample proves, is withdrawn (its answer could not be stored): the pass ends without waiting for it, and the
    units store what they store when every request is answered."""
    from tests.doubles import AnsweringStreamingGenerator, StreamingScriptedGenerator

    sts = [statement(i) for i in range(3)]

    def script(req):
        return [BAD] if "¬" in req.prompt.rsplit("\n", 2)[-2] else [GOOD, BAD]

    def stored(generator):
        results = []
        with generator:
            withdrawn = prove_pass(sts, {}, [Side.STATEMENT, Side.NEGATION], ProverConfig(samples_per_side=2), 0, 1,
                                   generator, _check([]), 2, results.extend)
            unanswered = [p for p in generator.withdrawn if p not in generator.answered]
        rows = sorted((r.statement.id, r.side, [(a.side, a.proof, a.verdict) for a in r.attempts]) for r in results)
        return rows, withdrawn, unanswered

    def negation_waits(seconds):
        return lambda req: seconds if "¬" in req.prompt.rsplit("\n", 2)[-2] else 0.0

    rows, withdrawn, unanswered = stored(StreamingScriptedGenerator(script, delay=negation_waits(120)))
    assert withdrawn == 3 and len(unanswered) == 3  # the pass came back with the negations still unanswered
    answered_rows, none_withdrawn, _ = stored(AnsweringStreamingGenerator(script, delay=negation_waits(0.05)))
    assert none_withdrawn == 3  # taken back too, but without a withdraw of its own the answer still comes
    assert rows == answered_rows and {side for _, side, _ in rows} == {Side.STATEMENT}
