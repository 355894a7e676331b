"""Models per role: each role's own Generator config, else `generator`; a checkpoint proves next round (and
formalizes where train.formalizer_too says so); an adapter is served by vLLM only."""

import dataclasses
from types import SimpleNamespace

import pytest

from flywheel.config import load_config
from flywheel.errors import ConfigError
from flywheel.llm.base import make_generator
from flywheel.llm.vllm_backend import engine_kwargs
from flywheel.roles import round_roles, serving

MERGED = SimpleNamespace(path="/ck/round-1/model", serve="merged", base_model="base")
ADAPTER = SimpleNamespace(path="/ck/round-1/adapter", serve="adapter", base_model="base")


def test_roles_fall_back_to_generator():
    cfg = load_config(None, {"generator": {"model": "g", "backend": "vllm"},
                             "grader": {"backend": "openai", "base_url": "http://judge/v1", "model": "judge"}}, {})
    roles = round_roles(cfg)
    assert roles["formalizer"].model == roles["prover"].model == "g" and roles["grader"].model == "judge"
    cfg = load_config(None, {"generator": {"model": "g"}, "formalizer": {"model": "f"},
                             "prover": {"generator": {"model": "p", "backend": "vllm"}}}, {})
    roles = round_roles(cfg)
    assert [roles[r].model for r in ("formalizer", "grader", "prover")] == ["f", "g", "p"]
    assert roles["prover"].backend == "vllm"


def test_the_checkpoint_proves_and_formalizes_only_where_configured():
    cfg = load_config(None, {"generator": {"model": "g"}, "formalizer": {"model": "f"}}, {})
    roles = round_roles(cfg, MERGED)
    assert roles["prover"].model == MERGED.path and roles["formalizer"].model == "f"
    cfg.train.formalizer_too = True
    assert round_roles(cfg, MERGED)["formalizer"].model == MERGED.path
    cfg.prover.model = "pinned"
    assert round_roles(cfg, MERGED)["prover"].model == "pinned"


def test_an_adapter_is_a_vllm_lora_request_on_its_base():
    cfg = load_config(None, {"generator": {"model": "g", "backend": "vllm"}}, {})
    prover = round_roles(cfg, ADAPTER)["prover"]
    assert (prover.model, prover.lora_adapter) == ("base", ADAPTER.path)
    kwargs = engine_kwargs(prover)
    assert (kwargs["model"], kwargs["enable_lora"], kwargs["max_lora_rank"], kwargs["max_loras"]) == ("base", True, 64, 1)
    assert "enable_lora" not in engine_kwargs(serving(prover, MERGED.path, "merged", "base"))
    hf = load_config(None, {"generator": {"model": "g", "backend": "hf"}}, {}).generator
    with pytest.raises(ConfigError, match="vllm back end only"):
        serving(hf, ADAPTER.path, "adapter", "base")
    with pytest.raises(ConfigError, match="only the vllm back end"):
        make_generator(dataclasses.replace(hf, lora_adapter="/a"))


def test_the_next_prover_and_an_evaluated_checkpoint_are_served_as_trained(store):
    """An adapter checkpoint is served on its base model (vLLM LoRA), by the round's prover and by
    `flywheel eval --checkpoint ID`; a merged one is the model itself; attempts name the checkpoint."""
    from db.checkpoints import save_checkpoint
    from flywheel.config import load_config
    from orchestration.eval_stage import model_name, prover_model, resolve_checkpoint

    cfg = load_config(overrides={"generator": {"backend": "vllm", "model": "base/model"}}, environ={})
    with store.session() as s:
        merged = save_checkpoint(s, 1, "/ckpt/round-1", "base/model", None, {}, "sft", "merged", None, {})
        adapter = save_checkpoint(s, 2, "/ckpt/round-2", "base/model", None, {}, "sft", "adapter", "/ckpt/round-2", {})
    wanted, ident = prover_model(store, cfg, 2)
    assert (wanted.model, wanted.lora_adapter, ident) == ("/ckpt/round-1", None, merged)
    wanted, ident = prover_model(store, cfg, 3)
    assert (wanted.model, wanted.lora_adapter, ident) == ("base/model", "/ckpt/round-2", adapter)
    assert model_name(wanted) == "/ckpt/round-2"
    wanted, ident = resolve_checkpoint(store, cfg, str(adapter))
    assert (wanted.model, wanted.lora_adapter, ident) == ("base/model", "/ckpt/round-2", adapter)
    wanted, _ = resolve_checkpoint(store, cfg, "/some/model")
    assert (wanted.model, wanted.lora_adapter) == ("/some/model", None)
