"""The real-Lean tier, beyond single verdicts: the pipeline's pieces on the real Lean 4 REPL and compiler of 2021
(tests/real_lean.py, core library only): the `#print axioms` answer read at its position, environments reused,
the compile filter, hypothesis rejection, a negation proved, `flywheel lean check`, `flywheel run` end to end,
and the audit's module path on plain `lean -o`."""

import dataclasses
import json
import re
import shlex

import pytest
import yaml
from sqlalchemy import text

from flywheel.config import LeanConfig
from flywheel.lean.text import statements as surgery
from flywheel.lean.guard.verifier import Verifier
from flywheel.records import VerdictStatus as V

pytestmark = pytest.mark.lean

HEADER = "import Init\nopen Nat\n"  # a header the real REPL imports once, into the environment checks reuse


def test_real_axioms_answer_is_the_one_at_its_commands_position(real_lean_cfg):
    # The proof prints an info message (the goal, with a hypothesis whose string claims no axioms) before
    # Lean's own `#print axioms` answer: only the answer at our command's position is read.
    forged = "'q1' does not depend on any axioms"
    statement = f'theorem q1 (p : Prop) (h : "{forged}" = "{forged}") : p ∨ ¬p := sorry'
    with Verifier(real_lean_cfg) as v:
        got = v.check("", statement, "by\n  traceState\n  exact Classical.em p")
    assert got.status is V.PROVED, got
    assert any(forged in m["data"] for m in got.messages)  # the forged text did reach Lean's messages
    assert sorted(got.axioms) == ["Classical.choice", "Quot.sound", "propext"], got


def test_real_environment_reused_across_checks(real_lean, real_lean_cfg, tmp_path):
    # A wrapper logs each REPL start and every command sent: the header is imported once, every check runs on
    # that one environment (so a theorem of one check is unknown to the next), on one process.
    starts, commands = tmp_path / "starts.log", tmp_path / "commands.log"
    wrapper = tmp_path / "repl.sh"
    wrapper.write_text(f'#!/bin/sh\necho start >> {shlex.quote(str(starts))}\n'
                       f'tee -a {shlex.quote(str(commands))} | "$@"\n')
    wrapper.chmod(0o755)
    cfg = dataclasses.replace(real_lean_cfg, repl=f"{wrapper} {real_lean.repl}")
    checks = [(f"theorem e{i} : {i} + 1 = {i + 1} := sorry", "rfl") for i in range(4)]
    checks.append(("theorem e9 : 0 + 1 = 1 := sorry", "e0"))  # e0 was proved in another check's environment
    with Verifier(cfg) as v:
        got = [v.check(HEADER, s, p).status for s, p in checks]
        processes = v._pool.processes()
    assert got == [V.PROVED] * 4 + [V.FAILED]
    sent = [json.loads(line) for line in commands.read_text().splitlines() if line.strip()]
    header = [c for c in sent if c["cmd"].startswith("import Init")]
    # (the header's `open` rides before each theorem where the REPL's envs lose their scope, as this one's do)
    theorems = [c for c in sent if "#print axioms" in c["cmd"]]
    assert len(header) == 1 and "env" not in header[0]  # the header: once, on a fresh environment
    assert len(theorems) == 5 and {c["env"] for c in theorems} == {0}  # each check: on the header's environment
    # one process checks (beside it, the one that asked Lean.versionString for the verdict cache's key)
    assert processes == 1 and starts.read_text().count("start") == 2


def _statement(sid: str, statement: str, header: str = ""):
    from flywheel.records import Statement

    preamble, decl = surgery.split_preamble(statement)
    return Statement(id=sid, problem_id=None, round=1, header=header, text=decl, name=sid, normalized_sha256=sid,
                     preamble=preamble)


def test_real_compile_filter_keeps_what_compiles_and_drops_what_does_not(real_lean_cfg):
    from filters.base import Drop
    from filters.compile import compile_filter
    from flywheel.records import DropReason

    statements = [
        _statement("ok1", "theorem ok1 (n : Nat) : n + 0 = n := sorry"),
        _statement("ok2", "theorem ok2 (xs : List Nat) : List.length (xs ++ []) = List.length xs := sorry"),
        _statement("ok3", "def double (n : Nat) : Nat := 2 * n\n\ntheorem ok3 : double 3 = 6 := sorry"),
        _statement("bad1", "theorem bad1 (x : ℝ) : x + 0 = x := sorry"),  # Mathlib's reals: not in core Lean
        _statement("bad2", "theorem bad2 (n : Nat) : n + 0 = true := sorry"),  # ill-typed
        _statement("bad3", "theorem bad3 (n : Nat) : n.frobnicate = n := sorry"),  # no such function
    ]
    with Verifier(real_lean_cfg) as v:
        got = compile_filter(statements, v.compile_check)
    assert got[:3] == [None, None, None], got
    assert all(isinstance(d, Drop) and d.reason is DropReason.DOES_NOT_COMPILE for d in got[3:]), got
    assert [d.detail.splitlines()[0] for d in got[3:]] == [  # Lean's own first error, as the filter stores it
        "unknown identifier 'ℝ'", "failed to synthesize instance", "invalid field 'frobnicate', the environment "
        "does not contain 'Nat.frobnicate'"]


def test_real_hypotheses_that_prove_false_are_found_and_consistent_ones_are_not(real_lean_cfg):
    # The hypothesis check proves `hyps ⊢ False` (surgery.false_goal, as the hypotheses stage builds it).
    inconsistent = surgery.parse_theorem("theorem h1 (n : Nat) (h₀ : n = 3) (h₁ : n = 4) : n * 2 = 6 := sorry")
    consistent = surgery.parse_theorem("theorem h2 (n : Nat) (h₀ : n = 3) : n * 2 = 6 := sorry")
    proof = "absurd (h₀.symm.trans h₁) (by decide)"
    with Verifier(real_lean_cfg) as v:
        dropped = v.check("", surgery.render(surgery.false_goal(inconsistent), "sorry"), proof)
        kept = v.check("", surgery.render(surgery.false_goal(consistent), "sorry"), "by decide")
    assert dropped.status is V.PROVED and dropped.axioms == [], dropped
    assert kept.status is V.FAILED, kept


def test_real_negation_of_a_false_statement_is_proved(real_lean_cfg):
    thm = surgery.parse_theorem("theorem n1 (n : Nat) (h₀ : n = 3) : n * 2 = 7 := sorry")
    negation = surgery.render(surgery.negate(thm), "sorry")
    assert "¬" in negation
    with Verifier(real_lean_cfg) as v:
        statement_side = v.check("", surgery.render(thm, "sorry"), "by\n  subst h₀\n  decide")
        negation_side = v.check("", negation, "by\n  subst h₀\n  decide")
    assert statement_side.status is V.FAILED, statement_side
    assert negation_side.status is V.PROVED, negation_side


def test_real_lean_check_cli_on_a_jsonl_of_proofs(real_lean, real_lean_cfg, tmp_path, monkeypatch, capsys):
    from orchestration.cli import main

    config = tmp_path / "lean.yaml"
    config.write_text(yaml.safe_dump({"lean": {"repl": str(real_lean.repl), "header": "", "timeout_s": 60}}))
    rows = [
        {"id": "add", "statement": "theorem add (a b : Nat) : a + b = b + a := sorry", "proof": "Nat.add_comm a b"},
        {"id": "list", "statement": "theorem list (xs : List Nat) : List.length ([] ++ xs) = List.length xs := sorry",
         "proof": "by simp"},
        {"id": "em", "statement": "theorem em (p : Prop) : p ∨ ¬p := sorry", "proof": "Classical.em p"},
        {"id": "wrong", "statement": "theorem wrong : 2 + 2 = 5 := sorry", "proof": "by decide"},
        {"id": "sorry", "statement": "theorem sorry1 : 1 = 1 := sorry", "proof": "sorry"},
        {"id": "axiom", "statement": "theorem ax : 1 = 2 := sorry", "proof": "cheat\naxiom cheat : 1 = 2"},
        {"id": "pre", "statement": "def sq (n : Nat) : Nat := n * n\n\ntheorem pre : sq 3 = 9 := sorry", "proof": "rfl"},
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["--config", str(config), "lean", "check", str(src), "--out", str(out), "--no-store"]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == [r["id"] for r in rows]
    assert [g["verdict"] for g in got] == ["proved", "proved", "proved", "failed", "rejected", "rejected", "proved"]
    assert sorted(got[2]["axioms"]) == ["Classical.choice", "Quot.sound", "propext"] and got[0]["axioms"] == []
    assert "failed to reduce" in got[3]["reason"] or got[3]["messages"], got[3]


# ---- the audit's module path on plain `lean -o` ----

def _audit_cfg(real_lean, real_lean_cfg) -> LeanConfig:
    return dataclasses.replace(real_lean_cfg, compiler=str(real_lean.lean))


def test_real_audit_compiles_modules_and_checks_them_from_a_trusted_module(real_lean, real_lean_cfg):
    from flywheel.lean.audit.checks import AuditInput, AuditStatus, Refusal, audit, audit_toolchain

    cfg = _audit_cfg(real_lean, real_lean_cfg)
    proofs = [
        AuditInput("comm", "", "", "theorem s1 (a b : Nat) : a + b = b + a", "Nat.add_comm a b"),
        AuditInput("em", "", "", "theorem s2 (p : Prop) : p ∨ ¬p", "Classical.em p"),
        AuditInput("pre", "", "def f (n : Nat) : Nat := n + 1", "theorem s3 : f 1 = 2", "rfl"),
        AuditInput("wrong", "", "", "theorem s4 : 2 + 2 = 5", "by decide"),  # the REPL could never have passed it
        AuditInput("sorry", "", "", "theorem s5 : 1 = 1", "sorry"),
    ]
    got = {r.id: r for r in audit(proofs, cfg)}
    for pid in ("comm", "em", "pre"):
        assert got[pid].status is AuditStatus.AUDITED, got[pid]
        assert got[pid].checks == ("guard", "compile", "axioms", "type")  # no lean4checker: no replay, and said so
    assert got["em"].detail == "Classical.choice, Quot.sound, propext" and got["comm"].detail == ""
    assert got["wrong"].refusal is Refusal.COMPILE and "failed to reduce" in got["wrong"].reason
    assert got["sorry"].refusal is Refusal.GUARD
    assert audit_toolchain(cfg) == "lean=4.0.0;mathlib=none;lean4checker=none;checks=guard,compile,axioms,type"


def test_real_trusted_module_finds_a_type_that_differs_and_an_axiom(real_lean, real_lean_cfg):
    # The trusted module's own checks on real Lean: a challenge whose statement differs from the proved one,
    # and a compiled proof resting on sorryAx (written past the guard, as a module that had slipped through).
    from flywheel.lean.audit import checks as A
    from flywheel.lean.guard import soundness

    cfg = _audit_cfg(real_lean, real_lean_cfg)
    policy = soundness.Policy.from_config(cfg)
    good = A.target_of(A.AuditInput("same", "", "", "theorem t1 (n : Nat) : n + 0 = n", "rfl"), policy)
    other = A.target_of(A.AuditInput("differs", "", "", "theorem t2 (n : Nat) : n + 0 = n", "rfl"), policy)
    other = dataclasses.replace(other, challenge_decl=other.challenge_decl.replace("n + 0 = n", "0 + n = n"))
    cheat = A.target_of(A.AuditInput("sorry", "", "", "theorem t3 : 1 = 2", "rfl"), policy)
    cheat = dataclasses.replace(cheat, proof_decl=cheat.proof_decl.replace("(rfl\n)", "(sorryAx (1 = 2)\n)"))
    assert "sorryAx" in cheat.proof_decl
    with A.Workspace(cfg, cfg.timeout_s, 10.0) as ws:
        got = {r.id: r for r in A.audit_chunk(ws, [good, other, cheat], policy)}
    assert got["same"].status is A.AuditStatus.AUDITED, got["same"]
    assert got["differs"].refusal is A.Refusal.TYPE, got["differs"]
    assert got["sorry"].refusal is A.Refusal.AXIOMS and "sorryAx" in got["sorry"].reason, got["sorry"]


# ---- `flywheel run` end to end ----

@pytest.fixture()
def core_model_server():
    from tests.doubles import OpenAIServer
    from tests.round_model import respond_core

    server = OpenAIServer(respond_core)
    yield server
    server.close()


@pytest.mark.postgres
def test_real_flywheel_run_end_to_end(store, pg_url, real_lean, real_lean_cfg, core_model_server, tmp_path,
                                      monkeypatch, capsys):
    """A whole round, every Lean step on real Lean: the scripted model formalizes the 20 sample problems
    (tests/round_model.py, core variant); the compile filter drops Mathlib-only statements, the hypothesis
    check drops inconsistent ones, statements and negations are proved, every proof is audited on plain
    `lean -o` without the replay this Lean lacks, and the export policy decides what leaves."""
    from orchestration.cli import main
    from tests.round_model import SAMPLE

    monkeypatch.setenv("FLYWHEEL_DB_URL", pg_url)
    assert main(["ingest", str(SAMPLE), "--source", "sample", "--map", "informal=informal_prefix", "--map", "id=name"]) == 0
    config = {
        "generator": {"backend": "openai", "model": "scripted", "base_url": core_model_server.url, "max_retries": 2,
                      "request_timeout_s": 20},
        "lean": {"repl": str(real_lean.repl), "compiler": str(real_lean.lean), "header": "", "timeout_s": 60,
                 "workers": 1},
        "autoformalize": {"few_shot": 1, "samples": 1},
        "prover": {"samples_per_side": 2, "passes": 1, "false_hyps_samples": 1},
        "run": {"train": False, "evaluate": False},
    }
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["--config", str(path), "run", "--rounds", "1", "--out", str(tmp_path / "runs")]) == 0
    with store.read_only() as c:
        statuses = dict(c.execute(text(
            "SELECT status || coalesce(':' || drop_reason, ''), count(*) FROM statements GROUP BY 1")).all())
        proofs = c.execute(text("SELECT side, audit, audit_checks FROM proofs ORDER BY side")).all()
        verdicts = dict(c.execute(text("SELECT verdict, count(*) FROM proof_attempts GROUP BY 1")).all())
    assert statuses == {"proved": 5, "disproved": 5, "dropped:does_not_compile": 5,
                        "dropped:inconsistent_hypotheses": 5}, statuses
    assert sorted(p.side for p in proofs) == ["false_hyps"] * 5 + ["negation"] * 5 + ["statement"] * 5
    assert all(p.audit == "audited" and p.audit_checks == ["guard", "compile", "axioms", "type"] for p in proofs)
    assert set(verdicts) == {"proved", "failed"}, verdicts  # real verdicts only: no timeout, crash or rejection
    # The default policy requires lean4checker's replay: nothing leaves, and status and export say why.
    manifest = json.loads((tmp_path / "runs" / "round-1" / "manifest.json").read_text())
    assert manifest["counts"]["total"] == 0 and manifest["counts"]["excluded_checks"] == 10, manifest["counts"]
    capsys.readouterr()
    assert main(["--config", str(path), "status"]) == 0
    assert re.search(r"audit: 15 proofs audited without replay .*leaves them out", capsys.readouterr().out)
    # A policy that accepts an audit without the replay exports the statement and negation pairs.
    config["export"] = {"require_checks": ["guard", "compile", "axioms", "type"]}
    path.write_text(yaml.safe_dump(config))
    assert main(["--config", str(path), "export", "--out", str(tmp_path / "out")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert sorted(r["side"] for r in rows) == ["negation"] * 5 + ["statement"] * 5
    assert main(["--config", str(path), "status"]) == 0
    assert "accepts them" in capsys.readouterr().out
