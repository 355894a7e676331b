"""Every proving strategy from the command line: `flywheel run` (serial and on local Ray Lean workers) and
`flywheel eval` with prover.strategy repair, decompose and rmaxts store their attempts with their lineage."""

import json

import pytest
import yaml
from sqlalchemy import create_engine, text

from orchestration.cli import main
from tests.doubles import OpenAIServer
from tests.test_round import _config, _ingest, model_server  # noqa: F401  (a fixture)

FAIL = "  omega -- fake:error=omega could not prove the goal\n```"


def _attempts(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(text("SELECT strategy, turn, parent_id IS NOT NULL, sampling->>'kind', search IS NOT NULL"
                              " FROM proof_attempts WHERE side <> 'false_hyps'")).all()
    engine.dispose()
    return rows


@pytest.mark.parametrize("strategy, workers", [("repair", 1), ("decompose", 1), ("rmaxts", 1), ("rmaxts", 2)])
def test_a_round_runs_each_strategy(store, pg_url, tmp_path, model_server, fake_repl, monkeypatch, strategy, workers):
    _ingest(pg_url, monkeypatch)
    prover = {"strategy": [strategy], "passes": 1, "repair_turns": 1, "sketches": 1, "lemma_samples": 1,
              "rmaxts": {"rollouts": 3, "in_flight": 2}}
    cfg = _config(tmp_path, model_server, fake_repl, **prover)
    assert main(["--config", cfg, "run", "--rounds", "1", "--workers", str(workers),
                 "--out", str(tmp_path / "runs")]) == 0
    rows = _attempts(pg_url)
    assert rows and {r[0] for r in rows} == {strategy}
    if strategy == "repair":  # every failed first answer revised once, naming its parent
        assert any(turn == 1 and parent for _s, turn, parent, *_ in rows)
    if strategy == "decompose":  # the model writes no sorry: each sketch is refused and stored as such
        assert {kind for *_, kind, _search in rows} == {"sketch"}
    if strategy == "rmaxts":
        assert all(search for *_, search in rows)
    engine = create_engine(pg_url)
    with engine.connect() as c:
        stages = c.execute(text("SELECT stages FROM rounds WHERE number = 1")).scalar_one()
    engine.dispose()
    assert stages["prove"]["state"] == "done" and stages["export"]["state"] == "done"


@pytest.mark.parametrize("strategy", ["repair", "decompose", "rmaxts"])
def test_eval_takes_a_strategy(store, tmp_path, fake_repl, monkeypatch, strategy):
    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")

    def respond(prompt, i):
        if "sketch" in prompt:
            return "  have h1 : 1 = 1 := by sorry\n  norm_num\n```"
        return FAIL if "does not check" not in prompt and "tactic state" not in prompt else "  norm_num\n```"

    cfg = tmp_path / "eval.yaml"
    with OpenAIServer(respond) as server:
        cfg.write_text(yaml.safe_dump({
            "generator": {"backend": "openai", "model": "scripted", "base_url": server.url},
            "lean": {"repl": fake_repl, "timeout_s": 10},
            "prover": {"strategy": [strategy], "repair_turns": 1, "sketches": 1, "lemma_samples": 1,
                       "rmaxts": {"rollouts": 2, "in_flight": 1}}}))
        out = tmp_path / "eval.json"
        assert main(["--config", str(cfg), "eval", "--benchmark", "minif2f", "--split", "valid", "--n", "2",
                     "--k", "1,2", "--limit", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["problems"]) == 2 and all(p["n"] == 2 for p in data["problems"])
    with store.read_only() as conn:
        strategies = {r[0] for r in conn.execute(text("SELECT strategy FROM eval_attempts"))}
    assert strategies == {strategy}


@pytest.mark.parametrize("strategy, checks", [("sample", 1), ("repair", 1), ("decompose", 3), ("rmaxts", 1)])
def test_eval_counts_independent_attempts_at_their_budget(store, tmp_path, fake_repl, monkeypatch, capsys,
                                                          strategy, checks):
    """With a generator that always proves, every attempt proves: pass@1 is 1 for each strategy (one tree,
    one sketch with its lemmas, one chain, one sample), and each attempt's spending is stored with it: a serial
    run's, whatever order answers come in (decompose: the sketch, its lemma's statement side, the assembled proof;
    the lemma's negation, checked beside its statement side, is wasted once the statement side proves)."""
    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")

    def respond(prompt, i):
        if "sketch" in prompt:
            return "  have h1 : 1 = 1 := by sorry\n  norm_num\n```"
        return FAIL if "_neg" in prompt else "  norm_num\n```"  # a lemma's negation never proves

    cfg = tmp_path / "eval.yaml"
    with OpenAIServer(respond) as server:
        cfg.write_text(yaml.safe_dump({
            "generator": {"backend": "openai", "model": "scripted", "base_url": server.url},
            "lean": {"repl": fake_repl, "timeout_s": 10},
            "prover": {"strategy": [strategy], "repair_turns": 1, "sketches": 3, "lemma_samples": 1,
                       "rmaxts": {"rollouts": 4, "in_flight": 1}}}))
        out = tmp_path / "eval.json"
        assert main(["--config", str(cfg), "eval", "--benchmark", "minif2f", "--split", "valid", "--n", "4",
                     "--k", "1,4", "--limit", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["pass_at_k"] == {"1": 1.0, "4": 1.0}
    assert [p["correct"] for p in data["problems"]] == [4, 4]
    assert all([(a["checks"], a["proved"]) for a in p["spent"]] == [(checks, True)] * 4 and
               all(a["tokens"] > 0 for a in p["spent"]) for p in data["problems"])
    b = data["budgets"]
    assert b["strategy"] == strategy and b["checks_per_attempt"] == checks
    assert [(c["k"], c["pass"], c["checks"]) for c in b["curve"]] == [(1, 1.0, checks), (4, 1.0, 4 * checks)]
    assert f"an attempt spent {checks:.2f} Lean checks" in capsys.readouterr().out
    with store.read_only() as conn:
        attempts = conn.execute(text("SELECT problem, count(DISTINCT attempt) FROM eval_attempts GROUP BY 1")).all()
        budgets = conn.execute(text("SELECT budgets FROM evaluations")).scalar_one()
    assert [n for _, n in attempts] == [4, 4] and budgets == b


def test_a_decompose_round_shares_a_lemma_within_a_pass_and_counts_it(store, pg_url, tmp_path, fake_repl,
                                                                       monkeypatch):
    """Both sides of a statement sketch the same lemma (`⊢ 0 < 1` under its hypotheses): the prove stage asks
    for it once for the two, and its counts say how many requests and checks were shared."""
    from tests import round_model

    asked = []

    def respond(prompt, i):
        decl = "\n".join(prompt.rsplit(":= by\n", 1)[0].rsplit("\n", 2)[-2:])
        if "proof sketch" in prompt:  # the hypotheses stage's sketch has no sorry: refused
            return FAIL if decl.rstrip().endswith("False") else "  have h1 : 0 < 1 := sorry\n  omega\n```"
        if "theorem lemma_" in decl:
            asked.append(prompt)
            return FAIL if "_neg" in decl else "  omega\n```"
        return round_model.respond(prompt, i)

    _ingest(pg_url, monkeypatch)
    with OpenAIServer(respond) as server:
        cfg = _config(tmp_path, server, fake_repl, strategy=["decompose"], passes=1, sketches=1, lemma_samples=1,
                      lemma_examples=1)
        assert main(["--config", cfg, "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
    assert asked and len(asked) == len(set(asked)) <= 40  # a statement's lemma and its negation, at most once each
    engine = create_engine(pg_url)
    with engine.connect() as c:
        prove = c.execute(text("SELECT stages->'prove'->'counts'->'outcomes' FROM rounds WHERE number = 1"))
        prove = prove.scalar_one()
    engine.dispose()
    assert prove["proved: statement"] == 20 and prove["lemma requests shared in pass"] > 0
    assert prove["lemma pool hits"] == prove["lemma near-match prompts"] == 0  # the pool was empty before the pass
