"""The audit outside the REPL, end to end through the fake `lean`/`lean4checker` doubles and the fake REPL:
each refusal class, bisection, a toolchain without lean4checker, the CLI, the round stage and the export."""

import json
import re

import pytest
from sqlalchemy import text

from flywheel.config import LeanConfig
from flywheel.lean.audit.checks import AuditInput, AuditStatus, Refusal, audit
from orchestration.cli import main
from tests.fake_lean_audit import install

HEADER = "import Mathlib\nopen Real\n"


@pytest.fixture()
def audit_cfg(tmp_path, monkeypatch):
    """A Lake project with lean4checker built, fake `lean` and `lake` on PATH; the CLI finds it too."""
    project = tmp_path / "lean"
    project.mkdir()
    install(tmp_path / "bin", project, tmp_path / "tools.log")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("FLYWHEEL_LEAN__PROJECT_DIR", str(project))
    return LeanConfig(project_dir=str(project), timeout_s=5.0)


def good(i: int, proof: str = "by\n  omega") -> AuditInput:
    return AuditInput(f"p{i}", HEADER, "", f"theorem s{i} (x : ℕ) (h : x = {i}) : x + 1 = {i + 1}", proof)


def by_id(results):
    return {r.id: r for r in results}


@pytest.mark.parametrize("proof, refusal, says", [
    ("by\n  omega -- fake:compile-error=unsolved goals", Refusal.COMPILE, "unsolved goals"),
    ("by\n  omega -- fake:kernel-reject", Refusal.KERNEL, "(kernel) declaration type mismatch"),
    ("by\n  omega -- fake:type-mismatch", Refusal.TYPE, "differs from the canonical statement"),
    ("by\n  omega -- fake:module-axioms=propext,Lean.ofReduceBool", Refusal.AXIOMS, "native_decide"),
    ("by\n  omega -- fake:module-axioms=propext,my_axiom", Refusal.AXIOMS, "depends on axiom my_axiom"),
    ("by\n  native_decide", Refusal.GUARD, "native_decide"),
])
def test_each_refusal_class_refuses_only_its_proof(audit_cfg, proof, refusal, says):
    proofs = [good(i) for i in range(5)] + [good(9, proof)]
    results = by_id(audit(proofs, audit_cfg))
    bad = results.pop("p9")
    assert (bad.status, bad.refusal) == (AuditStatus.REFUSED, refusal) and says in bad.reason
    assert all(r.status is AuditStatus.AUDITED and r.refusal is None for r in results.values())
    assert all(r.detail == "propext, Classical.choice, Quot.sound" for r in results.values())


def test_a_statement_that_does_not_elaborate_alone_is_refused(audit_cfg):
    # The preamble module compiles; the statement refers to a name it does not define.
    proofs = [good(1), AuditInput("p2", HEADER, "def f : ℕ := 1", "theorem s2 : f = 1", "by\n  rfl"),
              AuditInput("p3", HEADER, "def g : ℕ := undefined_thing", "theorem s3 : g = 1", "by\n  rfl")]
    results = by_id(audit(proofs, audit_cfg))
    assert results["p1"].status is AuditStatus.AUDITED and results["p2"].status is AuditStatus.AUDITED
    assert results["p3"].refusal is Refusal.STATEMENT and "preamble does not compile" in results["p3"].reason


def test_bisection_keeps_every_good_proof_and_costs_log_compiles(audit_cfg, tmp_path):
    proofs = [good(i) for i in range(16)]
    proofs[5] = good(5, "by\n  omega -- fake:compile-error=type mismatch")
    proofs[11] = good(11, "by\n  omega -- fake:compile-error=unknown tactic")
    results = audit(proofs, audit_cfg, per_module=16)
    assert [r.id for r in results] == [p.id for p in proofs]  # input order
    refused = {r.id: r.reason for r in results if r.status is AuditStatus.REFUSED}
    assert set(refused) == {"p5", "p11"} and "type mismatch" in refused["p5"] and "unknown tactic" in refused["p11"]
    compiles = [c for c in (tmp_path / "tools.log").read_text().splitlines() if c.startswith("lake env lean ")]
    proof_modules = [c for c in compiles if "/FlywheelAudit/Proof" in c]
    assert len(proof_modules) == 4  # all; the rest; each bad one alone (its error pointed at it)


def test_errors_that_point_nowhere_fall_back_to_halves(audit_cfg):
    proofs = [good(i) for i in range(8)]
    proofs[6] = AuditInput("p6", HEADER, "", "theorem s6 : 1 = 1", "by\n  rfl -- fake:kernel-reject")
    results = by_id(audit(proofs, audit_cfg))
    assert results.pop("p6").refusal is Refusal.KERNEL
    assert {r.status for r in results.values()} == {AuditStatus.AUDITED}


def test_a_hanging_module_times_out_and_is_killed(audit_cfg):
    audit_cfg.timeout_s = 0.5
    results = by_id(audit([good(1), good(2, "by\n  omega -- fake:hang")], audit_cfg, import_s=1.0))
    assert results["p1"].status is AuditStatus.AUDITED
    assert results["p2"].refusal is Refusal.TIMEOUT and "killed" in results["p2"].reason
    assert results["p2"].status is AuditStatus.UNAUDITED  # a timeout is no verdict on the proof


def test_without_lean4checker_nothing_is_audited_and_doctor_says_why(audit_cfg, capsys):
    from flywheel.lean.toolchain.setup import lean4checker_binary

    lean4checker_binary(audit_cfg).unlink()
    results = audit([good(1), good(2)], audit_cfg)
    assert all(r.refusal is Refusal.TOOLCHAIN and "lean4checker not built" in r.reason for r in results)
    assert all(r.status is AuditStatus.UNAUDITED for r in results)
    from flywheel.lean.toolchain.doctor import _lean4checker

    row = _lean4checker(audit_cfg)
    assert not row.ok and not row.required and "refuses every proof" in row.detail


def _seed_proofs(store, bad_proof: str):
    """Four stored pairs (seed's), one of whose proofs the REPL passed but the audit must refuse."""
    from tests.seed import seed

    seed(store, 4)
    with store.session() as s:
        first = s.execute(text("SELECT statement_id FROM proofs ORDER BY statement_id LIMIT 1")).scalar_one()
        s.execute(text("UPDATE proofs SET proof = :p WHERE statement_id = :i"), {"p": bad_proof, "i": first})
    return first


def _audits(store):
    with store.read_only() as c:
        return {r.statement_id: (r.audit, r.audit_reason, r.audit_toolchain is not None, r.audited_at is not None)
                for r in c.execute(text("SELECT * FROM proofs"))}


@pytest.mark.postgres
def test_cli_audit_stores_verdicts_and_export_writes_only_audited(store, audit_cfg, tmp_path, capsys):
    bad = _seed_proofs(store, "by\n  omega -- fake:kernel-reject")
    assert main(["export", "--out", str(tmp_path / "before")]) == 0
    manifest = json.loads((tmp_path / "before" / "manifest.json").read_text())
    assert manifest["counts"]["total"] == 0 and manifest["counts"]["excluded_unaudited"] == 4
    assert main(["export", "--out", str(tmp_path / "unaudited"), "--include-unaudited"]) == 0
    assert json.loads((tmp_path / "unaudited" / "manifest.json").read_text())["counts"]["total"] == 4
    capsys.readouterr()
    assert main(["lean", "audit"]) == 1  # some were refused
    out = capsys.readouterr().out
    assert re.search(r"dropped: kernel\s+1\n", out) and re.search(r"kept\s+3\n", out)
    audits = _audits(store)
    assert audits.pop(bad)[:2] == ("refused", audits_reason(store, bad))
    assert all(a == ("audited", None, True, True) for a in audits.values())
    for flags in ([], ["--include-unaudited"]):
        out_dir = tmp_path / f"after{len(flags)}"
        assert main(["export", "--out", str(out_dir), *flags]) == 0
        rows = (out_dir / "train.jsonl").read_text().splitlines()
        assert len(rows) == 3 and not any("fake:kernel-reject" in r for r in rows)  # refused never leaves
    assert main(["lean", "audit"]) == 0 and re.search(r"in\s+0\n", capsys.readouterr().out)  # nothing left
    with store.session() as s:  # a guard change: --recheck looks again at what was audited
        s.execute(text("UPDATE proofs SET audit = 'audited', audit_reason = NULL WHERE statement_id = :i"), {"i": bad})
    assert main(["lean", "audit", "--round", "1", "--recheck"]) == 1
    assert _audits(store)[bad][0] == "refused"


def audits_reason(store, statement_id):
    with store.read_only() as c:
        reason = c.execute(text("SELECT audit_reason FROM proofs WHERE statement_id = :i"), {"i": statement_id}).scalar()
    assert reason.startswith("kernel: ") and "declaration type mismatch" in reason
    return reason


def test_the_audit_records_the_lean_that_ran(audit_cfg):
    from flywheel.lean.audit.checks import audit_toolchain

    assert audit_toolchain(audit_cfg).startswith("lean=4.26.0;")


def test_a_header_that_defines_things_is_audited_with_its_definitions_as_preamble(audit_cfg):
    """ProofNet's headers go on with `def`s after the opens: they become the preamble, as in the verifier."""
    header = "import Mathlib\nopen Real\n\ndef bump (x : ℕ) : ℕ := x + 1\n"
    results = by_id(audit([good(1), AuditInput("p2", header, "", "theorem s2 : bump 1 = 2", "by\n  rfl")], audit_cfg))
    assert results["p2"].status is AuditStatus.AUDITED, results["p2"]
    assert results["p1"].status is AuditStatus.AUDITED


@pytest.mark.postgres
def test_a_missing_tool_leaves_proofs_unaudited_and_status_export_and_a_later_audit_see_it(store, audit_cfg, tmp_path,
                                                                                              capsys, monkeypatch):
    from flywheel.lean.toolchain.setup import lean4checker_binary

    _seed_proofs(store, "by\n  omega -- fake:kernel-reject")
    checker = lean4checker_binary(audit_cfg)
    saved = checker.read_bytes()
    checker.unlink()
    assert main(["lean", "audit"]) == 1  # nothing could be audited (but nothing is refused)
    audits = _audits(store)
    assert all(a[0] is None and a[1].startswith("toolchain: lean4checker not built") and not a[3]
               for a in audits.values()), audits
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "audit: 4 proofs wait (toolchain: 4)" in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "out")]) == 0
    assert "4 proofs not audited yet" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"]["excluded_unaudited"] == 4
    checker.write_bytes(saved)
    checker.chmod(0o755)
    assert main(["lean", "audit"]) == 1  # the tools are back: the audit takes them up, and refuses the bad one
    assert sorted(a[0] for a in _audits(store).values()) == ["audited"] * 3 + ["refused"]


def test_the_preamble_module_is_replayed_through_the_kernel_too(audit_cfg):
    """Proofs and challenge share the preamble's module: a definition there that the kernel refuses would make
    both sides agree, so lean4checker replays that module as well, and its refusal refuses every proof on it."""
    bad = 'def f : ℕ := 1\n\ndef note : String := "-- fake:kernel-reject"'
    proofs = [good(1), AuditInput("p2", HEADER, bad, "theorem s2 : f = 1", "by\n  rfl"),
              AuditInput("p3", HEADER, bad, "theorem s3 : f + 0 = 1", "by\n  rfl"),
              AuditInput("p4", HEADER, "def f : ℕ := 1", "theorem s4 : f = 1", "by\n  rfl")]
    results = by_id(audit(proofs, audit_cfg))
    for i in ("p2", "p3"):
        assert results[i].refusal is Refusal.KERNEL and "preamble's module fails the kernel replay" in results[i].reason
    assert results["p1"].status is AuditStatus.AUDITED and results["p4"].status is AuditStatus.AUDITED


def test_the_audit_builds_on_the_rendered_preamble_never_the_raw_text(audit_cfg, tmp_path):
    """A comment in the stored preamble never reaches Lean (the verifier sent its rendering), so it cannot reach
    the audit's modules either; a `variable` spread over lines is restated whole where the base is imported."""
    import dataclasses

    from flywheel.lean.audit import modules as mods
    from flywheel.lean.audit.checks import target_of
    from flywheel.lean.guard.soundness import Policy

    commented = "/-- doc -/\ndef f : ℕ := 1 -- fake:kernel-reject\n"
    results = by_id(audit([AuditInput("p1", HEADER, commented, "theorem s1 : f = 1", "by\n  rfl")], audit_cfg))
    assert results["p1"].status is AuditStatus.AUDITED, results["p1"]
    spread = "variable (a : ℕ)\n  (b : ℕ)\n\nsection\nvariable (c : ℕ)\nopen Nat\nend\n\nopen Real\n\ndef g : ℕ := a"
    t = target_of(AuditInput("p2", HEADER, spread, "theorem s2 : a + b = b + a", "by\n  omega"), Policy())
    assert isinstance(t, mods.Target) and "fake:" not in t.preamble
    assert t.scoping == "variable (a : ℕ)\n  (b : ℕ)\n\nopen «Real»"
    _, proof_text = mods.proof_module([t])
    _, challenge_text = mods.challenge_module([dataclasses.replace(t)])
    for text in (proof_text, challenge_text):
        assert "variable (a : ℕ)\n  (b : ℕ)" in text and "(c : ℕ)" not in text and "open «Nat»" not in text


@pytest.fixture()
def plain_cfg(tmp_path, monkeypatch):
    """A toolchain without a Lake project: the fake `lean` as lean.compiler (modules found on LEAN_PATH),
    and no lean.checker; the CLI reads the same from the environment."""
    import shlex
    import sys

    from tests import fake_lean_audit

    compiler = f"{shlex.quote(sys.executable)} {shlex.quote(fake_lean_audit.__file__)} lean"
    monkeypatch.setenv("FLYWHEEL_LEAN__COMPILER", compiler)
    monkeypatch.setenv("FLYWHEEL_LEAN__PROJECT_DIR", str(tmp_path / "no-project"))  # never made: none is needed
    return LeanConfig(project_dir=str(tmp_path / "no-project"), compiler=compiler, timeout_s=5.0)


def test_plain_lean_audits_without_the_replay_and_says_which_checks_ran(plain_cfg, tmp_path):
    from flywheel.lean.audit.checks import audit_toolchain
    from flywheel.lean.toolchain.doctor import _lean4checker

    proofs = [good(1), good(2, "by\n  omega -- fake:kernel-reject"), good(3, "by\n  omega -- fake:type-mismatch")]
    results = by_id(audit(proofs, plain_cfg))
    # no replay ran, so the kernel rejection the fake lean4checker would have found goes unseen: recorded, not hidden
    assert results["p1"].status is AuditStatus.AUDITED and results["p1"].checks == ("guard", "compile", "axioms", "type")
    assert results["p2"].status is AuditStatus.AUDITED and "replay" not in results["p2"].checks
    assert results["p3"].refusal is Refusal.TYPE
    assert audit_toolchain(plain_cfg).endswith(";lean4checker=none;checks=guard,compile,axioms,type")
    row = _lean4checker(plain_cfg)
    assert not row.ok and not row.required and "runs no kernel replay" in row.detail
    assert not (tmp_path / "no-project").exists()  # the modules went to a temporary folder, not a Lake project


def test_plain_lean_with_a_checker_runs_every_check(plain_cfg):
    import shlex
    import sys

    from tests import fake_lean_audit

    cfg = plain_cfg
    cfg.checker = f"{shlex.quote(sys.executable)} {shlex.quote(fake_lean_audit.__file__)} lean4checker"
    results = by_id(audit([good(1), good(2, "by\n  omega -- fake:kernel-reject")], cfg))
    assert results["p1"].checks == ("guard", "compile", "replay", "axioms", "type")
    assert results["p2"].refusal is Refusal.KERNEL and "declaration type mismatch" in results["p2"].reason


def test_a_compiler_that_is_not_there_leaves_proofs_unaudited(plain_cfg):
    plain_cfg.compiler = "/nonexistent/bin/lean"
    results = audit([good(1)], plain_cfg)
    assert results[0].status is AuditStatus.UNAUDITED and results[0].refusal is Refusal.TOOLCHAIN
    assert "/nonexistent/bin/lean not found (lean.compiler" in results[0].reason


@pytest.mark.postgres
def test_the_export_policy_names_the_checks_it_requires(store, plain_cfg, tmp_path, capsys, monkeypatch):
    from tests.seed import seed

    seed(store, 4)
    assert main(["lean", "audit"]) == 0
    with store.read_only() as c:
        rows = c.execute(text("SELECT audit, audit_checks, audit_toolchain FROM proofs")).all()
    assert {(r.audit, tuple(r.audit_checks)) for r in rows} == {("audited", ("guard", "compile", "axioms", "type"))}
    assert all(r.audit_toolchain.endswith("checks=guard,compile,axioms,type") for r in rows)
    capsys.readouterr()
    assert main(["status"]) == 0  # the default policy requires the replay: status says the proofs stay in
    assert ("audit: 4 proofs audited without replay (the toolchain lacks it); export.require_checks (guard, "
            "compile, replay, axioms, type) leaves them out of exports and training") in capsys.readouterr().out
    assert main(["export", "--out", str(tmp_path / "strict")]) == 0
    assert "4 audited without a check export.require_checks requires" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "strict" / "manifest.json").read_text())
    assert manifest["counts"]["total"] == 0 and manifest["counts"]["excluded_checks"] == 4
    assert manifest["filters"]["require_checks"] == ["guard", "compile", "replay", "axioms", "type"]
    assert main(["export", "--out", str(tmp_path / "any"), "--include-unaudited"]) == 0  # no audit required at all
    assert json.loads((tmp_path / "any" / "manifest.json").read_text())["counts"]["total"] == 4
    monkeypatch.setenv("FLYWHEEL_EXPORT__REQUIRE_CHECKS", "guard,compile,axioms,type")
    assert main(["export", "--out", str(tmp_path / "lenient")]) == 0
    lenient = json.loads((tmp_path / "lenient" / "manifest.json").read_text())
    assert lenient["counts"]["total"] == 4 and lenient["counts"]["excluded_checks"] == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    assert "export.require_checks (guard, compile, axioms, type) accepts them" in capsys.readouterr().out


def test_require_checks_names_only_known_checks(tmp_path):
    from flywheel.config import load_config
    from flywheel.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("export: {require_checks: [guard, replay, vibes]}\n")
    with pytest.raises(ConfigError, match=r"export\.require_checks\[2\]: expected one of guard, compile, replay, "
                                          r"axioms, type, got 'vibes'"):
        load_config(str(path))


def test_the_audit_tools_are_checked_when_the_config_is_read(tmp_path):
    from flywheel.config import load_config
    from flywheel.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("lean: {checker: /opt/lean4checker}\n")
    with pytest.raises(ConfigError, match=r"lean\.checker.*only taken with .*lean\.compiler"):
        load_config(str(path))
    path.write_text("lean: {compiler: \"lean 'unclosed\"}\n")
    with pytest.raises(ConfigError, match=r"lean\.compiler.*cannot split"):
        load_config(str(path))
