"""Statement heads kept across runs (flywheel.lean.guard.cache.HeadCache): a later run reuses them, the same verdicts."""

import json

from flywheel.lean.guard import verifier as verifier_module
from flywheel.lean.guard.cache import HeadCache
from flywheel.lean.guard.verifier import Verifier
from flywheel.records import VerdictStatus as V
from tests.conftest import HEADER

CASES = [(HEADER, "theorem h1 (x : ℕ) : x + 0 = x := by sorry", "by\n  simp"),
         (HEADER, "theorem h2 : (1 : ℕ) = 1 := by sorry", "by\n  rfl -- fake:error=type mismatch"),
         (HEADER, "axiom bad : False\n\ntheorem h3 : True := by sorry", "by\n  trivial")]  # refused before Lean


def _run(lean_cfg, folder):
    with Verifier(lean_cfg, heads=HeadCache(folder)) as v:
        return [v.check(*c) for c in CASES]


def test_a_later_run_reuses_the_heads_with_the_same_verdicts(lean_cfg, tmp_path, monkeypatch):
    first = _run(lean_cfg, tmp_path)
    assert [x.status for x in first] == [V.PROVED, V.FAILED, V.REJECTED]
    files = list(tmp_path.glob("heads-*.jsonl"))
    assert len(files) == 1 and len(files[0].read_text().splitlines()) == 3

    def never(*args):
        raise AssertionError("a kept head was built again")

    monkeypatch.setattr(verifier_module, "build_head", never)
    again = _run(lean_cfg, tmp_path)
    assert [(x.status, x.reason, x.messages) for x in again] == [(x.status, x.reason, x.messages) for x in first]
    assert len(files[0].read_text().splitlines()) == 3  # nothing new to add


def test_a_line_that_does_not_read_is_built_again(lean_cfg, tmp_path):
    first = _run(lean_cfg, tmp_path)
    path = next(tmp_path.glob("heads-*.jsonl"))
    lines = path.read_text().splitlines()
    kept = json.loads(lines[0])
    forged = [kept[0], ["a", "b", "c", "not a line", 0]]  # the wrong shape: not trusted, built again
    path.write_text(json.dumps(forged) + "\n" + "\n".join(lines[1:])[:-7] + "\n")  # and a cut last line
    again = _run(lean_cfg, tmp_path)
    assert [x.status for x in again] == [x.status for x in first]


def test_lean_check_keeps_heads_in_the_configured_folder(tmp_path, fake_repl, monkeypatch):
    from orchestration.cli import main

    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    cfg = tmp_path / "flywheel.yaml"
    cfg.write_text(f"lean:\n  head_cache_dir: {tmp_path / 'heads'}\n")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "statement": CASES[0][1], "proof": CASES[0][2]}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["--config", str(cfg), "lean", "check", str(src), "--out", str(out), "--no-store"]) == 0
    assert json.loads(out.read_text())["verdict"] == "proved"
    assert len(next((tmp_path / "heads").glob("heads-*.jsonl")).read_text().splitlines()) == 1
