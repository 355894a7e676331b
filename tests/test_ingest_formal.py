"""`flywheel ingest --formal`: Lean statements of a source stored as candidates, every bad line named, and a
round that filters and proves them with no autoformalization, counted apart in the funnel."""

import json
import uuid

import pytest
import yaml
from sqlalchemy import create_engine, text

from orchestration.cli import main
from tests.conftest import HEADER
from tests.doubles import OpenAIServer
from tests.test_round import audit_toolchain  # noqa: F401 (the audit stage's fake toolchain, autouse)

pytestmark = pytest.mark.postgres


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _statements(url):
    engine = create_engine(url)
    with engine.connect() as c:
        rows = c.execute(text("SELECT p.source, p.external_id, p.informal, s.header, s.text, s.status, s.formal, s.round "
                              "FROM statements s JOIN problems p ON p.id = s.problem_id ORDER BY p.external_id")).all()
    engine.dispose()
    return rows


def test_formal_records_become_candidate_statements_and_bad_lines_are_named(store, pg_url, tmp_path, capsys):
    path = _write(tmp_path / "formal.jsonl", [
        {"name": "a1", "formal_statement": "theorem a1 (n : Nat) : n + 0 = n := by sorry",
         "informal_prefix": "/-- Adding zero changes nothing. -/", "split": "train"},
        {"name": "a2", "formal_statement": "theorem a2 : 2 + 2 = 4 := by\n", "header": "import Mathlib\n\nopen Nat\n\n"},
        "{not json",
        {"name": "a4", "statement_text": "theorem a4 : True := trivial"},
        {"name": "a5", "formal_statement": "theorem a5 : 1 = 1 := by sorry", "header": "import Mathlib\n#eval 1\n"},
        {"name": "a6", "formal_statement": "lemma"},
        {"name": "a7", "formal_statement": 7},
        {"name": "a8", "formal_statement": "theorem a8 : 1 = 1 := by sorry\ntheorem b8 : 2 = 2 := by sorry"},
        {"name": "a9", "formal_statement": "theorem a9 (h : 1 = 1 := by native_decide) : 1 = 1 := by sorry"},
    ])
    capsys.readouterr()
    assert main(["ingest", str(path), "--source", "mine", "--formal"]) == 1
    captured = capsys.readouterr()
    for line, why in [(3, "bad JSON"), (4, "missing field 'formal_statement|formal|theorem|lean4_code'"),
                      (5, "field 'header' (the header): banned: #eval"), (6, "field 'formal_statement': unparsable"),
                      (7, "field 'formal_statement' must be a Lean theorem, got int"),
                      (8, "several_theorems: 2 declarations"), (9, "native_decide")]:
        reported = [x for x in captured.err.splitlines() if x.startswith(f"{path}:{line}: ")]
        assert len(reported) == 1 and why in reported[0], (line, captured.err)
    assert "read 9, new formal statements 2, duplicate 0, rejected 7" in captured.out
    rows = _statements(pg_url)
    assert [(r.source, r.external_id, r.status, r.formal, r.round) for r in rows] == [
        ("mine", "a1", "candidate", True, 1), ("mine", "a2", "candidate", True, 1)]
    assert rows[0].informal == "Adding zero changes nothing." and rows[1].informal == ""
    assert rows[0].header == HEADER and rows[1].header == "import Mathlib\n\nopen Nat\n\n"  # lean.header, or the record's
    assert " ".join(rows[0].text.split()).endswith("(n : Nat) : n + 0 = n := by sorry")
    assert " ".join(rows[1].text.split()).endswith(": 2 + 2 = 4 := by sorry")
    capsys.readouterr()
    assert main(["ingest", str(path), "--source", "mine", "--formal"]) == 1  # again: nothing new
    assert "new formal statements 0, duplicate 2" in capsys.readouterr().out
    assert len(_statements(pg_url)) == 2


def test_mapped_fields_and_a_bad_map(store, pg_url, tmp_path, capsys):
    path = _write(tmp_path / "wb.jsonl", [{"uid": "w1", "lean": "theorem w (a b : Nat) : a + b = b + a := by sorry",
                                           "nl": "Addition commutes.", "hdr": "import Mathlib\n"}])
    assert main(["ingest", str(path), "--source", "wb", "--formal", "--map", "formal_statement=lean",
                 "--map", "id=uid", "--map", "informal=nl", "--map", "header=hdr"]) == 0
    rows = _statements(pg_url)
    assert [(r.external_id, r.informal, r.header) for r in rows] == [("w1", "Addition commutes.", "import Mathlib\n")]
    capsys.readouterr()
    assert main(["ingest", str(path), "--source", "wb", "--formal", "--map", "formal_statement=nope"]) == 1
    assert f"{path}:1: missing field 'nope' (the formal statement)" in capsys.readouterr().err
    assert main(["ingest", str(path), "--source", "wb", "--formal", "--map", "formal_statement=lean",
                 "--map", "header=nope"]) == 1
    assert f"{path}:1: missing field 'nope' (--map header=nope)" in capsys.readouterr().err
    assert main(["ingest", str(path), "--source", "wb", "--formal", "--map", "answer=x"]) == 2  # no answer role


def _respond(prompt: str, i: int) -> str:
    assert "Translate the problem to Lean 4" not in prompt and "grading an autoformalization" not in prompt, prompt
    if prompt.rstrip().endswith(": False := by") or "False := by\n" in prompt[-40:]:
        return "  omega -- fake:error=no\n```"  # the hypotheses are consistent
    if "¬" in prompt.rsplit("```lean4", 1)[-1]:
        return "  omega -- fake:error=no\n```"
    return "  rfl\n```"


def test_a_round_proves_formal_statements_without_autoformalizing(store, pg_url, tmp_path, fake_repl, monkeypatch,
                                                                  capsys):
    monkeypatch.setenv("FLYWHEEL_DB_URL", pg_url)
    monkeypatch.setenv("FAKE_REPL_NO_REPLAY", "1")
    informal = _write(tmp_path / "informal.jsonl", [{"problem": "An informal one, never formalized here."}])
    assert main(["ingest", str(informal), "--source", "words"]) == 0
    formal = _write(tmp_path / "f.jsonl", [{"name": f"t{k}", "formal_statement": f"theorem t{k} : {k} + 0 = {k} := by sorry"}
                                           for k in range(3)])
    assert main(["ingest", str(formal), "--source", "formal-src", "--formal"]) == 0
    server = OpenAIServer(_respond)
    try:
        cfg = tmp_path / f"round-{uuid.uuid4().hex[:6]}.yaml"
        cfg.write_text(yaml.safe_dump({
            "generator": {"backend": "openai", "model": "scripted", "base_url": server.url, "max_retries": 2},
            "lean": {"repl": fake_repl, "timeout_s": 10, "workers": 1, "header": ""},
            "prover": {"samples_per_side": 1, "passes": 1, "false_hyps_samples": 1},
            "run": {"train": False, "evaluate": False},
        }))
        # the informal problem's source is left alone, so the round's only statements are the formal ones
        assert main(["--config", str(cfg), "run", "--rounds", "1", "--source", "formal-src",
                     "--out", str(tmp_path / "runs")]) == 0
    finally:
        server.close()
    rows = _statements(pg_url)
    assert sorted((r.external_id, r.status) for r in rows) == [("t0", "proved"), ("t1", "proved"), ("t2", "proved")]
    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    funnel = out.split("funnel:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    head = [c.strip() for c in funnel[0].split("|")]
    row = dict(zip(head, [c.strip() for c in next(x for x in funnel if x.startswith("1 ")).split("|")]))
    assert (row["statements"], row["formal"], row["formal_proved"], row["proved"]) == ("3", "3", "3", "3"), out
