"""The lemma pool: near matches (equal up to binder names) of a subgoal lemma shown in its prompt, and a lemma
two units of one pass need asked and checked once, the stored rows the same whichever unit hears first."""

import pytest

from flywheel.config import ProverConfig, load_config
from flywheel.errors import ConfigError
from flywheel.lean.guard.cache import MemoryCache
from flywheel.lean.guard.verifier import Verifier
from flywheel.records import ProvedLemma, Side, VerdictStatus
from prover_loop.lemmas import Pool, lemma_sha256
from prover_loop.prove import prove_pass
from tests.doubles import ScriptedGenerator, StreamingScriptedGenerator, prompt_text
from tests.seed import HEADER, statement

SKETCH = "  have h1 : 0 < x + 1 := by sorry\n  have h2 : x + 1 = 1 := by sorry\n  exact h2\n```"


def _same(i: int):
    """Statement i, all of them with the same hypotheses and goal (so their sketches' lemmas are the same)."""
    return statement(i, text=f"theorem s{i} (x : ℕ) (h : x = 0) : x + 1 = 1 := by sorry")


def _asked(text: str) -> str:
    """The declaration a prompt asks for: its last theorem (any examples come before it)."""
    return text.rsplit("theorem ", 1)[1]


def _is_lemma(text: str) -> bool:
    return "proof sketch" not in text and not _asked(text).startswith(("s0 ", "s1 "))


def _script(req):
    text = prompt_text(req)
    if "proof sketch" in text:
        return [SKETCH]
    if not _is_lemma(text):
        return ["  exact undefined_whole\n```"]
    return ["  omega -- fake:fail\n```" if "_neg" in _asked(text).split()[0] else "  omega\n```"]


def _run(lean_cfg, statements, generator, pool=None, workers=2, **cfg):
    results, sent = [], []
    with Verifier(lean_cfg, MemoryCache()) as verifier, generator:
        def check(header, goal, proof):
            sent.append((goal, proof))
            return verifier.check(header, goal, proof)

        config = ProverConfig(**({"strategy": ["decompose"], "sketches": 1, "lemma_samples": 1} | cfg))
        prove_pass(statements, {}, [Side.STATEMENT], config, 0, 1, generator, check, workers, results.extend,
                   sketch=verifier.sketch, lemmas=pool)
    return sorted(results, key=lambda r: r.statement.id), sent


def _stored(name: str, binders: str, proof: str) -> ProvedLemma:
    text = f"theorem {name} {binders} :\n    0 < y + 1 := by sorry"
    return ProvedLemma(lemma_sha256(HEADER, "", text), HEADER, "", text, proof)


def _pool() -> Pool:
    return Pool.of([_stored("near_a", "(y : ℕ) (hy : y = 0)", "by\n  omega"),
                    _stored("far", "(y : ℕ) (hy : y = 1)", "by\n  simp"),
                    _stored("near_b", "(y : ℕ) (hz : y = 0)", "by\n  positivity")])


def _first_lemma_prompts(generator) -> list[str]:
    """The prompts of the first subgoal lemma (`0 < x + 1`), statement side then negation side."""
    return [p for p in map(prompt_text, generator.requests)
            if _is_lemma(p) and "0 < x + 1" in _asked(p) and "h1 :" not in _asked(p)]


def test_near_matches_of_a_renamed_lemma_are_shown_in_its_prompt_and_its_proof_still_checked(lean_cfg):
    pool, generator = _pool(), ScriptedGenerator(_script)
    (result,), sent = _run(lean_cfg, [_same(0)], generator, pool)
    statement_side, negation_side = _first_lemma_prompts(generator)
    assert "theorem near_a" in statement_side and "theorem near_b" in statement_side and "far" not in statement_side
    assert "  positivity" in statement_side and statement_side.index("near_a") < statement_side.index("near_b")
    assert "near_" not in negation_side  # the examples prove the lemma, not its negation
    assert pool.hits == 0 and pool.near_prompts == 1  # no exact hit (binder names count there), one near
    # shown, never taken: the lemma's own answer went through Lean, and the whole proof too
    assert sum(not goal.startswith("theorem s0 ") and "h1" not in goal and "_neg" not in goal.split(":")[0]
               for goal, _ in sent) == 1
    assert result.side is Side.STATEMENT and result.attempts[-1].sampling["kind"] == "assembled"

    fewer, generator = _pool(), ScriptedGenerator(_script)
    _run(lean_cfg, [_same(0)], generator, fewer, lemma_examples=1)
    statement_side, _ = _first_lemma_prompts(generator)
    assert "theorem near_a" in statement_side and "near_b" not in statement_side


def test_a_lemma_two_statements_need_in_one_pass_is_proved_once_and_both_assemble(lean_cfg):
    pool, generator = Pool(), ScriptedGenerator(_script)
    results, sent = _run(lean_cfg, [_same(0), _same(1)], generator, pool)
    assert [r.side for r in results] == [Side.STATEMENT] * 2
    assert all(r.attempts[-1].sampling["kind"] == "assembled" for r in results)
    lemma_prompts = [p for p in map(prompt_text, generator.requests) if _is_lemma(p)]
    assert len(lemma_prompts) == len(set(lemma_prompts)) == 4  # two lemmas, two sides each, asked once
    lemma_checks = [(goal, proof) for goal, proof in sent if not goal.startswith(("theorem s0 ", "theorem s1 "))]
    assert len(lemma_checks) == len(set(lemma_checks))
    assert sum("_neg" not in g.split(":")[0] for g, _ in lemma_checks) == 2
    assert pool.shared >= 6  # the second unit's four requests and its two statement-side checks at least
    # each statement keeps its own lineage: its derived lemmas, their attempts and their pool rows
    for r in results:
        assert len(r.lemmas) == 2 and {f.source.id for f in r.lemmas} == {r.statement.id}
        assert {a.statement_id for a in r.attempts if a.sampling.get("lemma") is not None} == {d.id for d in r.derived}
    assert not {d.id for d in results[0].derived} & {d.id for d in results[1].derived}


def _rows(lean_cfg, slow: str):
    """Two statements needing the same lemmas, on a streaming double whose sketch for `slow` answers last."""
    def delay(req):
        text = prompt_text(req)
        return 0.3 if "proof sketch" in text and f"theorem {slow} " in text else 0.0

    generator = StreamingScriptedGenerator(_script, delay=delay)
    results, _ = _run(lean_cfg, [_same(0), _same(1)], generator, Pool(), workers=4)
    first_sketch = next(p for p in generator.answered if "proof sketch" in p)
    rows = [[(a.id, a.statement_id, a.side, a.verdict, a.parent, a.proof, a.sampling.get("kind")) for a in r.attempts]
            + [(f.statement.id, f.attempt_id, f.side) for f in r.lemmas] + [d.id for d in r.derived] for r in results]
    lemma_prompts = [p for p in generator.answered if _is_lemma(p)]
    assert len(lemma_prompts) == len(set(lemma_prompts)) == 4
    return rows, first_sketch, results


def test_stored_rows_do_not_depend_on_which_unit_asks_for_a_shared_lemma_first(lean_cfg):
    rows, first, results = _rows(lean_cfg, "s0")
    again, first_again, _ = _rows(lean_cfg, "s1")
    assert "theorem s1 " in first and "theorem s0 " in first_again  # the other unit asked first each time
    assert rows == again
    assert all(r.side is Side.STATEMENT and r.attempts[-1].verdict is VerdictStatus.PROVED for r in results)


def test_the_number_of_near_matches_shown_is_a_prover_knob():
    assert load_config(environ={}).prover.lemma_examples == 2
    assert load_config(environ={"FLYWHEEL_PROVER__LEMMA_EXAMPLES": "0"}).prover.lemma_examples == 0
    with pytest.raises(ConfigError, match=r"FLYWHEEL_PROVER__LEMMA_EXAMPLES=-1 \(prover.lemma_examples\)"):
        load_config(environ={"FLYWHEEL_PROVER__LEMMA_EXAMPLES": "-1"})


def test_two_sketches_of_one_side_that_need_the_same_lemma_ask_for_it_once(lean_cfg):
    generator = ScriptedGenerator(_script)
    (result,), sent = _run(lean_cfg, [_same(0)], generator, Pool(), sketches=2)
    lemma_prompts = [p for p in map(prompt_text, generator.requests) if _is_lemma(p)]
    assert len(lemma_prompts) == len(set(lemma_prompts)) == 4
    lemma_checks = [(goal, proof) for goal, proof in sent if not goal.startswith("theorem s0 ")]
    assert len(lemma_checks) == len(set(lemma_checks))
    assert result.side is Side.STATEMENT and result.attempts[-1].sampling == result.attempts[0].sampling | {
        "kind": "assembled"}
