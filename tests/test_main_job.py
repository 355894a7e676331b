"""scripts/run.sh on a machine without a GPU, the network or Lean: it names each missing piece and the command
that fixes it, stores and shows the sample problems, writes the report, and exits 0."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_run_sh_without_gpu_network_or_lean_says_what_is_missing(tmp_path):
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("scripts/run.sh would first install .venv from PyPI")
    data = tempfile.mkdtemp(prefix="flywheel-main-job-")
    os.chmod(data, 0o755)  # pgserver runs PostgreSQL as its own user when we are root
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLYWHEEL_", "HF_", "TRANSFORMERS_")) and k.lower() not in ("no_proxy", "all_proxy")}
    # No network: every HTTP(S) request goes to a proxy that refuses it (PostgreSQL's socket is not HTTP).
    dead = "http://127.0.0.1:9"
    env |= {"HOME": str(tmp_path / "home"), "FLYWHEEL_DATA_DIR": data, "FLYWHEEL_RUN__LOG_DIR": str(tmp_path / "runs"),
            "https_proxy": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "HTTP_PROXY": dead}
    try:
        done = subprocess.run(["bash", "scripts/run.sh"], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
        said = done.stdout + done.stderr
        assert done.returncode == 0, said[-3000:]
        if shutil.which("nvidia-smi") is None:
            assert "MISSING GPU: nvidia-smi finds no NVIDIA GPU" in said
        for line in ("MISSING network for the model: deepseek-ai/DeepSeek-Prover-V1.5-SFT is not in the hub cache and "
                     "https://huggingface.co cannot be reached (no network). "
                     "Fix: connect this machine, then `hf download deepseek-ai/DeepSeek-Prover-V1.5-SFT`",
                     "run: MISSING Lean (lean doctor: missing: elan",
                     "run:   Fix: connect this machine, then `flywheel lean setup --yes`",
                     "no model at hand, so no round runs",
                     "problems: 20 (minif2f-valid-sample: 20)", "funnel:\nround | statements"):
            assert line in said, line
        assert "problems: 20" in (tmp_path / "runs" / "status.txt").read_text()
        assert (tmp_path / "runs" / "report" / "index.html").is_file(), said[-3000:]  # the job's last step
        assert "the HTML report could not be written" not in said
    finally:
        subprocess.run([sys.executable, "-m", "orchestration.cli", "db", "stop"], cwd=REPO, capture_output=True,
                       env=dict(env, PYTHONPATH=str(REPO)), timeout=180)
        shutil.rmtree(data, ignore_errors=True)


def test_the_main_jobs_environment_holds_what_its_last_step_needs(tmp_path):
    """A fresh clone: scripts/env.sh core (which scripts/run.sh runs first) installs the extras whose modules its
    round's train stage and `flywheel report` import. Its pip is a double that records what it is asked to install."""
    import tomllib

    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    for name in ("pyproject.toml", "scripts/env.sh"):
        shutil.copy(REPO / name, clone / name)
    bin_dir = clone / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    asked = tmp_path / "pip.log"
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "$@" >> {asked}\n')
    (bin_dir / "python").chmod(0o755)
    done = subprocess.run(["bash", "scripts/env.sh", "core"], cwd=clone, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    installs = [line.split() for line in asked.read_text().splitlines() if "-e" in line.split()]
    assert len(installs) == 1, asked.read_text()
    target = installs[0][installs[0].index("-e") + 1]
    extras = target.removeprefix(".").strip("[]").split(",")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = {req.split(">")[0].split("=")[0] for extra in extras for req in declared[extra]}
    assert "matplotlib" in installed, (target, installed)  # orchestration/report.py draws with it
    from orchestration.preflight import TRAIN_MODULES

    assert set(TRAIN_MODULES) <= installed, (target, installed)  # the round's train stage (run.train is on)
    # the stamp says the profile is installed: the next run of the job installs nothing again
    assert list((clone / ".venv").glob(".flywheel-core-*"))
