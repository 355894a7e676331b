"""`flywheel lean check|setup|doctor` from the command line."""

import json
import stat

from orchestration.cli import main
from tests.conftest import HEADER


def test_lean_check_in_input_order_with_bad_lines(tmp_path, fake_repl, monkeypatch, capsys):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    src = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "header": HEADER, "statement": "theorem a (x : ℕ) : x + 0 = x := by sorry", "proof": "by\n  simp"},
        {"id": "b", "statement": "theorem b : False := by sorry", "proof": "by\n  sorry"},
        {"id": "c", "statement": "theorem c : 1 = 1 := by sorry"},
        {"id": "d", "statement": "theorem d : 2 = 2 := by sorry", "proof": "by\n  rfl -- fake:error=type mismatch"},
    ]
    src.write_text("\n".join(json.dumps(r) for r in rows[:3]) + "\n{broken\n" + json.dumps(rows[3]) + "\n")
    out = tmp_path / "out.jsonl"
    code = main(["lean", "check", str(src), "--out", str(out), "--workers", "2", "--timeout", "5", "--no-store"])
    assert code == 1  # some lines were bad; the good ones were checked
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c", None, "d"]
    assert [x["verdict"] for x in lines] == ["proved", "rejected", None, None, "failed"]
    assert set(lines[0]) == {"id", "verdict", "reason", "messages", "axioms", "time_s", "cached", "limited"}
    err = capsys.readouterr().err
    assert f"{src}:3: field proof missing" in err and f"{src}:4: bad JSON" in err


def test_lean_check_caches_in_the_store(tmp_path, fake_repl, monkeypatch, store):
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": 1, "statement": "theorem a (x : ℕ) : x = x := by sorry", "proof": "by rfl"}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["lean", "check", str(src), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["cached"] is False
    assert main(["lean", "check", str(src), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) | {"time_s": 0} == json.loads(out.read_text()) | {"time_s": 0, "cached": True}


def _tool(bin_dir, name, script):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_setup_runs_each_step_and_stops_at_the_first_failure(tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    _tool(bin_dir, "elan", f'echo "elan $*" >> {log}\n')
    _tool(bin_dir, "lake", f'echo "lake $*" >> {log}\nif [ "$1 $2" = "exe cache" ]; then echo "curl: could not resolve host" >&2; exit 7; fi\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("HOME", str(tmp_path))
    project = tmp_path / "proj"
    code = main(["lean", "setup", "--project", str(project), "--mathlib", "v4.20.0", "--lean", "v4.20.0"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL mathlib cache" in out and "could not resolve host" in out and "command: " in out
    assert log.read_text().splitlines() == ["elan toolchain install leanprover/lean4:v4.20.0", "lake update", "lake exe cache get"]
    assert (project / "lean-toolchain").read_text() == "leanprover/lean4:v4.20.0\n"
    lakefile = (project / "lakefile.toml").read_text()
    assert 'rev = "v4.20.0"' in lakefile and 'name = "REPL"' in lakefile and 'name = "mathlib"' in lakefile


def test_setup_without_elan_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["lean", "setup", "--project", str(tmp_path / "p")]) == 1
    assert "elan not found" in capsys.readouterr().out


def test_doctor_lists_what_is_missing_and_checks_a_real_round_trip(tmp_path, monkeypatch, capsys, fake_repl):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("FLYWHEEL_LEAN_PROJECT", str(tmp_path / "none"))
    assert main(["lean", "doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL elan" in out and "FAIL repl binary" in out and "missing:" in out
    monkeypatch.setenv("FLYWHEEL_LEAN_REPL", fake_repl)
    main(["lean", "doctor"])
    assert "ok   repl check" in capsys.readouterr().out
