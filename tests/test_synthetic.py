"""The synthetic formal benchmark (flywheel/synthetic.py): deterministic, split, written by `flywheel synth`;
on the real Lean 4 of 2021 (core only) every reference proof checks, and each one-word tactic closes exactly
the families it should, so a policy has to read the statement to choose."""

import json
from collections import Counter

import pytest

from flywheel.records import VerdictStatus as V
from flywheel.synthetic import FAMILIES, HELD_OUT, ONE_WORD_CLOSES, PER_FAMILY, generate, vocabulary
from orchestration.cli import main


def test_generated_alike_every_time_split_and_interleaved():
    items = generate()
    assert items == generate()
    assert len({it.name for it in items}) == len(items) == len(FAMILIES) * PER_FAMILY
    assert len({it.formal_statement.split(" ", 2)[2] for it in items}) == len(items)  # no statement twice
    counts = Counter((it.split, it.family) for it in items)
    assert counts == {**{("test", f): HELD_OUT for f in FAMILIES}, **{("train", f): PER_FAMILY - HELD_OUT for f in FAMILIES}}
    assert [it.family for it in items[: len(FAMILIES)]] == list(FAMILIES)  # the test split's first problems cover all
    assert generate(seed=1) != items
    words = vocabulary(items)
    assert {"rfl", "decide", "simp", "exact", "Nat.add_comm", "induction", "=>", "≠", "List.map"} <= set(words)
    assert not any(w.isdigit() for w in words)


def test_synth_command_writes_what_ingest_and_eval_read(tmp_path, capsys):
    from flywheel.benchmarks import load_benchmark

    assert main(["synth", "--out", str(tmp_path / "syn")]) == 0
    out = capsys.readouterr().out
    assert "train.jsonl: 150 statements (rfl 30, decide 30, simp 30, lemma 30, induction 30)" in out, out
    rows = {split: [json.loads(x) for x in (tmp_path / "syn" / f"{split}.jsonl").read_text().splitlines()]
            for split in ("train", "test")}
    assert [r["name"] for r in rows["test"] + rows["train"]] == [it.name for it in generate()]
    assert set(rows["train"][0]) == {"name", "family", "split", "formal_statement", "proof", "header"}
    held_out = [it.name for it in load_benchmark("synthetic") if it.split == "test"]
    assert held_out == [r["name"] for r in rows["test"]]  # eval.benchmark synthetic is this test split


@pytest.mark.lean
def test_every_reference_proof_checks_on_real_lean_and_tactics_close_their_families(real_lean_cfg):
    from flywheel.lean.guard.verifier import Verifier

    items = generate()
    test = [it for it in items if it.split == "test"][: 5 * len(FAMILIES)]  # five of each family
    with Verifier(real_lean_cfg) as v:
        refused = [(it.name, r.reason) for it in items
                   if (r := v.check(it.header, it.formal_statement, it.proof)).status is not V.PROVED]
        mixed = []
        for it in test:
            for tactic in ("rfl", "decide", "simp"):
                got = v.check(it.header, it.formal_statement, f"by {tactic}").status
                assert got in (V.PROVED, V.FAILED), (it.name, tactic, got)
                if (got is V.PROVED) != (tactic in ONE_WORD_CLOSES[it.family]):
                    mixed.append((it.name, tactic, got.value))
    assert refused == []  # all 200 reference proofs, on the real kernel
    assert mixed == [], mixed


def test_the_fake_repl_rule_agrees_with_what_real_lean_was_checked_to_do(lean_cfg, monkeypatch):
    """FAKE_REPL_SYNTHETIC: the reference proof and the family's one-word tactics prove; anything else fails."""
    from flywheel.lean.guard.verifier import Verifier

    monkeypatch.setenv("FAKE_REPL_SYNTHETIC", "1")
    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    test = [it for it in generate() if it.split == "test"][: len(FAMILIES)]
    with Verifier(lean_cfg) as v:
        for it in test:
            assert v.check(it.header, it.formal_statement, it.proof).status is V.PROVED, it
            for tactic in ("rfl", "decide", "simp", "exact Nat.add_comm a b"):
                want = V.PROVED if tactic in ONE_WORD_CLOSES[it.family] or f"by {tactic}" == it.proof else V.FAILED
                assert v.check(it.header, it.formal_statement, f"by {tactic}").status is want, (it.name, tactic)


@pytest.mark.lean
def test_bench_strategies_compares_sample_and_repair_at_equal_budget_on_real_lean(real_lean_cfg):
    """bench.strategies' real-Lean part on ten held-out statements: each strategy spends at most its budget of
    Lean checks a statement, and repair (whose chain shows the guesser what Lean refused) proves at least what
    independent samples do at the same budget."""
    from bench.strategies import _statements, guesser, run
    from flywheel.lean.guard.verifier import Verifier
    from tests.doubles import ScriptedGenerator

    items = [it for it in generate() if it.split == "test"][:10]
    with Verifier(real_lean_cfg) as v:
        got = {s: run(s, 4, _statements(items), v, ScriptedGenerator(guesser)) for s in ("sample", "repair")}
    assert all(0 < r["checks"] <= 4 * len(items) and r["tokens"] > 0 for r in got.values()), got
    assert 0 < got["sample"]["proved"] <= got["repair"]["proved"], got
