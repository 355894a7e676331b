"""Ingest of the shared files without editing them; idempotence; every kind of bad line."""

import json

import pytest
from sqlalchemy import text

from orchestration.cli import main

pytestmark = pytest.mark.postgres


def _count(store, where="1=1"):
    with store.engine.connect() as c:
        return c.execute(text(f"SELECT count(*) FROM problems WHERE {where}")).scalar()


def test_the_three_shared_files(store, shared_data, capsys):
    assert main(["ingest", str(shared_data / "informal/math500.jsonl"), "--source", "math500",
                 "--map", "informal=problem", "--map", "answer=answer", "--map", "id=unique_id"]) == 0
    assert "read 500, new 500, duplicate 0, rejected 0" in capsys.readouterr().out
    assert main(["ingest", str(shared_data / "informal/gsm8k_test.jsonl"), "--source", "gsm8k",
                 "--map", "informal=question"]) == 0
    out = capsys.readouterr().out
    assert "read 1319, new 1319" in out or "read 1319, new 13" in out
    assert main(["ingest", str(shared_data / "minif2f/minif2f.jsonl"), "--source", "minif2f",
                 "--map", "informal=informal_prefix", "--map", "id=name"]) == 0
    assert "read 488, new 488" in capsys.readouterr().out
    with store.engine.connect() as c:
        gsm = c.execute(text("SELECT answer, metadata->>'solution' FROM problems WHERE source='gsm8k' LIMIT 1")).one()
        mini = c.execute(text("SELECT informal, external_id, metadata FROM problems WHERE source='minif2f' "
                              "AND external_id='mathd_algebra_478'")).one()
    assert gsm[0].strip().lstrip("-").replace(",", "").isdigit() and "####" in gsm[1]
    assert not mini[0].startswith("/--") and "formal_statement" in mini[2] and mini[2]["split"] in ("valid", "test")


def test_reingest_adds_nothing(store, shared_data, capsys):
    path = str(shared_data / "informal/math500.jsonl")
    main(["ingest", path, "--source", "math500"])
    capsys.readouterr()
    assert main(["ingest", path, "--source", "math500"]) == 0
    assert "read 500, new 0, duplicate 500, rejected 0" in capsys.readouterr().out
    assert _count(store) == 500


def test_bad_lines_are_named_and_good_lines_stored(store, tmp_path, capsys):
    main(["ingest", str(_write(tmp_path / "first.jsonl", [{"problem": "Kept from before."}])), "--source", "t"])
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        json.dumps({"problem": "What is 1 + 1?", "answer": 2}).encode() + b"\n"
        b"{this is not json\n"
        + json.dumps({"question_text": "no informal field"}).encode() + b"\n"
        + json.dumps({"problem": ["a", "list"]}).encode() + b"\n"
        + json.dumps({"problem": "ok", "answer": {"x": 1}}).encode() + b"\n"
        b'{"problem": "caf\xe9"}\n'
        b"[1, 2, 3]\n"
        + json.dumps({"problem": "Prove that 3 is odd."}).encode() + b"\n"
    )
    capsys.readouterr()
    assert main(["ingest", str(path), "--source", "t"]) == 1
    captured = capsys.readouterr()
    for line, why in [(2, "bad JSON"), (3, "missing field"), (4, "must be text"), (5, "must be text or a number"),
                      (6, "not UTF-8"), (7, "expected a JSON object")]:
        reported = [x for x in captured.err.splitlines() if x.startswith(f"{path}:{line}: ")]
        assert len(reported) == 1 and why in reported[0], (line, captured.err)
    assert "read 8, new 2, duplicate 0, rejected 6" in captured.out
    assert _count(store, "source='t'") == 3  # nothing stored before was lost


def test_empty_file_and_json_array(store, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["ingest", str(empty), "--source", "t"]) == 1
    assert f"{empty}:1: empty file" in capsys.readouterr().err
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([{"question": "Q1", "id": 7}, {"question": "Q2", "id": 8}], indent=1))
    assert main(["ingest", str(arr), "--source", "arr"]) == 0
    with store.engine.connect() as c:
        assert sorted(c.execute(text("SELECT external_id FROM problems WHERE source='arr'")).scalars()) == ["7", "8"]


def test_bad_map_is_a_usage_error(store, tmp_path):
    path = _write(tmp_path / "x.jsonl", [{"problem": "p"}])
    assert main(["ingest", str(path), "--source", "t", "--map", "informal"]) == 2
    assert main(["ingest", str(path), "--source", "t", "--map", "informal=nope"]) == 1


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_text_the_store_refuses_costs_only_its_line(store, tmp_path, capsys):
    path = tmp_path / "nul.jsonl"
    path.write_text(
        json.dumps({"problem": "Good one.", "id": "a"}) + "\n"
        + '{"problem": "Bad \\u0000 one.", "id": "b"}\n'
        + '{"problem": "Lone \\ud800 surrogate.", "id": "c"}\n'
        + '{"problem": "Bad id.", "id": "d\\u0000"}\n'
        + '{"problem": "Odd metadata.", "id": "e", "note": "x\\u0000y", "score": NaN}\n'
        + json.dumps({"problem": "Good two.", "id": "f"}) + "\n"
    )
    capsys.readouterr()
    assert main(["ingest", str(path), "--source", "nul", "--map", "id=id"]) == 1
    captured = capsys.readouterr()
    for line, field in ((2, "'problem' holds U+0000"), (3, "'problem' holds U+D800"), (4, "'id' holds U+0000")):
        assert f"{path}:{line}: field {field}" in captured.err, captured.err
    assert "read 6, new 3, duplicate 0, rejected 3" in captured.out
    with store.engine.connect() as c:
        stored = dict(c.execute(text("SELECT external_id, metadata FROM problems WHERE source='nul'")).all())
    assert sorted(stored) == ["a", "e", "f"]
    assert stored["e"] == {"note": "x\\u0000y", "score": "nan"}  # kept, escaped where jsonb refuses


def test_a_batch_the_store_refuses_is_stored_record_by_record(store, tmp_path, monkeypatch):
    """Whatever else the store refuses (here: one row forced to fail) is named FILE:LINE; the batch is kept."""
    from db import ingest

    real = ingest.write_problems

    def refuse_poison(st, problems):
        if any(p.informal == "Poison." for p in problems):
            from sqlalchemy.exc import DataError

            raise DataError("INSERT", {}, Exception("invalid input syntax"))
        return real(st, problems)

    monkeypatch.setattr(ingest, "write_problems", refuse_poison)
    path = _write(tmp_path / "p.jsonl", [{"problem": "One."}, {"problem": "Poison."}, {"problem": "Two."}])
    report = ingest.ingest_file(store, path, "poison", ingest.FieldMap())
    assert (report.new, report.duplicate) == (2, 0)
    assert [str(r) for r in report.rejected] == [f"{path}:2: the store refused it: invalid input syntax"]


def test_a_known_id_with_changed_text_is_reported(store, tmp_path, capsys):
    main(["ingest", str(_write(tmp_path / "v1.jsonl", [{"problem": "What is 2 + 2?", "id": "q1"}])), "--source", "v"])
    path = _write(tmp_path / "v2.jsonl", [{"problem": "What is 2 + 2?", "id": "q1"}, {"problem": "What is 2 + 3?", "id": "q1"},
                                          {"problem": "New.", "id": "q2"}, {"problem": "Newer.", "id": "q2"}])
    capsys.readouterr()
    assert main(["ingest", str(path), "--source", "v"]) == 0
    captured = capsys.readouterr()
    for line, ext in ((2, "q1"), (4, "q2")):
        assert f"{path}:{line}: id '{ext}' was stored before with other text" in captured.err, captured.err
    assert "new 3, duplicate 1, rejected 0, changed text for a known id 2" in captured.out


def test_a_terminal_sees_the_ingest_progress(store, pg_url, tmp_path):
    import os
    import sys

    from tests.conftest import REPO
    from tests.terminal import stderr_on_terminal

    path = _write(tmp_path / "many.jsonl", [{"problem": f"Problem {i}."} for i in range(50)])
    code, seen = stderr_on_terminal([sys.executable, "-m", "orchestration.cli", "ingest", str(path), "--source", "bar"],
                                    dict(os.environ, FLYWHEEL_DB_URL=pg_url, PYTHONPATH=str(REPO)), REPO, 60)
    assert code == 0 and "ingest:" in seen and "/50 " in seen and "record" in seen, seen[-500:]
