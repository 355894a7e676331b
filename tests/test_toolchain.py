"""`flywheel lean setup|doctor` and the REPL command, against elan/lake/lean doubles on a private PATH."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tomllib

import pytest

from flywheel.config import LeanConfig, load_config
from flywheel.errors import ConfigError, LeanError
from flywheel.lean.toolchain import setup as tc
from flywheel.lean.toolchain.paths import repl_command, repl_cwd, toolchain_name
from orchestration.cli import main
from tests.fake_toolchain import calls, fake_elan, fake_lake, fake_lean, write_tool


@pytest.fixture()
def machine(tmp_path, monkeypatch):
    """An empty machine: a private HOME, and a PATH holding only our bin directory and the system's."""
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    bin_dir.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("ELAN_HOME", raising=False)
    monkeypatch.delenv("FLYWHEEL_LEAN_REPL", raising=False)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return bin_dir, tmp_path / "calls"


def test_project_files_pin_the_given_revisions(tmp_path):
    cfg = LeanConfig(project_dir=str(tmp_path / "p"), lean_version="v4.19.0", mathlib_rev="v4.19.0", repl_rev="abc123")
    assert tc.write_project(cfg).ok
    root = tmp_path / "p"
    assert (root / "lean-toolchain").read_text() == "leanprover/lean4:v4.19.0\n"
    lake = tomllib.loads((root / "lakefile.toml").read_text())
    requires = {r["name"]: r for r in lake["require"]}
    assert requires["mathlib"] == {"name": "mathlib", "git": tc.MATHLIB_GIT, "rev": "v4.19.0"}
    assert requires["REPL"] == {"name": "REPL", "git": tc.REPL_GIT, "rev": "abc123"}
    assert lake["lean_lib"] == [{"name": "Flywheel"}] and lake["defaultTargets"] == ["Flywheel"]
    assert "theorem flywheel_probe" in (root / "Flywheel" / "Probe.lean").read_text()
    before = (root / "lakefile.toml").stat().st_mtime_ns
    assert tc.write_project(cfg).ok
    assert (root / "lakefile.toml").stat().st_mtime_ns == before  # unchanged files are not rewritten


def test_versions_and_revisions_are_validated():
    assert toolchain_name(LeanConfig(lean_version="4.26.0")) == "leanprover/lean4:v4.26.0"
    assert toolchain_name(LeanConfig(lean_version="v4.27.0-rc1")) == "leanprover/lean4:v4.27.0-rc1"
    assert toolchain_name(LeanConfig(lean_version="nightly-2025-01-02")) == "leanprover/lean4-nightly:nightly-2025-01-02"
    with pytest.raises(ConfigError, match="lean.lean_version"):
        toolchain_name(LeanConfig(lean_version="latest"))
    with pytest.raises(ConfigError, match="lean.mathlib_rev"):
        tc.lakefile_text(LeanConfig(mathlib_rev='v4"\n[[require]]'))


def test_setup_offline_stops_at_the_toolchain_with_command_and_reason(machine, tmp_path):
    bin_dir, log = machine
    fake_elan(bin_dir, log, offline=True)
    fake_lake(bin_dir, log)
    steps = tc.setup(LeanConfig(project_dir=str(tmp_path / "p")))
    assert [(s.name, s.ok) for s in steps] == [("elan", True), ("project", True), ("lean", False)]
    failed = steps[-1]
    assert failed.command == f"{bin_dir / 'elan'} toolchain install leanprover/lean4:v4.26.0"
    assert "Could not resolve host: github.com" in failed.detail and "exit status 1" in failed.detail
    assert "<unknown>" not in failed.detail and "libc-start" not in failed.detail  # backtrace noise dropped
    assert calls(log) == ["elan toolchain install leanprover/lean4:v4.26.0"]  # lake never ran


def test_setup_runs_every_step_in_order_then_is_idempotent(machine, tmp_path, fake_repl):
    bin_dir, log = machine
    fake_elan(bin_dir, log)
    fake_lake(bin_dir, log, repl=fake_repl)
    cfg = LeanConfig(project_dir=str(tmp_path / "p"))
    lines: list[str] = []
    steps = tc.setup(cfg, echo=lines.append)
    assert [(s.name, s.ok) for s in steps] == [
        ("elan", True), ("project", True), ("lean", True), ("dependencies", True), ("mathlib toolchain", True),
        ("mathlib cache", True), ("repl build", True), ("lean4checker build", True), ("repl check", True),
        ("git snapshot", True)]
    assert [c for c in calls(log) if not c.startswith("lake env")] == [
        "elan toolchain install leanprover/lean4:v4.26.0", "lake update", "lake exe cache get", "lake build repl",
        "lake build lean4checker"]
    assert any(line.endswith(f"lake update   (in {tmp_path / 'p'})") for line in lines)  # progress before each step
    assert repl_command(cfg) == [str(bin_dir / "lake"), "env", str(tmp_path / "p/.lake/packages/REPL/.lake/build/bin/repl")]
    assert repl_cwd(cfg) == str(tmp_path / "p")
    tracked = subprocess.run(["git", "ls-files"], cwd=tmp_path / "p", capture_output=True, text=True).stdout.split()
    assert "Flywheel/Probe.lean" in tracked and "lakefile.toml" in tracked and not any(t.startswith(".lake") for t in tracked)
    again = tc.setup(cfg)
    assert all(s.ok for s in again) and "unchanged" in again[-1].detail
    commits = subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=tmp_path / "p", capture_output=True, text=True)
    assert commits.stdout.strip() == "1"  # no new commit, so lean-dojo's trace stays valid


def test_mathlib_needing_another_lean_names_the_fix(machine, tmp_path):
    bin_dir, log = machine
    fake_elan(bin_dir, log)
    fake_lake(bin_dir, log, mathlib_toolchain="leanprover/lean4:v4.19.0")
    steps = tc.setup(LeanConfig(project_dir=str(tmp_path / "p")))
    assert steps[-1].name == "mathlib toolchain" and not steps[-1].ok
    assert "needs leanprover/lean4:v4.19.0" in steps[-1].detail and "--lean v4.19.0" in steps[-1].detail
    assert "lake exe cache get" not in calls(log)


def test_a_failing_build_reports_lakes_error(machine, tmp_path):
    bin_dir, log = machine
    fake_elan(bin_dir, log)
    fake_lake(bin_dir, log, fail="build")
    failed = tc.setup(LeanConfig(project_dir=str(tmp_path / "p")))[-1]
    assert (failed.name, failed.ok) == ("repl build", False)
    assert failed.command.startswith(f"{bin_dir / 'lake'} build repl") and "build failed: could not resolve host" in failed.detail


def test_elan_is_installed_only_with_consent(machine, tmp_path):
    bin_dir, log = machine
    write_tool(bin_dir, "curl", f'echo "curl $*" >> {log}\necho "curl: (6) Could not resolve host: raw.githubusercontent.com" >&2\nexit 6\n')
    cfg = LeanConfig(project_dir=str(tmp_path / "p"))
    refused = tc.setup(cfg)
    assert len(refused) == 1 and not refused[0].ok
    assert tc.ELAN_INIT_URL in refused[0].detail and "--yes" in refused[0].detail
    assert calls(log) == []  # nothing ran without consent
    tried = tc.setup(cfg, assume_yes=True)[-1]
    assert (tried.name, tried.ok) == ("elan", False) and tried.command.startswith(f"curl -sSfL {tc.ELAN_INIT_URL}")
    assert "Could not resolve host: raw.githubusercontent.com" in tried.detail
    assert not (tmp_path / "p").exists()  # stopped at the first step


def test_elan_from_debian_when_there_is_no_curl(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    write_tool(bin_dir, "apt-get", "exit 0\n")
    write_tool(bin_dir, "sudo", "exit 0\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tc.elan_install_plan(assume_root=True) == [["apt-get", "update"], ["apt-get", "install", "-y", "elan"]]
    assert tc.elan_install_plan(assume_root=False)[-1] == ["sudo", "-n", "apt-get", "install", "-y", "elan"]
    (bin_dir / "apt-get").unlink()
    assert tc.elan_install_plan(assume_root=True) is None


def test_a_step_past_its_time_is_killed():
    step = tc.run_step("slow", ["sh", "-c", "echo started; sleep 30"], timeout_s=0.5)
    assert not step.ok and "no result within 0.5 s" in step.detail and "started" in step.detail
    missing = tc.run_step("gone", ["/nonexistent/tool", "x"])
    assert not missing.ok and "/nonexistent/tool: not found" in missing.detail


def test_repl_command_from_flywheel_lean_repl(tmp_path):
    cfg = load_config(environ={"FLYWHEEL_LEAN_REPL": "'/opt/my repl/run' --flag", "FLYWHEEL_LEAN_PROJECT": str(tmp_path)}).lean
    assert repl_command(cfg) == ["/opt/my repl/run", "--flag"] and repl_cwd(cfg) is None
    with pytest.raises(LeanError, match="run `flywheel lean setup`"):
        repl_command(LeanConfig(project_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="FLYWHEEL_LEAN_REPL"):
        repl_command(LeanConfig(repl="'unclosed"))


def _rows(steps):
    return {s.name: s for s in steps}


def test_doctor_on_an_empty_machine_lists_what_is_missing(machine, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FLYWHEEL_LEAN_PROJECT", str(tmp_path / "none"))
    rows = _rows(tc.doctor(LeanConfig(project_dir=str(tmp_path / "none"))))
    for name in ("elan", "toolchain", "lean", "lake", "project", "mathlib", "repl binary", "repl command", "repl check"):
        assert not rows[name].ok and rows[name].required, name
    assert "not run" in rows["repl check"].detail and rows["memory"].ok
    assert main(["lean", "doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL elan" in out and "FAIL mathlib" in out and "lean doctor: missing: elan, toolchain" in out


def test_doctor_never_runs_a_proxy_whose_toolchain_is_absent(machine, tmp_path):
    bin_dir, log = machine
    fake_elan(bin_dir, log)
    fake_lean(bin_dir, log)
    rows = _rows(tc.doctor(LeanConfig(project_dir=str(tmp_path / "p"))))
    assert rows["elan"].ok and "elan 4.1.2" in rows["elan"].detail
    assert not rows["lean"].ok and "not run: elan would download leanprover/lean4:v4.26.0" in rows["lean"].detail
    assert calls(log) == ["elan --version"]


def test_doctor_after_setup_finds_everything(machine, tmp_path, fake_repl, capsys, monkeypatch):
    bin_dir, log = machine
    fake_elan(bin_dir, log)
    fake_lake(bin_dir, log, repl=fake_repl)
    monkeypatch.setenv("FLYWHEEL_LEAN_PROJECT", str(tmp_path / "p"))
    assert main(["lean", "setup"]) == 0
    assert "lean setup: done" in capsys.readouterr().out
    rows = _rows(tc.doctor(LeanConfig(project_dir=str(tmp_path / "p"))))
    assert "version 4.26.0" in rows["lean"].detail and rows["lean"].detail.startswith(str(tmp_path / "home/.elan/toolchains"))
    assert rows["repl check"].ok and rows["mathlib"].ok and rows["lakefile"].ok
    assert main(["lean", "doctor"]) == 0, capsys.readouterr().out
    assert "lean doctor: all found" in capsys.readouterr().out


def test_doctor_sees_a_project_pinned_to_other_revisions(tmp_path):
    old = LeanConfig(project_dir=str(tmp_path), mathlib_rev="v4.19.0", repl_rev="v4.19.0", lean_version="v4.19.0")
    assert tc.write_project(old).ok
    rows = _rows(tc.doctor(LeanConfig(project_dir=str(tmp_path))))
    assert not rows["project"].ok and "config says leanprover/lean4:v4.26.0" in rows["project"].detail
    assert not rows["lakefile"].ok and "mathlib at 'v4.19.0', config says 'v4.26.0'" in rows["lakefile"].detail


@pytest.mark.parametrize("script, expected", [
    ("import sys; sys.stdin.readline(); print('not json at all', flush=True); sys.stdin.read()", "garbage"),
    ("import sys; sys.stdin.read()", "timeout"),
    ("import sys; sys.stdin.readline(); print('{\"messages\": [{\"severity\": \"error\", \"data\": \"unknown constant\"}]}')",
     "unknown constant"),
])
def test_doctor_round_trip_says_what_went_wrong(tmp_path, script, expected):
    cfg = LeanConfig(repl=f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}", project_dir=str(tmp_path))
    rows = _rows(tc.doctor(cfg, timeout_s=1.0))
    assert not rows["repl check"].ok and expected in rows["repl check"].detail
    assert not rows["elan"].required  # with our own REPL, the Lake project is optional


def test_setup_flags_follow_a_mathlib_release(machine, tmp_path, capsys):
    bin_dir, log = machine
    fake_elan(bin_dir, log, offline=True)
    assert main(["lean", "setup", "--project", str(tmp_path / "p"), "--mathlib", "v4.20.0"]) == 1
    out = capsys.readouterr().out
    assert "FAIL lean" in out and "command: " in out and "Could not resolve host: github.com" in out
    assert (tmp_path / "p/lean-toolchain").read_text() == "leanprover/lean4:v4.20.0\n"
    assert 'rev = "v4.20.0"' in (tmp_path / "p/lakefile.toml").read_text().split('name = "REPL"')[1]
    assert main(["lean", "setup", "--project", str(tmp_path / "q"), "--lean", "nonsense"]) == 2
