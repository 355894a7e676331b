"""Read-only SQL, status, the bulk attempt path, and deterministic export that `datasets` loads."""

import json

import pytest
from sqlalchemy import text

from db.bulk import write_attempts
from db.sql import run_readonly
from flywheel.errors import StoreError
from flywheel.records import Side, VerdictStatus
from orchestration.cli import main
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
        assert ds.column_names == ["completion", "prompt"] or set(ds.column_names) == {"prompt", "completion"}
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
