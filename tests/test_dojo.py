"""The lean-dojo back end: our settings reach it before it is imported; a missing Lean is named."""

import shutil

import pytest

from flywheel.config import LeanConfig
from flywheel.errors import LeanError
from flywheel.lean.dojo import TacticSession, dojo_environment


def test_settings_for_lean_dojo(tmp_path):
    env = dojo_environment(LeanConfig(dojo_cache_dir=str(tmp_path), dojo_memory_limit_mb=65536), total_memory_mb=24576)
    assert env["CACHE_DIR"] == str(tmp_path)
    assert env["DISABLE_REMOTE_CACHE"] == "1"
    assert env["TACTIC_MEMORY_LIMIT"] == f"{int(24576 * 0.8)}m"  # never the machine's whole memory


def test_missing_lean_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LeanError, match="lean and lake on PATH"):
        with TacticSession(LeanConfig(), "Flywheel/Basic.lean", "t"):
            pass


@pytest.mark.lean
def test_real_dojo_session():
    if shutil.which("lean") is None or shutil.which("lake") is None:
        pytest.skip("no Lean toolchain on PATH (lean-marked tests need `flywheel lean setup`)")
    cfg = LeanConfig()
    from flywheel.lean.toolchain_paths import project_dir

    probe = project_dir(cfg) / "Flywheel" / "Probe.lean"
    if not probe.exists():
        pytest.skip(f"no probe theorem at {probe}")
    from flywheel.lean.dojo import ProofFinished, TacticState

    with TacticSession(cfg, "Flywheel/Probe.lean", "flywheel_probe") as (session, state):
        assert isinstance(state, TacticState)
        assert isinstance(session.run_tac(state, "rfl"), ProofFinished)
