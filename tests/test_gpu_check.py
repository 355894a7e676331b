"""scripts/gpu_check.sh --dry end to end: the GPU hour's script, the same code on a CPU with the tiny model. Every
part runs (vLLM generation, SFT, a LoRA adapter served by vLLM, two GRPO steps on the fake REPL, a round of
`flywheel run` with the vllm back end); what a CPU cannot measure says so; docs/benchmarks.md is left alone."""

import os
import subprocess

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_gpu_check_dry_runs_every_part(pg_url, tmp_path):
    doc = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    server = make_url(pg_url).set(database="postgres").render_as_string(hide_password=False)
    env = dict(os.environ, FLYWHEEL_GPU_CHECK_DB_URL=server)
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--dry", "--work", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| part")]
    assert [r.split(" | ")[0] for r in rows] == [
        "| vLLM generation (async engine)", "| SFT, full (bf16: n/a on cpu)", "| LoRA adapter served by vLLM",
        "| GRPO, 2 steps, fake REPL reward", "| `flywheel run`, 1 round, vllm back end"]
    assert "FAILED" not in done.stdout and "tokens/s" in rows[0] and "steps/s" in rows[1]
    sft = rows[1]
    assert "MFU n/a on cpu" in sft and sft.count("n/a on cpu") == 3  # bf16, MFU, the GPU's peak memory
    assert "n/a on cpu: colocated vLLM" in rows[3]
    assert (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8") == doc


def test_gpu_check_refuses_unknown_parts_and_a_missing_gpu():
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "--dry", "--parts", "sft,fly"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--parts: unknown fly" in done.stderr
    done = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "no GPU is visible: run with --dry" in done.stderr
