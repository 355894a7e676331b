"""decompose: a sketch elaborated with sorries, each goal proved as a lemma, the whole checked as any proof;
a proved negation of a subgoal kills its sketch; the lemma pool answers a repeated subgoal; budgets stop it."""

import pytest

from flywheel.config import ProverConfig
from flywheel.lean.guard.cache import MemoryCache
from flywheel.lean.guard.verifier import Verifier
from flywheel.records import Side, VerdictStatus
from prover_loop.lemmas import Pool, lemma_name, lemma_sha256
from prover_loop.prove import prove_pass
from tests.doubles import ScriptedGenerator
from tests.seed import audit_all, statement

SKETCH = "  have h1 : 0 < x + 1 := by sorry\n  have h2 : x + 1 = 1 := by sorry\n  exact h2\n```"


def _script(lemma_ok: bool = True, negation_ok: bool = False):
    def script(req):
        text = req.prompt
        if "proof sketch" in text:
            return [SKETCH if "s0_neg" not in text else "  exact undefined_neg\n```"]
        if "theorem lemma_" not in text:
            return ["  exact undefined_whole\n```"]
        ok = negation_ok if "_neg" in text else lemma_ok
        return ["  omega\n```" if ok else "  omega -- fake:fail\n```"]
    return script


def _prove(lean_cfg, pool=None, sides=(Side.STATEMENT,), **cfg):
    results, sent = [], []
    generator = ScriptedGenerator(_script(**cfg.pop("script", {})))
    with Verifier(lean_cfg, MemoryCache()) as verifier:
        def check(header, goal, proof):
            sent.append((goal, proof))
            return verifier.check(header, goal, proof)

        config = ProverConfig(**({"strategy": ["decompose"], "sketches": 1, "lemma_samples": 1} | cfg))
        prove_pass([statement(0)], {}, list(sides), config, 0, 1, generator, check, 1, results.extend,
                   sketch=verifier.sketch, lemmas=pool)
    return results[0], sent


def test_two_subgoals_proved_apart_and_the_assembled_proof_checked_whole(lean_cfg):
    result, sent = _prove(lean_cfg)
    sketch, *lemmas, whole = result.attempts
    assert sketch.sampling["kind"] == "sketch" and sketch.verdict is VerdictStatus.INCOMPLETE
    assert sketch.statement_id == result.statement.id and sketch.strategy == "decompose"
    proved = [a for a in lemmas if a.verdict is VerdictStatus.PROVED]
    assert len(proved) == 2 and {a.statement_id for a in proved} == {d.id for d in result.derived}
    assert all(a.parent == sketch.id for a in lemmas) and all(a.statement_id != sketch.statement_id for a in lemmas)
    assert whole.sampling["kind"] == "assembled" and whole.parent == sketch.id
    assert whole.verdict is VerdictStatus.PROVED and result.side is Side.STATEMENT
    assert result.proof.attempt_id == whole.id and "sorry" not in whole.proof and whole.proof.count("omega") == 2
    assert sent[-1][1] == whole.proof and "theorem s0 " in sent[-1][0]  # the whole, against the side's own goal
    assert [(f.side, f.source_side) for f in result.lemmas] == [(Side.STATEMENT, Side.STATEMENT)] * 2
    # the first subgoal is in the second's context, as a binder; each lemma named from the lemma alone
    assert sum("(h1 : 0 < x + 1)" in d.text for d in result.derived) == 1
    assert all(d.name == lemma_name(d.header, d.preamble, d.text) for d in result.derived)


def test_a_proved_negation_of_a_subgoal_kills_its_sketch(lean_cfg):
    result, _ = _prove(lean_cfg, script={"lemma_ok": False, "negation_ok": True}, lemma_strategy=["repair"],
                       repair_turns=3)
    assert result.side is None and result.proof is None
    assert not any(a.sampling.get("kind") == "assembled" for a in result.attempts)
    assert {f.side for f in result.lemmas} == {Side.NEGATION}
    # the failed answers would be revised three times (repair), but the sketch is dead: at most the revision
    # asked while the negation was being checked comes back
    assert max(a.turn for a in result.attempts) <= 1 and {a.strategy for a in result.attempts} == {"decompose", "repair"}


def test_the_lemma_pool_answers_a_repeated_subgoal_without_a_lean_check(lean_cfg):
    first, _ = _prove(lean_cfg)
    st = first.statement
    pool = Pool({lemma_sha256(st.header, st.preamble, d.text): "by\n  omega" for d in first.derived})
    again, sent = _prove(lean_cfg, pool=pool)
    assert pool.hits == 2 and again.side is Side.STATEMENT
    assert [a.sampling["kind"] for a in again.attempts] == ["sketch", "assembled"] and len(sent) == 1


@pytest.mark.parametrize("budget, kinds", [(1, ["sketch"]), (3, ["sketch", None, None])])
def test_budgets_stop_decompose_where_they_say(lean_cfg, budget, kinds):
    result, _ = _prove(lean_cfg, budget_checks=budget)
    assert [a.sampling.get("kind") for a in result.attempts] == kinds and result.side is None


@pytest.mark.postgres
def test_lemmas_and_derived_statements_are_stored_with_their_lineage(store, lean_cfg, tmp_path, monkeypatch):
    from sqlalchemy import text

    from db import statements as dbst
    from db.export import export_dataset
    from db.lemmas import pool
    from db.proofs import save_results
    from flywheel.lean.text.statements import normalize_statement

    result, _ = _prove(lean_cfg)
    src = result.statement
    with store.session() as s:
        dbst.insert_statements(s, [src])
    with store.session() as s:
        save_results(s, [result], 1)
    with store.read_only() as conn:
        derived = conn.execute(text("SELECT id, round, status, derived_from FROM statements WHERE derived_from IS NOT NULL"
                                    " ORDER BY name")).all()
        lemmas = conn.execute(text("SELECT l.side, l.source_statement_id, a.parent_id, p.attempt_key, l.round FROM lemmas l"
                                   " JOIN proof_attempts a ON a.id = l.attempt_id"
                                   " JOIN proof_attempts p ON p.id = a.parent_id")).all()
        whole = conn.execute(text("SELECT p.attempt_key FROM proofs pr JOIN proof_attempts a ON a.id = pr.attempt_id"
                                  " JOIN proof_attempts p ON p.id = a.parent_id WHERE pr.statement_id = :id"),
                             {"id": src.id}).scalar_one()
    assert [(r.round, r.status, r.derived_from) for r in derived] == [(2, "proved", src.id)] * 2
    sketch_key = result.attempts[0].id
    assert [(r.side, r.source_statement_id, r.attempt_key, r.round) for r in lemmas] == [("statement", src.id, sketch_key, 1)] * 2
    assert whole == sketch_key  # sketch -> lemmas -> assembled proof
    with store.session() as s:
        assert len(pool(s)) == 2
    # the lemmas of a benchmark's statement leave with it under --exclude-benchmarks
    with store.session() as s:
        audit_all(s)
    counts = export_dataset(store, tmp_path / "all", exclude_benchmarks=())["counts"]
    assert counts["total"] == 3
    monkeypatch.setattr("db.export.normalized_forms", lambda names: {normalize_statement(src.text)})
    counts = export_dataset(store, tmp_path / "clean", exclude_benchmarks=("minif2f",))["counts"]
    assert counts["total"] == 0 and counts["excluded_benchmark"] == 3
    # multi-turn export: the assembled proof is no revision of its sketch, so it leaves as a single exchange

    import json

    manifest = export_dataset(store, tmp_path / "turns", exclude_benchmarks=(), style="messages", turns="all")
    rows = [json.loads(x) for x in (tmp_path / "turns" / "train.jsonl").read_text().splitlines()]
    assert manifest["counts"]["repaired"] == 0 and {len(r["messages"]) for r in rows} == {2}


def test_a_lemma_whose_negation_fails_first_still_completes_its_sketch(lean_cfg):
    """Checks finish in any order: a lemma's negation failing while its statement side is still being checked
    does not end the sketch (it did, so on Ray workers the assembled proof was never asked)."""
    import time

    results = []
    with Verifier(lean_cfg, MemoryCache()) as verifier:
        def check(header, goal, proof):
            if "_neg" not in goal.split(":", 1)[0] and "lemma_" in goal:
                time.sleep(0.5)  # the statement sides of the lemmas answer last
            return verifier.check(header, goal, proof)

        config = ProverConfig(strategy=["decompose"], sketches=1, lemma_samples=1)
        prove_pass([statement(0)], {}, [Side.STATEMENT], config, 0, 1, ScriptedGenerator(_script()), check, 4,
                   results.extend, sketch=verifier.sketch)
    (result,) = results
    assert result.side is Side.STATEMENT and result.attempts[-1].sampling["kind"] == "assembled"


def _rows_with(lean_cfg, slow: str, lemma_samples: int = 2):
    """Both sides of every lemma provable (the fake REPL proves what it is given); `slow` ("statement" or
    "negation") names the lemma side whose checks answer last, on 4 Lean workers."""
    import time

    results = []
    with Verifier(lean_cfg, MemoryCache()) as verifier:
        def check(header, goal, proof):
            if "lemma_" in goal and ("_neg" in goal.split(":", 1)[0]) == (slow == "negation"):
                time.sleep(0.4)
            return verifier.check(header, goal, proof)

        config = ProverConfig(strategy=["decompose"], sketches=1, lemma_samples=lemma_samples)
        prove_pass([statement(0)], {}, [Side.STATEMENT], config, 0, 1,
                   ScriptedGenerator(_script(lemma_ok=True, negation_ok=True)), check, 4, results.extend,
                   sketch=verifier.sketch)
    (result,) = results
    return result, [(a.id, a.statement_id, a.side, a.verdict, a.sampling.get("kind")) for a in result.attempts]


def test_a_lemma_decided_in_canonical_order_whichever_side_answers_first(lean_cfg):
    """A lemma's statement side comes before its negation at the same place of the lemma strategy, so with
    both provable the lemma is proved, and the stored rows are the same whether the statement side answers
    last or first (the kill was applied as the negation's check arrived: killed one way, proved the other)."""
    slow_statement, rows = _rows_with(lean_cfg, "statement")
    slow_negation, again = _rows_with(lean_cfg, "negation")
    assert rows == again
    assert slow_statement.side is Side.STATEMENT and rows[-1][3] is VerdictStatus.PROVED and rows[-1][4] == "assembled"
    # the negations' checks were made, but past the proof that decided their lemma: no part of the outcome
    assert all(side is Side.STATEMENT for _, _, side, _, _ in rows)
    assert {f.side for f in slow_statement.lemmas} == {Side.STATEMENT}


def test_a_lemma_negation_is_false_whenever_the_lemma_is_true(lean_cfg):
    """The negation side of a lemma is `¬ (∀ binders, concl)` whatever prover.negation_form says (with the
    hole's context contradictory `ctx ⊢ ¬ concl` is provable: test_lean2021 shows it on the real Lean)."""
    sent = []
    with Verifier(lean_cfg, MemoryCache()) as verifier:
        def check(header, goal, proof):
            sent.append(goal)
            return verifier.check(header, goal, proof)

        config = ProverConfig(strategy=["decompose"], sketches=1, lemma_samples=1, negation_form="hyps")
        prove_pass([statement(0)], {}, [Side.STATEMENT], config, 0, 1, ScriptedGenerator(_script()), check, 1,
                   [].extend, sketch=verifier.sketch)
    negations = [g for g in sent if "_neg" in g.split(":", 1)[0]]
    assert len(negations) == 2
    flat = [" ".join(g.split(":", 1)[1].split()) for g in negations]
    assert flat == ["¬ (∀ (x : ℕ) (h : x = 0), 0 < x + 1) := by sorry",
                    "¬ (∀ (x : ℕ) (h : x = 0) (h1 : 0 < x + 1), x + 1 = 1) := by sorry"]


def test_spending_counts_what_a_serial_run_spends_not_the_negation_checked_beside_it(lean_cfg):
    """Both sides of each lemma come back in one batch, so each lemma's negation is checked beside its statement
    side; once the statement side proves, that negation check is wasted: the attempt's stored spending counts
    the sketch, each lemma's statement side and the whole (4), however many checks were sent."""
    result, sent = _prove(lean_cfg)
    lemma_negations = [goal for goal, _ in sent if "lemma_" in goal and "¬" in goal]
    assert lemma_negations, sent  # the race happened: the negation checks went to Lean
    assert result.spent == {(0, 0): [4, result.spent[(0, 0)][1]]} and result.spent[(0, 0)][1] > 0
    assert sum(1 for a in result.attempts if a.sampling.get("kind") not in ("sketch", "assembled")) == 2
