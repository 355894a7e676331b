"""The lean-dojo back end: our settings reach lean_dojo before its import, missing pieces are named,
its outcomes become ours. lean_dojo reads its settings once per interpreter, so the checks that import
it run in a fresh interpreter each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from flywheel.config import LeanConfig
from flywheel.errors import LeanError
from flywheel.lean.tactics.dojo import TacticSession, dojo_environment, dojo_memory_limit_gb
from tests.conftest import REPO
from tests.fake_toolchain import fake_lake, fake_lean


def fresh_python(code: str, env: dict[str, str]) -> dict:
    """Run `code` in a new interpreter; it prints one JSON object as its last line."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture()
def lean_on_path(tmp_path):
    """An environment whose PATH has lean and lake doubles (lean_dojo only needs them at import)."""
    bin_dir = tmp_path / "bin"
    fake_lean(bin_dir, tmp_path / "calls")
    fake_lake(bin_dir, tmp_path / "calls")
    env = {k: v for k, v in os.environ.items() if k not in ("CACHE_DIR", "DISABLE_REMOTE_CACHE", "TACTIC_MEMORY_LIMIT")}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def test_memory_limit_is_whole_gigabytes_below_the_machine():
    assert dojo_memory_limit_gb(LeanConfig(dojo_memory_limit_mb=65536), total_memory_mb=24576) == 19  # 80% of 24 GB
    assert dojo_memory_limit_gb(LeanConfig(dojo_memory_limit_mb=8192), total_memory_mb=262144) == 8
    assert dojo_memory_limit_gb(LeanConfig(dojo_memory_limit_mb=100), total_memory_mb=262144) == 1  # lean_dojo needs >= 1g
    env = dojo_environment(LeanConfig(dojo_cache_dir="/data/dojo"), total_memory_mb=24576)
    assert env == {"CACHE_DIR": "/data/dojo", "DISABLE_REMOTE_CACHE": "1", "TACTIC_MEMORY_LIMIT": "16g", "TACTIC_CPU_LIMIT": "1"}


def test_settings_reach_lean_dojo_before_its_import(lean_on_path, tmp_path):
    seen = fresh_python(f"""
        import json
        from flywheel.config import LeanConfig
        from flywheel.lean.tactics.dojo import import_lean_dojo
        ld = import_lean_dojo(LeanConfig(dojo_cache_dir={str(tmp_path / 'cache')!r}, dojo_memory_limit_mb=65536),
                              total_memory_mb=24576)
        from lean_dojo import constants as c
        from lean_dojo.data_extraction.cache import cache
        print(json.dumps({{"cache": str(c.CACHE_DIR), "store": str(cache.cache_dir), "remote_off": c.DISABLE_REMOTE_CACHE,
                          "memory": c.TACTIC_MEMORY_LIMIT, "cpus": c.TACTIC_CPU_LIMIT}}))
    """, lean_on_path)
    assert seen == {"cache": str(tmp_path / "cache"), "store": str(tmp_path / "cache"), "remote_off": True,
                    "memory": "19g", "cpus": 1}


def test_an_earlier_import_with_other_settings_is_refused(lean_on_path, tmp_path):
    env = lean_on_path | {"CACHE_DIR": str(tmp_path / "theirs")}
    seen = fresh_python(f"""
        import json
        import lean_dojo
        from flywheel.config import LeanConfig
        from flywheel.errors import LeanError
        from flywheel.lean.tactics.dojo import import_lean_dojo
        try:
            import_lean_dojo(LeanConfig(dojo_cache_dir={str(tmp_path / 'ours')!r}))
            print(json.dumps({{"error": None}}))
        except LeanError as e:
            print(json.dumps({{"error": str(e)}}))
    """, env)
    assert "imported before flywheel could configure it" in seen["error"] and str(tmp_path / "theirs") in seen["error"]


def test_missing_lean_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LeanError, match="needs lean and lake on PATH: run `flywheel lean setup`"):
        with TacticSession(LeanConfig(project_dir=str(tmp_path)), "Flywheel/Probe.lean", "flywheel_probe"):
            pass


def test_project_and_file_problems_are_named(lean_on_path, tmp_path):
    project = tmp_path / "p"
    seen = fresh_python(f"""
        import json, subprocess
        from flywheel.config import LeanConfig
        from flywheel.errors import LeanError
        from flywheel.lean.tactics.dojo import TacticSession
        from flywheel.lean.toolchain.setup import write_project
        cfg = LeanConfig(project_dir={str(project)!r}, dojo_cache_dir={str(tmp_path / 'cache')!r})
        out = {{}}
        def attempt(key, file="Flywheel/Probe.lean"):
            try:
                with TacticSession(cfg, file, "flywheel_probe"):
                    out[key] = None
            except LeanError as e:
                out[key] = str(e)
        attempt("no project")
        write_project(cfg)
        attempt("not committed")
        attempt("no file", "Flywheel/Nothing.lean")
        print(json.dumps(out))
    """, lean_on_path)
    assert seen["no project"] == f"no Lake project at {project}: run `flywheel lean setup`"
    assert "Flywheel/Probe.lean is not committed" in seen["not committed"] and "rerun `flywheel lean setup`" in seen["not committed"]
    assert seen["no file"].startswith("Flywheel/Nothing.lean is not a file of the Lake project")


def test_outcomes_become_ours_and_a_timeout_ends_the_session(lean_on_path, tmp_path):
    seen = fresh_python(f"""
        import json
        from flywheel.config import LeanConfig
        from flywheel.errors import LeanError
        from flywheel.lean.tactics.dojo import TacticSession, import_lean_dojo
        ld = import_lean_dojo(LeanConfig(dojo_cache_dir={str(tmp_path / 'cache')!r}))
        s = TacticSession(LeanConfig(), "Flywheel/Probe.lean", "flywheel_probe", timeout_s=7)
        s._ld = ld
        out = [repr(s._convert(r)) for r in (ld.TacticState("n : ℕ\\n⊢ n + 0 = n", 3), ld.ProofFinished(4, None),
                                               ld.LeanError("unknown tactic"), ld.ProofGivenUp())]

        class TimingOutDojo:  # stands in for a Dojo whose Lean did not answer in time
            def run_tac(self, state, tactic):
                assert isinstance(state, ld.TacticState) and state.id == 3
                raise ld.DojoTacticTimeoutError()

        s._dojo = TimingOutDojo()
        state = s._convert(ld.TacticState("n : ℕ\\n⊢ n + 0 = n", 3))
        out.append(repr(s.run_tac(state, "simp")))
        try:
            s.run_tac(state, "simp")
        except LeanError as e:
            out.append(str(e))
        print(json.dumps(out))
    """, lean_on_path)
    assert seen == [
        "TacticState(pp='n : ℕ\\n⊢ n + 0 = n', id=3)", "ProofFinished(id=4)", "TacticError(message='unknown tactic')",
        "TacticError(message='the proof gave up (sorry)')", "Timeout(seconds=7.0)",
        "the tactic session is unusable after a timeout (7 s): open a new one",
    ]


@pytest.mark.lean
def test_real_dojo_session():
    if shutil.which("lean") is None or shutil.which("lake") is None:
        pytest.skip("no Lean toolchain on PATH (lean-marked tests need `flywheel lean setup` and ~/.elan/bin on PATH)")
    from flywheel.config import load_config
    from flywheel.lean.tactics.dojo import ProofFinished, TacticError, TacticState
    from flywheel.lean.toolchain.paths import project_dir

    cfg = load_config().lean
    if not (project_dir(cfg) / ".git").exists():
        pytest.skip(f"no Lake project set up at {project_dir(cfg)} (run `flywheel lean setup`)")
    with TacticSession(cfg, "Flywheel/Probe.lean", "flywheel_probe") as session:
        assert isinstance(session.initial, TacticState) and "⊢" in session.initial.pp
        assert isinstance(session.run_tac(session.initial, "exact no_such_lemma_here"), TacticError)
        assert isinstance(session.run_tac(session.initial, "rfl"), ProofFinished)
