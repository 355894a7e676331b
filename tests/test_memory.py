"""The memory plan (prover_loop/train/memory.py): exact parameter counts, the terms against accelerate's and
DeepSpeed's figures, and the way of training picked (or refused) for a 7B and a 1B model on an 80 GB GPU."""

from __future__ import annotations

import dataclasses
import json
import weakref

import pytest

from flywheel.config import TrainConfig
from flywheel.errors import ConfigError
from prover_loop.train.memory import Gpus, Strategy, lora_param_count, param_count, plan_memory

TINY = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=300)


def _llama(**kw):
    from transformers import LlamaConfig

    return LlamaConfig(**kw)


def _1b(vocab_size: int = 128256):  # Llama-3.2-1B's shape
    return _llama(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                  num_key_value_heads=8, vocab_size=vocab_size, tie_word_embeddings=True)


@pytest.mark.parametrize("kind,extra", [("llama", {}), ("llama", {"tie_word_embeddings": True}),
                                        ("llama", {"attention_bias": True, "mlp_bias": True}), ("qwen2", {})])
def test_the_parameter_count_is_the_models_own(kind, extra):
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    config = (LlamaConfig if kind == "llama" else Qwen2Config)(**TINY, **extra)
    model = AutoModelForCausalLM.from_config(config)
    assert param_count(config) == sum(p.numel() for p in model.parameters())


def test_the_lora_count_is_what_peft_trains():
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from prover_loop.train.sft import lora_config

    config, cfg = _llama(**TINY), TrainConfig(lora_r=4)
    model = get_peft_model(AutoModelForCausalLM.from_config(config), lora_config(cfg))
    assert lora_param_count(config, cfg) == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_7b_weights_and_adam_agree_with_accelerates_estimator_and_zero3s_formula():
    from accelerate import init_empty_weights
    from accelerate.commands.estimate import calculate_maximum_sizes, estimate_training_usage
    from transformers import AutoModelForCausalLM

    config = _llama()  # LlamaConfig's defaults are Llama-2-7B's shape
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    fp32_bytes, _ = calculate_maximum_sizes(model)
    params = param_count(config)
    assert abs(fp32_bytes / 4 - params) / params < 1e-4  # accelerate counts the rotary buffer too
    assert 6.7e9 < params < 6.8e9
    plan = plan_memory(config, TrainConfig(lora_fallback=False), "sft", Gpus(1, 1000.0))
    states = plan.terms["weights"] + plan.terms["gradients + Adam states (+fp32 master)"]
    theirs = sum(estimate_training_usage(fp32_bytes, "bfloat16")[k] for k in ("model", "gradients", "optimizer")) / 1e9
    assert 0.85 < states / theirs <= 1.0  # accelerate counts 18 bytes a parameter (an fp32 copy of the grads), we 16
    eight = plan_memory(config, TrainConfig(lora_fallback=False), "sft", Gpus(8, 80.0))
    assert eight.strategy is Strategy.ZERO3
    sharded = eight.terms["weights"] + eight.terms["gradients + Adam states (+fp32 master)"]
    assert sharded == pytest.approx(16 * params / 8 / 1e9)  # ZeRO-3: (2 + 2 + 12) bytes a parameter / N GPUs


def test_7b_on_one_80gb_gpu_falls_back_to_lora():
    plan = plan_memory(_llama(), TrainConfig(), "sft", Gpus(1, 80.0))
    assert plan.strategy is Strategy.LORA
    assert plan.trainable < plan.params / 50
    assert plan.total_gb <= 80
    assert plan.tried and plan.tried[0].startswith("full fine-tuning on one GPU: 1")  # > 100 GB
    assert plan.apply(TrainConfig()).lora


def test_7b_without_lora_is_sharded_over_8_gpus_or_refused_with_the_numbers():
    cfg = TrainConfig(lora_fallback=False)
    assert plan_memory(_llama(), cfg, "sft", Gpus(8, 80.0)).strategy is Strategy.ZERO3
    refused = plan_memory(_llama(), cfg, "sft", Gpus(1, 80.0))
    assert refused.strategy is Strategy.REFUSED
    states = refused.terms["weights"] + refused.terms["gradients + Adam states (+fp32 master)"]
    assert 105 < states < 115  # "about 112 GB" is 16 bytes x 7e9; the exact count is 6.74e9
    from prover_loop.train.memory import refusal

    message = str(refusal(refused))
    assert f"{refused.terms['weights']:.2f} GB" in message and "80.0 GB" in message
    assert "gradient_checkpointing" in message and "train.lora" in message


def test_1b_fits_full_fine_tuning_and_checkpointing_cuts_activations():
    on = plan_memory(_1b(), TrainConfig(), "sft", Gpus(1, 80.0))
    assert on.strategy is Strategy.FULL and not on.tried
    act = lambda p: next(v for k, v in p.terms.items() if k.startswith("activations"))  # noqa: E731
    # with Llama-3's 128k vocabulary the logits are most of it; with 32k the layers' share shows
    off = plan_memory(_1b(), TrainConfig(gradient_checkpointing=False), "sft", Gpus(1, 80.0))
    assert act(on) < act(off)
    small_on, small_off = (plan_memory(_1b(32000), TrainConfig(gradient_checkpointing=c), "sft", Gpus(1, 80.0))
                           for c in (True, False))
    assert act(small_on) < act(small_off) / 3


def test_grpo_counts_the_reference_model_and_colocated_vllm():
    cfg = TrainConfig(grpo_beta=0.02, grpo_vllm_gpu_memory_utilization=0.3)
    plan = plan_memory(_1b(), cfg, "grpo", Gpus(1, 140.0))
    assert plan.terms["reference model (beta > 0)"] == pytest.approx(plan.terms["weights"])
    assert plan.terms["vLLM colocated (utilization x GPU)"] == pytest.approx(42.0)
    no_ref = plan_memory(_1b(), dataclasses.replace(cfg, grpo_beta=0.0), "grpo", Gpus(1, 140.0))
    assert "reference model (beta > 0)" not in no_ref.terms


def test_a_plan_for_a_gpu_is_made_on_a_cpu_from_the_config(tiny_model):
    from prover_loop.train.memory import plan_for

    plan = plan_for(TrainConfig(gpu_memory_gb=80), tiny_model)
    assert plan.strategy is Strategy.FULL and plan.gpus == Gpus(1, 80.0)
    with pytest.raises(ConfigError, match="does not fit"):
        plan_for(TrainConfig(gpu_memory_gb=0.5, lora_fallback=False), tiny_model)


def _export(tmp_path, rows: int = 4):
    data = tmp_path / "data"
    data.mkdir()
    lines = [json.dumps({"prompt": f"Prove {i} = {i}.", "completion": " rfl"}) for i in range(rows)]
    (data / "pairs.jsonl").write_text("\n".join(lines) + "\n")
    (data / "manifest.json").write_text(json.dumps({"format": "jsonl", "files": {"pairs.jsonl": "x"}}))
    return data


def test_training_drops_its_model_when_it_returns(tiny_model, tmp_path):
    from transformers import TrainerCallback

    from prover_loop.train.sft import train_sft

    seen = []

    class Watch(TrainerCallback):  # holds only a weak reference: it must not keep the model alive itself
        def on_train_begin(self, args, state, control, model=None, **kw):
            seen.append(weakref.ref(model))

    cfg = TrainConfig(max_steps=1, batch_size=2, max_length=64, device="cpu", save_steps=100)
    result = train_sft(_export(tmp_path), cfg, tmp_path / "out", tiny_model, callbacks=[Watch()])
    assert result.metrics["steps"] == 1
    assert seen and seen[0]() is None  # no gc.collect here: train_sft's release collected the trainer's cycles


def test_flywheel_train_plan_only_prints_the_plan_or_the_refusal(tiny_model, tmp_path, capsys):
    import yaml

    from orchestration.cli import main

    config = tmp_path / "flywheel.yaml"
    config.write_text(yaml.safe_dump({"generator": {"model": tiny_model}, "train": {"lora_fallback": False}}))
    assert main(["--config", str(config), "train", "--plan-only", "--gpu-memory-gb", "80"]) == 0
    out = capsys.readouterr().out
    assert "sft: memory plan: full fine-tuning on one GPU" in out and "1 GPU(s) of 80.0 GB" in out
    assert "gradients + Adam states" in out and "total per GPU" in out
    assert main(["--config", str(config), "train", "--plan-only", "--gpu-memory-gb", "0.1"]) != 0
    err = capsys.readouterr().err
    assert "does not fit in 1 GPU(s) of 0.1 GB" in err and "weights" in err
