"""Read-only SQL, status, the bulk attempt path, and deterministic export that `datasets` loads."""

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from db.bulk import write_attempts
from db.export import LINEAGE
from db.sql import run_readonly
from flywheel.errors import StoreError
from flywheel.records import Side, VerdictStatus
from orchestration.cli import main
from tests.conftest import REPO
from tests.faults import disk_full_after
from tests.seed import attempt, seed

pytestmark = pytest.mark.postgres


def _counts(store):
    with store.engine.connect() as c:
        return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("problems", "statements", "proof_attempts", "proofs")}


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO problems (id, source, informal) VALUES ('x', 's', 'i')",
        "UPDATE statements SET status = 'dropped'",
        "DELETE FROM proof_attempts",
        "CREATE TABLE sneaky (a int)",
        "DROP TABLE proofs",
        "TRUNCATE proofs",
        "ALTER TABLE proofs ADD COLUMN x int",
        "COMMIT; DELETE FROM proofs",
        "SELECT 1; DELETE FROM proofs",
        "SET TRANSACTION READ WRITE",
        "BEGIN READ WRITE",
        "WITH d AS (DELETE FROM proofs RETURNING 1) SELECT count(*) FROM d",
        "SELECT set_config('transaction_read_only', 'off', true)",
    ],
)
def test_writes_are_refused_and_change_nothing(store, sql, capsys):
    seed(store, 2)
    before = _counts(store)
    assert main(["sql", sql]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err or "query failed" in err
    assert _counts(store) == before


def test_queries_and_formats(store, capsys):
    seed(store, 4)
    assert main(["sql", "SELECT side, count(*) AS n FROM verified_pairs GROUP BY side ORDER BY side", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"side": "negation", "n": 2}, {"side": "statement", "n": 2}]
    assert main(["sql", "SELECT informal FROM problems WHERE informal LIKE 'Problem 1%'", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["informal", "Problem 1 of round 1."]
    assert main(["sql", "SELECT round, statements, proved, disproved, attempts FROM round_funnel"]) == 0
    out = capsys.readouterr().out
    assert "(1 row)" in out and " 4 " in out
    with pytest.raises(StoreError, match="query failed"):
        run_readonly(store, "SELECT no_such_column FROM problems")


def test_status_shows_rounds_and_funnel(store, capsys):
    seed(store, 3)
    with store.engine.begin() as c:
        c.execute(text("INSERT INTO rounds (number, stages) VALUES (1, '{\"prove\": {\"state\": \"done\"}}')"))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "problems: 3" in out and "prove" in out and "done" in out and "attempts_proved" in out


def test_bulk_attempts_are_idempotent(store):
    st = seed(store, 1)[0]
    rows = [attempt(st, Side.STATEMENT, k, VerdictStatus.FAILED, f"by\n  tac{k}") for k in range(2, 1002)]
    with store.session() as s:
        assert write_attempts(s, rows) == 1000
    with store.session() as s:
        assert write_attempts(s, rows[:10]) == 0
    assert _counts(store)["proof_attempts"] == 1002


def test_export_round_trips_through_datasets(store, tmp_path, capsys):
    """Formats and filters; the seeded proofs are not audited (tests/test_audit.py covers that gate)."""
    import datasets

    minif2f = "theorem mathd_algebra_478 (b h v : ℝ) (h₀ : 0 < b ∧ 0 < h ∧ 0 < v) (h₁ : v = 1 / 3 * (b * h))\n    (h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by sorry"
    seed(store, 4, rounds=(1, 2), extra_texts=[minif2f])
    for fmt in ("jsonl", "parquet"):
        out = tmp_path / fmt
        assert main(["export", "--out", str(out), "--format", fmt, "--include-unaudited"]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts"]["total"] == 8 and manifest["counts"]["excluded_benchmark"] == 1
        assert manifest["counts"]["by_side"] == {"negation": 4, "statement": 4}
        ds = datasets.load_dataset(fmt if fmt == "parquet" else "json", data_files=str(out / f"train.{fmt}"), split="train")
        assert set(ds.column_names) == {"prompt", "completion", *LINEAGE}  # lineage beside the training fields
        row = ds[0]
        assert row["prompt"].startswith("Complete the following Lean 4 code:") and row["prompt"].endswith(":= by\n")
        assert "/-- Problem" in row["prompt"] and row["completion"].endswith("```")
    again = tmp_path / "again"
    main(["export", "--out", str(again), "--format", "jsonl", "--include-unaudited"])
    assert (again / "train.jsonl").read_bytes() == (tmp_path / "jsonl" / "train.jsonl").read_bytes()
    main(["export", "--out", str(tmp_path / "msgs"), "--style", "messages", "--round", "2", "--side", "statement", "--include-unaudited"])
    rows = [json.loads(x) for x in (tmp_path / "msgs" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    main(["export", "--out", str(tmp_path / "all"), "--exclude-benchmarks", "", "--include-unaudited"])
    assert json.loads((tmp_path / "all" / "manifest.json").read_text())["counts"]["total"] == 9


def test_bulk_writes_name_a_missing_statement_on_both_paths(store):
    from db.bulk import SMALL
    from tests.seed import statement

    ghost = statement(424242)  # never stored
    for n in (3, SMALL + 5):
        rows = [attempt(ghost, Side.STATEMENT, k, VerdictStatus.FAILED, f"by\n  omega -- {k}") for k in range(n)]
        with pytest.raises(StoreError, match="not stored"):
            with store.session() as s:
                write_attempts(s, rows)
    with store.read_only() as c:
        assert c.execute(text("SELECT count(*) FROM proof_attempts WHERE statement_id = :i"), {"i": ghost.id}).scalar() == 0


def _false_hyps_proof(store, st):
    """A proof of `hyps ⊢ False` for st, stored as the hypotheses stage stores one."""
    from db import proofs as dbproofs
    from flywheel.records import Proof
    from prover_loop.prove import Result
    from tests.seed import HEADER

    good = attempt(st, Side.FALSE_HYPS, 7, VerdictStatus.PROVED, "by\n  omega -- false")
    theorem = f"theorem {st.name}_false (x : ℕ) (h : x = 0) : False"
    proof = Proof(st.id, Side.FALSE_HYPS, good.id, st.round, theorem, good.proof, HEADER + theorem + " := " + good.proof)
    with store.session() as s:
        dbproofs.save_result(s, Result(st, Side.FALSE_HYPS, [good], proof), st.round)


def test_export_rows_carry_lineage_and_the_manifest_provenance(store, tmp_path):
    import re

    seed(store, 2)
    with store.engine.begin() as c:
        c.execute(text("INSERT INTO rounds (number, config) VALUES (1, '{\"generator\": {\"model\": \"m\"}}')"))
    assert main(["export", "--out", str(tmp_path / "out"), "--include-unaudited"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    with store.read_only() as c:
        stored = {(r.statement_id, r.side): r.attempt_key for r in c.execute(text(
            "SELECT p.statement_id, p.side, a.attempt_key FROM proofs p JOIN proof_attempts a ON a.id = p.attempt_id"))}
    assert len(rows) == 2
    for row in rows:
        assert {row["source"], row["model"], row["round"]} == {"seed", "m", 1}
        assert stored[(row["statement_id"], row["side"])] == row["attempt_id"]
        assert row["prompt"].startswith("Complete the following Lean 4 code:")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["models"] == {"m": 2} and manifest["config"] == {"1": {"generator": {"model": "m"}}}
    assert manifest["code"]["package"] and re.fullmatch(r"[0-9a-f]{40}", manifest["code"]["git_commit"])
    assert manifest["filters"]["sides"] == ["statement", "negation"]


def test_export_sides_leave_false_hyps_out_unless_asked(store, tmp_path, capsys):
    sts = seed(store, 2)
    _false_hyps_proof(store, sts[0])
    for flags, sides in (([], {"statement": 1, "negation": 1}),
                         (["--sides", "statement,negation,false_hyps"], {"statement": 1, "negation": 1, "false_hyps": 1}),
                         (["--sides", "false_hyps"], {"false_hyps": 1}),
                         (["--sides", "all"], {"statement": 1, "negation": 1, "false_hyps": 1})):
        out = tmp_path / "-".join(flags or ["default"]).replace(",", "_")
        assert main(["export", "--out", str(out), "--include-unaudited", *flags]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts"]["by_side"] == sides, flags
        written = [json.loads(x)["side"] for x in (out / "train.jsonl").read_text().splitlines()]
        assert sorted(written) == sorted(sides)
    capsys.readouterr()
    assert main(["export", "--out", str(tmp_path / "bad"), "--sides", "statement,lemma"]) == 2
    assert "sides must be some of statement, negation, false_hyps" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_export_replaces_its_folder_whole(store, tmp_path, capsys):
    import datasets

    seed(store, 2)
    out = tmp_path / "data"
    assert main(["export", "--out", str(out), "--include-unaudited"]) == 0
    assert main(["export", "--out", str(out), "--include-unaudited", "--format", "parquet", "--style", "messages"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no temporary folder left beside it
    ds = datasets.load_dataset("parquet", data_files=str(out / "train.parquet"), split="train")
    assert set(ds.column_names) == {"messages", *LINEAGE}
    assert [m["role"] for m in ds[0]["messages"]] == ["user", "assistant"] and ds[0]["source"] == "seed"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["export", "--out", str(mine), "--include-unaudited"]) == 2
    assert "holds files that are not an export's (notes.txt)" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_a_disk_full_during_export_leaves_the_old_export_whole(store, pg_url, tmp_path, capsys):
    seed(store, 40)
    out = tmp_path / "data"
    assert main(["export", "--out", str(out), "--include-unaudited"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    env = dict(os.environ, FLYWHEEL_DB_URL=pg_url, PYTHONPATH=str(REPO))
    # the new export (messages style) needs more room than the disk has left: half the old train.jsonl
    proc = subprocess.run([sys.executable, "-m", "orchestration.cli", "export", "--out", str(out), "--include-unaudited",
                           "--style", "messages"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
                          preexec_fn=disk_full_after(len(before["train.jsonl"]) // 2))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"flywheel: error: export: cannot write {out / 'train.jsonl'}: File too large; "
                                        f"{out} is left as it was"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # the half-written new export is gone


def test_an_empty_export_has_every_field(store, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "empty"
    assert main(["export", "--out", str(out), "--format", "parquet"]) == 0
    table = pq.read_table(out / "train.parquet")
    assert table.num_rows == 0 and set(table.column_names) == {"prompt", "completion", *LINEAGE}
