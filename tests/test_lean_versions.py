"""What depends on the Lean in use: verdicts keyed by the toolchain the REPL reports, code that every Lean 4
parses, and a restart budget that counts checks."""

import json
import shutil
import sys

import pytest
from sqlalchemy import text

from flywheel.lean.repl.identity import identify
from orchestration.cli import main
from tests.conftest import DATA, FAKE_REPL, HEADER

MANIFEST = DATA.parent / "lean" / "repl-v4.26-tests" / "test" / "Mathlib" / "lake-manifest.json"
MATHLIB_REV = "2df2f0150c275ad53cb3c90f7c98ec15a56a1a67"  # what that manifest pins


def _fake(version: str, fake_repl: str) -> str:
    """The fake REPL reporting `version`: a command of its own, as two installed REPLs would be."""
    return f"env FAKE_REPL_LEAN_VERSION={version} {fake_repl}"


def _check(tmp_path, rows, *flags) -> list[dict]:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["lean", "check", str(src), "--out", str(out), *flags]) == 0
    return [json.loads(x) for x in out.read_text().splitlines()]


@pytest.fixture()
def fresh_ids():
    """Each `flywheel` command is a process of its own, which asks its REPL once; here they share one."""
    identify.cache_clear()
    yield identify.cache_clear
    identify.cache_clear()


def test_verdicts_of_one_toolchain_are_never_served_for_another(tmp_path, fake_repl, monkeypatch, store, fresh_ids):
    # one REPL command whose toolchain changes between runs, as after `lake update` or a new elan default
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    rows = [{"id": 1, "header": HEADER, "statement": "theorem a (x : ℕ) : x = x := by sorry", "proof": "by rfl"}]
    cached = []
    for version in ("4.26.0", "4.26.0", "4.9.0", "4.9.0", "4.26.0"):
        monkeypatch.setenv("FAKE_REPL_LEAN_VERSION", version)
        fresh_ids()
        [row] = _check(tmp_path, rows)
        assert row["verdict"] == "proved"
        cached.append(row["cached"])
    assert cached == [False, True, False, True, True]
    with store.engine.connect() as conn:
        keyed = sorted(conn.execute(text("SELECT toolchain FROM verdict_cache")).scalars())
    assert keyed == ["lean=4.26.0;mathlib=none", "lean=4.9.0;mathlib=none"]


def test_doctor_prints_the_toolchain_id_the_repl_reports(fake_repl, monkeypatch, capsys):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", _fake("4.21.0", fake_repl))
    main(["lean", "doctor"])
    out = capsys.readouterr().out
    assert "ok   toolchain id       lean=4.21.0;mathlib=none" in out


def test_the_id_names_the_mathlib_of_the_repls_project(tmp_path):
    python, fake = sys.executable, str(FAKE_REPL)
    project = tmp_path / "proj"
    (project / ".lake" / "build" / "bin").mkdir(parents=True)
    shutil.copy(MANIFEST, project / "lake-manifest.json")
    want = f"lean=4.26.0;mathlib={MATHLIB_REV}"
    # run in the project (as `lake env` runs), or a REPL built in its own checkout, named by its path
    assert identify((python, fake), str(project)) == want
    binary = project / ".lake" / "build" / "bin" / "repl.py"
    shutil.copy(FAKE_REPL, binary)
    assert identify((python, str(binary)), str(tmp_path)) == want


def test_a_repl_that_answers_no_version_is_known_by_the_hash_of_its_files(tmp_path, fresh_ids):
    script = tmp_path / "repl.py"
    script.write_bytes(FAKE_REPL.read_bytes())
    dying = ("env", "FAKE_REPL_CRASH_EVERY=1", sys.executable, str(script))  # dies on the version query
    first = identify(dying, str(tmp_path))
    assert first.startswith("lean=unknown;mathlib=none;sha256=")
    script.write_bytes(FAKE_REPL.read_bytes() + b"\n# another build\n")
    fresh_ids()  # a rebuilt REPL is seen by the next process of flywheel
    assert identify(dying, str(tmp_path)).startswith("lean=unknown;mathlib=none;sha256=")
    assert identify(dying, str(tmp_path)) != first


def test_a_lemma_is_checked_as_a_theorem_without_mathlib(tmp_path, fake_repl, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    rows = [{"id": "bare", "header": "", "statement": "lemma two : 1 + 1 = 2", "proof": "by rfl"}]
    [row] = _check(tmp_path, rows, "--no-store")
    assert row["verdict"] == "proved", row


def test_the_compile_check_sends_a_term_sorry_that_old_leans_parse(fake_repl):
    from flywheel.config import LeanConfig
    from flywheel.lean.guard.verifier import Verifier
    from flywheel.records import VerdictStatus

    statement = "theorem t (x : ℕ) (h : x = 2) : x + x = 4 := by sorry"
    cfg = LeanConfig(repl=_fake("4.0.0-nightly-2021-07-15", fake_repl), timeout_s=5.0, workers=1)
    with Verifier(cfg) as verifier:
        verdict = verifier.compile_check("", statement)
        assert verdict.status is VerdictStatus.INCOMPLETE, verdict
        # what the compile check sent before: the tactic `by sorry`, which this Lean does not parse
        tactic = verifier.run_in_pool(verifier.prepare("", statement, "by sorry"), expect_sorry=True)
        assert tactic.status is VerdictStatus.FAILED and tactic.reason == "expected '{' or tactic"


def test_the_restart_budget_counts_proofs_not_commands(tmp_path, fake_repl, monkeypatch, capsys):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    monkeypatch.setenv("FLYWHEEL_LEAN__MAX_CHECKS_PER_PROCESS", "3")
    rows = [{"id": k, "header": HEADER, "statement": f"theorem t{k} : {k} = {k} := by sorry", "proof": "by rfl"}
            for k in range(6)]
    got = _check(tmp_path, rows, "--workers", "1", "--no-store")
    assert [r["verdict"] for r in got] == ["proved"] * 6 and all(r["axioms"] for r in got)  # each had #print axioms
    assert "lean: 6 checks, 1 restarts" in capsys.readouterr().out
