"""The memory a training needs, term by term, against the GPUs present, and the way of training that fits:
full fine-tuning on one GPU, else LoRA (when allowed), else full fine-tuning sharded by DeepSpeed ZeRO-3 over
the node's GPUs (accelerate_configs/zero3.yaml), else a ConfigError naming each term in GB and the fix.

Bytes a parameter (mixed-precision Adam, the ZeRO paper's count): bf16 weights 2 + bf16 grads 2 + fp32 master 4
+ Adam's two fp32 moments 8 = 16; in fp32 (CPU) 4 + 4 + 8 = 16 too, with no master copy."""

from __future__ import annotations

import enum
import gc
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.config import TrainConfig
from flywheel.errors import ConfigError

log = logging.getLogger(__name__)
GB = 1e9
ZERO3_CONFIG = Path(__file__).parent / "accelerate_configs" / "zero3.yaml"
FSDP_CONFIG = Path(__file__).parent / "accelerate_configs" / "fsdp.yaml"
OVERHEAD_GB = 1.5  # CUDA context, cuBLAS workspace, allocator fragmentation: measured ~1-2 GB on one GPU
GRPO_PROMPT_TOKENS = 512  # TRL's GRPOConfig max_prompt_length default: prompt tokens before the completion
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


class Strategy(enum.Enum):
    FULL = "full fine-tuning on one GPU"
    LORA = "LoRA on one GPU"
    ZERO3 = "full fine-tuning sharded by ZeRO-3"
    CPU = "on CPU (no GPU memory to check)"
    REFUSED = "refused"


@dataclass(slots=True)
class Gpus:
    count: int
    memory_gb: float  # each


@dataclass(slots=True)
class MemoryPlan:
    strategy: Strategy
    params: int
    trainable: int
    terms: dict[str, float]  # GB each GPU holds, for the chosen (or, refused, the full fine-tuning) way
    gpus: Gpus | None
    tried: list[str] = field(default_factory=list)  # one line per way that did not fit

    @property
    def total_gb(self) -> float:
        return sum(self.terms.values())

    def describe(self) -> str:
        where = f"{self.gpus.count} GPU(s) of {self.gpus.memory_gb:.1f} GB" if self.gpus else "no GPU"
        lines = [f"memory plan: {self.strategy.value}; {self.params / 1e9:.3f} B parameters, "
                 f"{self.trainable / 1e9:.3f} B trainable; {where}"]
        lines += [f"  {name:<34} {gb:8.2f} GB" for name, gb in self.terms.items()]
        lines.append(f"  {'total per GPU':<34} {self.total_gb:8.2f} GB")
        lines += [f"  did not fit: {t}" for t in self.tried]
        return "\n".join(lines)

    def apply(self, cfg: TrainConfig) -> TrainConfig:
        """The config the trainer runs: LoRA on when the plan fell back to it."""
        if self.strategy is Strategy.LORA and not cfg.lora:
            from dataclasses import replace
            return replace(cfg, lora=True)
        return cfg


def _head_dim(c) -> int:
    return getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads


def linear_shapes(c) -> dict[str, tuple[int, int]]:
    """(in, out) of each linear layer of one decoder layer of a Llama/Qwen2/Mistral-shaped model."""
    h, kv = c.hidden_size, (getattr(c, "num_key_value_heads", None) or c.num_attention_heads) * _head_dim(c)
    q = c.num_attention_heads * _head_dim(c)
    return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
            "gate_proj": (h, c.intermediate_size), "up_proj": (h, c.intermediate_size),
            "down_proj": (c.intermediate_size, h)}


def param_count(c) -> int:
    """Exact parameter count of a Llama/Qwen2-shaped config: embeddings, per layer attention + SwiGLU MLP + two
    RMSNorms, the final norm, the LM head unless tied. Qwen2 puts a bias on q, k and v."""
    shapes = linear_shapes(c)
    per_layer = sum(i * o for i, o in shapes.values()) + 2 * c.hidden_size
    qkv_bias = getattr(c, "attention_bias", c.model_type == "qwen2")
    if qkv_bias:
        per_layer += sum(shapes[n][1] for n in ("q_proj", "k_proj", "v_proj"))
        if c.model_type != "qwen2":  # Llama's attention_bias covers o_proj too
            per_layer += c.hidden_size
    if getattr(c, "mlp_bias", False):
        per_layer += 2 * c.intermediate_size + c.hidden_size
    embed = c.vocab_size * c.hidden_size
    head = 0 if getattr(c, "tie_word_embeddings", False) else embed
    return embed + c.num_hidden_layers * per_layer + c.hidden_size + head


def lora_param_count(c, cfg: TrainConfig) -> int:
    """LoRA's trainable parameters: r * (in + out) for each targeted linear layer of every decoder layer."""
    targets = cfg.lora_target_modules
    shapes = linear_shapes(c)
    names = list(shapes) if targets == ["all-linear"] else [n for n in shapes if n in targets]
    return c.num_hidden_layers * sum(cfg.lora_r * sum(shapes[n]) for n in names)


def activations_gb(c, batch: int, seq: int, checkpointing: bool, bytes_: int) -> float:
    """Korthikanti et al. (2022): a layer keeps ~34·h values a token (16-bit, attention scores not stored: SDPA/
    flash attention), with the SwiGLU MLP's 3 intermediate tensors in place of GPT's 4h; with checkpointing only
    each layer's input is kept, plus one layer's full set while it is recomputed. Logits (and their fp32 upcast
    for the loss) come on top: they dominate for a large vocabulary."""
    tokens = batch * seq
    per_layer = bytes_ / 2 * tokens * (18 * c.hidden_size + 3 * c.intermediate_size)
    kept = c.num_hidden_layers * bytes_ * tokens * c.hidden_size + per_layer if checkpointing \
        else c.num_hidden_layers * per_layer
    logits = tokens * c.vocab_size * (bytes_ + 4)
    return (kept + logits) / GB


def _terms(c, cfg: TrainConfig, kind: str, gpus: Gpus | None, lora: bool, shards: int) -> tuple[dict, int]:
    params = param_count(c)
    bf16 = cfg.bf16 and gpus is not None
    w = 2 if bf16 else 4
    trainable = lora_param_count(c, cfg) if lora else params
    state = trainable * (w + 8 + (4 if bf16 else 0))  # grads, Adam moments, fp32 master under mixed precision
    terms = {"weights": params * w / shards / GB}
    if lora:
        terms["LoRA adapter weights"] = trainable * w / GB
    terms["gradients + Adam states (+fp32 master)"] = state / shards / GB
    if kind == "grpo":
        batch, seq = cfg.grpo_group_size * cfg.grpo_prompts_per_step, GRPO_PROMPT_TOKENS + cfg.grpo_max_completion_length
    else:
        batch, seq = cfg.batch_size, cfg.max_length
    ckpt = "with" if cfg.gradient_checkpointing else "without"
    terms[f"activations ({batch}x{seq} tokens, {ckpt} checkpointing)"] = activations_gb(
        c, batch, seq, cfg.gradient_checkpointing, w)
    if kind == "grpo" and cfg.grpo_beta > 0 and not lora:  # with LoRA the reference is the base, adapters off
        terms["reference model (beta > 0)"] = params * w / shards / GB
    if kind == "grpo" and gpus is not None and cfg.grpo_vllm_mode == "colocate":
        terms["vLLM colocated (utilization x GPU)"] = cfg.grpo_vllm_gpu_memory_utilization * gpus.memory_gb
    if gpus is not None:
        terms["CUDA context and allocator slack"] = OVERHEAD_GB
    return terms, trainable


def plan_memory(c, cfg: TrainConfig, kind: str, gpus: Gpus | None) -> MemoryPlan:
    """Pick the first way that fits: full, LoRA (if train.lora or train.lora_fallback), ZeRO-3 over the GPUs."""
    params = param_count(c)
    if gpus is None:
        terms, trainable = _terms(c, cfg, kind, None, cfg.lora, 1)
        return MemoryPlan(Strategy.CPU, params, trainable, terms, None)
    ways = [] if cfg.lora else [(Strategy.FULL, False, 1)]
    if cfg.lora or cfg.lora_fallback:
        ways.append((Strategy.LORA, True, 1))
    if gpus.count > 1 and not cfg.lora:
        ways.append((Strategy.ZERO3, False, gpus.count))
    tried, first = [], None
    for strategy, lora, shards in ways:
        terms, trainable = _terms(c, cfg, kind, gpus, lora, shards)
        plan = MemoryPlan(strategy, params, trainable, terms, gpus, tried)
        if plan.total_gb <= gpus.memory_gb:
            return plan
        first = first or plan
        tried.append(f"{strategy.value}: {plan.total_gb:.1f} GB > {gpus.memory_gb:.1f} GB")
    return MemoryPlan(Strategy.REFUSED, params, first.trainable, first.terms, gpus, tried)


def refusal(plan: MemoryPlan) -> ConfigError:
    return ConfigError(
        f"the training does not fit in {plan.gpus.count} GPU(s) of {plan.gpus.memory_gb:.1f} GB:\n{plan.describe()}\n"
        "fix: a smaller train.batch_size or train.max_length, train.gradient_checkpointing: true, train.lora: true "
        "(or train.lora_fallback: true), more GPUs (ZeRO-3 shards weights, gradients and Adam states), or a "
        "smaller base model")


def gpus_present(cfg: TrainConfig) -> Gpus | None:
    """train.gpu_memory_gb (and train.gpu_count) when given, so a plan can be made for a GPU on a CPU; else what
    torch sees (the free memory of GPU 0, as vLLM's and other processes' holdings are not ours to use)."""
    if cfg.gpu_memory_gb is not None:
        return Gpus(cfg.gpu_count or 1, float(cfg.gpu_memory_gb))
    import torch

    if cfg.device == "cpu" or not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info(0)
    return Gpus(cfg.gpu_count or torch.cuda.device_count(), free / GB)


def trainer_gpus(cfg: TrainConfig, kind: str, gpus: Gpus | None) -> Gpus | None:
    """The GPUs training gets: in GRPO's server mode, those `trl vllm-serve` does not hold."""
    if gpus is None or kind != "grpo" or cfg.grpo_vllm_mode != "server" or not cfg.grpo_generation_gpus:
        return gpus
    left = gpus.count - cfg.grpo_generation_gpus
    if left < 1:
        raise ConfigError(f"train.grpo_vllm_mode server: the vLLM server holds train.grpo_generation_gpus = "
                          f"{cfg.grpo_generation_gpus} of the node's {gpus.count} GPU(s), none is left to train on "
                          f"(fewer generation GPUs, more GPUs, or grpo_generation_gpus: 0 with the server elsewhere)")
    return Gpus(left, gpus.memory_gb)


def plan_for(cfg: TrainConfig, base_model: str, kind: str = "sft") -> MemoryPlan:
    """The plan for training `base_model` (a hub name or folder: only its config.json is read); raises the
    refusal when nothing fits."""
    from transformers import AutoConfig

    try:
        c = AutoConfig.from_pretrained(base_model)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the model config of {base_model!r} to plan its memory: {e}") from e
    c = getattr(c, "text_config", c) if not hasattr(c, "hidden_size") else c
    plan = plan_memory(c, cfg, kind, trainer_gpus(cfg, kind, gpus_present(cfg)))
    if plan.strategy is Strategy.REFUSED:
        raise refusal(plan)
    return plan


def training_plan(cfg: TrainConfig, base_model: str, kind: str) -> MemoryPlan:
    """The plan each training process follows; a sharded plan in a single process is refused with the launch
    that runs it (accelerate launch starts one process a GPU and sets WORLD_SIZE)."""
    plan = plan_for(cfg, base_model, kind)
    log.info("%s", plan.describe())
    if plan.strategy is Strategy.ZERO3 and int(os.environ.get("WORLD_SIZE", "1")) < 2:
        raise ConfigError(f"{plan.describe()}\nfix: train sharded over the {plan.gpus.count} GPUs: flywheel train "
                          f"--accelerate-config {ZERO3_CONFIG} (DeepSpeed) or {FSDP_CONFIG} (PyTorch FSDP)")
    return plan


def model_init_kwargs(cfg: TrainConfig, cpu: bool) -> dict:
    """Load the weights in bf16 on a GPU: by name TRL would load them in fp32, twice the memory the plan counts."""
    return {"dtype": "bfloat16"} if cfg.bf16 and not cpu else {"dtype": "float32"}


def release_memory() -> None:
    """Give PyTorch's cached GPU memory back once the trainer's references are gone, before vLLM asks for its
    share of the GPU: freed tensors stay in the caching allocator until empty_cache, unseen by other processes."""
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
