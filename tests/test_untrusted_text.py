"""Text from models and files that PostgreSQL refuses (NUL, lone surrogates, NaN in jsonb) is stored escaped
at every boundary, and never stops a round."""

import json
import math

import pytest
import yaml
from sqlalchemy import create_engine, text

from flywheel.text import refused_character, storable, storable_json


def test_storable_escapes_only_what_postgres_refuses():
    assert storable("∀ n, n = n\t\n") == "∀ n, n = n\t\n"
    assert storable("a\x00b\ud800c\udfff") == "a\\u0000b\\ud800c\\udfff"
    assert storable({"k\x00": ["x\x00", 1.5, float("inf"), None, {"n": float("nan")}]}) == \
        {"k\\u0000": ["x\\u0000", 1.5, "inf", None, {"n": "nan"}]}
    assert refused_character("ok\nthen \x00") == "U+0000 at line 2, column 6"
    assert refused_character("fine ∑") is None
    assert json.loads(storable_json({"b": "\x00", "a": math.nan})) == {"a": "nan", "b": "\\u0000"}
    assert storable_json({"b": 1, "a": "∀"}) == '{"a": "∀", "b": 1}'  # sorted keys, UTF-8 kept


@pytest.mark.postgres
def test_every_writer_stores_what_postgres_refuses(store):
    """Statements, attempts (the small INSERT and the COPY path), proofs and cached verdicts."""
    from db import bulk
    from db import proofs as dbproofs
    from db import statements as dbst
    from db.verdict_cache import StoreCache
    from flywheel.lean.guard.verdicts import Verdict
    from flywheel.records import ProofAttempt, Side, Statement, StatementStatus, VerdictStatus

    bad = "exact h\x00 \ud83d"
    st = Statement("s" * 64, None, 1, "import Mathlib\n", "theorem t : 1 = 1\x00 := by sorry", "t", "h" * 64,
                   origin_model="m\x00", grade_rationale="r\ud800")
    with store.session() as s:
        assert dbst.insert_statements(s, [st]) == 1
    attempts = [ProofAttempt(f"{i:064d}", st.id, Side.STATEMENT, 1, "m", {"seed": i, "note": "\x00"}, bad, "c" * 64,
                             VerdictStatus.REJECTED, "banned\x00", [{"data": "x\x00\ud800", "v": math.nan}])
                for i in range(bulk.SMALL + 5)]
    with store.session() as s:
        assert bulk.write_attempts(s, attempts[:3]) == 3  # one INSERT
        assert bulk.write_attempts(s, attempts) == bulk.SMALL + 2  # COPY, then the stage for the stored three

    class Unit:  # what the prover loop hands to save_results
        proof = None

    Unit.attempts = []
    with store.session() as s:
        dbproofs.save_results(s, [Unit()], 1)
    cache = StoreCache(store)
    cache.put("k" * 64, "tc", Verdict(VerdictStatus.FAILED, "why\x00", [{"data": "msg \x00 \udc00"}], []))
    cache.close()
    with store.engine.connect() as c:
        row = c.execute(text("SELECT status, drop_reason, drop_detail, text, origin_model, grade_rationale "
                             "FROM statements")).one()
        att = c.execute(text("SELECT proof, reason, messages, sampling FROM proof_attempts ORDER BY id LIMIT 1")).one()
        cached = c.execute(text("SELECT reason, messages FROM verdict_cache")).one()
    # A candidate whose Lean text had to be escaped is no statement to prove: dropped, the reason named.
    assert row[:2] == (StatementStatus.DROPPED.value, "unparsable") and "U+0000 at line 1, column 18" in row[2]
    assert row[3:] == ("theorem t : 1 = 1\\u0000 := by sorry", "m\\u0000", "r\\ud800")
    assert att[0] == "exact h\\u0000 \\ud83d" and att[1] == "banned\\u0000"
    assert att[2] == [{"data": "x\\u0000\\ud800", "v": "nan"}] and att[3]["note"] == "\\u0000"
    assert cached == ("why\\u0000", [{"data": "msg \\u0000 \\udc00"}])


def _poison(text: str, k: int) -> str:
    """NUL or a lone surrogate, by k, inside the first line of a statement's or proof's Lean code."""
    mark = "\x00" if k % 2 == 0 else "\ud800"
    head, sep, rest = text.partition("\n")
    return head.replace(")", f"{mark})", 1) + sep + rest if ")" in head else head + f" {mark}" + sep + rest


def _poisoned(corrupt_statements: set[int]):
    """The round model (tests/round_model.py) with NUL and lone surrogates in the statements of problems
    `corrupt_statements` and in every first proof sample; the grader's rationale holds NUL too. Served as
    JSON, so a surrogate arrives as a JSON decoder makes it from "\\ud800"."""
    from tests.round_model import _index, respond

    def poisoned(prompt: str, i: int) -> str:
        said = respond(prompt, i)
        if "You are grading" in prompt:
            return said.replace("so 2n", "so\x00 2n")
        if "Translate the problem to Lean 4" in prompt:
            k = _index(prompt)
            return _poison(said, k) if k in corrupt_statements else said
        return _poison(said, i) if i == 0 else said

    return poisoned


@pytest.mark.postgres
def test_a_model_writing_nul_and_surrogates_never_stops_a_round(store, pg_url, tmp_path, fake_repl, monkeypatch, capsys,
                                                                 request):
    from orchestration.cli import main
    from tests.doubles import OpenAIServer
    from tests.round_model import SAMPLE

    server = OpenAIServer(_poisoned({0, 1, 4, 5}))
    request.addfinalizer(server.close)
    monkeypatch.setenv("FLYWHEEL_DB_URL", pg_url)
    assert main(["ingest", str(SAMPLE), "--source", "sample", "--map", "informal=informal_prefix", "--map", "id=name"]) == 0
    cfg = tmp_path / "round.yaml"
    cfg.write_text(yaml.safe_dump({
        "generator": {"backend": "openai", "model": "scripted", "base_url": server.url, "max_retries": 2},
        "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 1},
        "autoformalize": {"few_shot": 1, "samples": 1},
        "filters": {"decontaminate": False},
        "prover": {"samples_per_side": 2, "passes": 1, "false_hyps_samples": 1},
        "run": {"train": False, "evaluate": False},  # tests/test_round_train.py runs those two stages
    }))
    out = tmp_path / "runs"
    assert main(["--config", str(cfg), "run", "--rounds", "1", "--out", str(out)]) == 0
    engine = create_engine(pg_url)
    with engine.connect() as c:
        dropped = c.execute(text("SELECT text, drop_detail FROM statements WHERE drop_reason = 'unparsable'")).all()
        rejected = c.execute(text(r"SELECT proof, reason FROM proof_attempts WHERE strpos(proof, '\u0000') > 0 "
                                  r"OR strpos(proof, '\ud800') > 0")).all()
        rationale = c.execute(text(r"SELECT count(*) FROM statements WHERE strpos(grade_rationale, 'so\u0000 2n') > 0")).scalar()
        finished = c.execute(text("SELECT finished_at IS NOT NULL FROM rounds")).scalars().all()
    engine.dispose()
    assert finished == [True]
    assert len(dropped) == 4 and all("\\u0000" in t or "\\ud800" in t for t, _ in dropped)
    assert all("which Lean source may not" in d for _, d in dropped)
    assert rejected and all(r.startswith("banned: control character U+") for _, r in rejected)
    assert rationale > 0
    for log in (out / "logs").glob("*.jsonl"):
        assert '"level": "ERROR"' not in log.read_text()
    capsys.readouterr()
    assert main(["--config", str(cfg), "run", "--resume", "--out", str(out)]) == 0
    assert "nothing to resume" in capsys.readouterr().out
