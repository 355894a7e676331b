"""Typed configuration: one dataclass per component, loaded from YAML, overridden by FLYWHEEL_* variables
and flags. Nothing here reads the environment at import time."""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from flywheel.benchmarks import BUNDLED, EVALUATED
from flywheel.config_load import build, env_overrides, leaves, merge, namer, read_file
from flywheel.errors import ConfigError

DEFAULT_HEADER = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
    "open BigOperators Real Nat Topology Rat\n\n"
)


@dataclass(slots=True)
class DbConfig:
    url: str | None = None  # None: the embedded PostgreSQL under the user's data directory
    data_dir: str | None = None  # where the embedded server lives; None: platformdirs' user data dir
    echo: bool = False


@dataclass(slots=True)
class LeanConfig:
    repl: str | None = None  # REPL command; None: the one `flywheel lean setup` built
    project_dir: str | None = None  # the Lake project; None: <data dir>/lean
    lean_version: str = "v4.26.0"
    mathlib_rev: str = "v4.26.0"
    repl_rev: str = "v4.26.0"
    header: str = DEFAULT_HEADER
    timeout_s: float = 60.0
    # A filter's check that timed out or crashed is tried again this many times (waiting infra_backoff_s,
    # doubled each try) before its statement is recorded infra_failed: a verdict on Lean, not on the statement.
    infra_retries: int = 2
    infra_backoff_s: float = 1.0
    workers: int = 1  # REPL processes in all, across headers (the least recently used header gives way)
    memory_limit_mb: int = 8192  # address-space cap per REPL process
    rss_limit_mb: int = 6144  # restart a REPL whose resident memory passed this
    # An answer past this many MB (a proof that makes Lean print without end: deep traces, a term
    # pretty-printed at full depth) is not read on: the check fails and the process is replaced.
    max_answer_mb: int = 64
    max_checks_per_process: int = 0  # restart a REPL after this many checks; 0: only on memory (rss_limit_mb)
    max_heartbeats: int = 400000  # the largest maxHeartbeats (and synthInstance.maxHeartbeats) code may set
    max_rec_depth: int = 10000  # the largest maxRecDepth code may set
    allow_native_decide: bool = False
    allowed_axioms: list[str] = field(default_factory=lambda: ["propext", "Classical.choice", "Quot.sound"])
    dojo_cache_dir: str | None = None
    head_cache_dir: str | None = None  # statement heads kept across runs; None: <data dir>/lean_heads; "": none
    dojo_memory_limit_mb: int = 16384
    # The audit's tools where there is no Lake project (a REPL command and LEAN_PATH): `compiler` is the `lean`
    # command that compiles its modules (None: `lake env lean` in project_dir); `checker` the lean4checker
    # command that replays them (None there: the replay is not run, and each audited proof records so).
    compiler: str | None = None
    checker: str | None = None


# The open prover the main job (scripts/run.sh) uses when no model is configured: one model that formalizes and
# proves, as DeepSeek-Prover V1 did with one model. Not GeneratorConfig.model's default: a command run without
# a model must say so, not start downloading 14 GB.
DEFAULT_MODEL = "deepseek-ai/DeepSeek-Prover-V1.5-SFT"


@dataclass(slots=True)
class GeneratorConfig:
    backend: str = "hf"  # vllm | openai | hf
    model: str | None = None  # a local path or a hub name; scripts/run.sh uses DEFAULT_MODEL when none is set
    tensor_parallel_size: int = 1
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    enable_prefix_caching: bool = True
    enforce_eager: bool = False  # skip graph capture/compilation (faster start, slower steps)
    # vllm back end: each request goes to vLLM's asynchronous engine as a strategy proposes it and is answered as
    # it finishes (continuous batching: no request waits for a batch's slowest); false: one LLM.generate a batch
    vllm_async: bool = True
    base_url: str | None = None  # openai back end
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 32
    max_retries: int = 5
    request_timeout_s: float = 600.0
    device: str = "auto"  # hf back end
    batch_size: int = 16  # hf back end: sequences generated together
    trust_remote_code: bool = False  # vllm and hf: run the model repository's own code
    extra_body: dict[str, Any] = field(default_factory=dict)  # openai back end: extra request fields (top_k, ...)
    seed: int = 0
    lora_adapter: str | None = None  # vllm back end: a LoRA adapter folder served on `model` (a trained checkpoint's)
    max_lora_rank: int = 64  # vllm back end with an adapter: the largest LoRA rank it accepts


@dataclass(slots=True)
class SamplingConfig:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 2048
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass(slots=True)
class AutoformalizeConfig:
    samples: int = 4
    template: str | None = None  # a file; None: DeepSeek-Prover V1's prompt
    few_shot: int = 3
    few_shot_file: str | None = None  # None: the bundled miniF2F-valid examples
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.8, max_tokens=1024))


@dataclass(slots=True)
class FilterConfig:
    compile: bool = True
    dedup: bool = True
    decontaminate: bool = True
    benchmarks: list[str] = field(default_factory=lambda: ["minif2f", "proofnet"])
    ngram: int = 5
    jaccard_threshold: float = 0.8
    grade: bool = True
    min_grade: str = "above average"  # excellent > good > above average > fair > poor
    grade_retries: int = 2
    grade_sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.0, max_tokens=1024))


@dataclass(slots=True)
class ProverConfig:
    model: str | None = None  # pins the prover; None: the latest trained checkpoint, else generator.model
    samples_per_side: int = 8
    passes: int = 1
    wall_time_s: float = 3600.0
    negation_form: str = "hyps"  # hyps: hyps ⊢ ¬concl; forall: ⊢ ¬ ∀ binders, concl
    # completion: the model continues the code block (DeepSeek-Prover-V1.5); chat: the statement is asked in a
    # chat turn and the answer's last Lean block is taken (reasoning provers: Kimina, Goedel-V2, DeepSeek-V2)
    prompt_style: str = "completion"
    prove_negation: bool = True
    hypothesis_rejection: bool = True
    false_hyps_samples: int = 4
    template: str | None = None
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=1.0, max_tokens=2048))
    generator: GeneratorConfig | None = None  # the prover's own Generator; None: generator (model: as above)
    # How each statement side is proved (prover_loop/strategies); a list runs one after another on a side, each
    # with what the budget has left: sample (samples_per_side whole proofs) | repair (each failed one revised
    # from Lean's errors, up to repair_turns times)
    strategy: list[str] = field(default_factory=lambda: ["sample"])
    budget_checks: int = 0  # Lean checks per statement side and pass; 0: unlimited
    budget_tokens: int = 0  # generated tokens per statement side and pass; 0: unlimited
    repair_turns: int = 1  # revisions of one failed proof (repair)
    repair_errors: int = 3  # Lean's errors shown in a repair prompt, each with its goal and the code around it
    sketches: int = 2  # decompose: proof sketches asked of the sketcher per side
    lemma_samples: int = 4  # decompose: first answers per side of each subgoal lemma
    lemma_strategy: list[str] = field(default_factory=lambda: ["sample"])  # decompose: how each lemma is proved
    lemma_examples: int = 2  # decompose: proved lemmas equal up to binder names shown in a lemma's prompt; 0: none
    rmaxts: RmaxtsConfig = field(default_factory=lambda: RmaxtsConfig())  # the tree search (strategy rmaxts)


@dataclass(slots=True)
class RmaxtsConfig:
    """prover.strategy rmaxts: the tree search's constants and its budget in rollouts per statement side and pass."""

    rollouts: int = 32
    in_flight: int = 8  # rollouts of one tree out at once (on the Lean pool and the generator)
    ucb_c: float = 1.0  # the exploration constant of the discounted UCB
    discount: float = 0.99  # the weight of a reward per newer one after it
    virtual_loss: int = 1  # zero rewards an in-flight rollout weighs on its path as


@dataclass(slots=True)
class EvalConfig:
    """`flywheel eval` and the round's evaluate stage: pass@k of the prover on a shipped benchmark."""

    benchmark: str = "minif2f"  # minif2f | proofnet | synthetic (flywheel/synthetic.py, split test)
    split: str = "test"  # valid | test
    n: int = 32  # proofs sampled per problem
    k: list[int] = field(default_factory=lambda: [1, 8, 32])
    limit: int | None = None  # the first problems of the split only (a quick look)


@dataclass(slots=True)
class RunConfig:
    rounds: int = 1
    train: bool = True  # the train stage: SFT of the next prover on everything verified so far
    evaluate: bool = True  # the evaluate stage: pass@k of the new checkpoint (the eval section)
    workers: int = 1
    ray_address: str | None = None
    log_dir: str | None = None


@dataclass(slots=True)
class TrainConfig:
    """Supervised fine-tuning of the next prover (prover_loop/train): TRL's SFTTrainer on the verified pairs."""

    base_model: str | None = None  # None: the model that proved this round (prover, else generator)
    lora: bool = False  # LoRA through PEFT instead of full fine-tuning
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    lora_serve: str = "merge"  # merge: the next round loads base + adapter merged; adapter: vLLM serves the adapter
    epochs: float = 1.0
    max_steps: int = -1  # > 0: stop after this many optimizer steps, whatever epochs says
    lr: float = 1e-5
    lr_scheduler: str = "cosine"  # any transformers scheduler name: linear, cosine, constant, ...
    warmup: float = 0.0  # linear warm-up: a number of steps, or a fraction (< 1) of all steps
    weight_decay: float = 0.0
    batch_size: int = 8  # sequences per device and step
    grad_accumulation: int = 1
    max_length: int = 2048  # tokens; longer pairs are cut
    packing: bool = False
    bf16: bool = True
    # recompute each layer's activations in the backward pass: a few % slower, activations cut to a layer's input
    gradient_checkpointing: bool = True
    lora_fallback: bool = True  # full fine-tuning does not fit (prover_loop/train/memory.py): LoRA instead
    gpu_memory_gb: float | None = None  # plan for GPUs of this size (e.g. on a CPU); None: what torch sees
    gpu_count: int | None = None  # GPUs of the node to shard over; None: what torch sees
    seed: int = 0
    save_steps: int = 200  # a resumable checkpoint every N optimizer steps
    save_total_limit: int = 2
    logging_steps: int = 1
    device: str = "auto"  # auto | cpu | cuda
    sides: list[str] = field(default_factory=lambda: ["statement", "negation"])
    exclude_benchmarks: list[str] = field(default_factory=lambda: ["minif2f", "proofnet"])
    include_unaudited: bool = False
    formalizer_too: bool = False  # the checkpoint formalizes too next round (DeepSeek-Prover V1: one model for both)
    out_dir: str = "runs/checkpoints"  # round-N/ under it; on several nodes, a folder every node shares
    accelerate_config: str | None = None  # an accelerate config file: DDP, FSDP or DeepSpeed on one node
    # where a one-process training runs: child (a process of its own, whose exit returns every byte of GPU memory
    # before generation loads again) | here (this process; what it held is freed as far as PyTorch can) |
    # auto (child when training on a GPU, here on a CPU)
    process: str = "auto"
    ray_workers: int = 1  # Ray Train workers (with --ray-address)
    ray_use_gpu: bool = True
    # sft | grpo (RL with Lean's verdicts as the reward, from the current prover) | sft+grpo (GRPO after this SFT)
    method: str = "sft"
    grpo_group_size: int = 8  # G: completions sampled per prompt; advantages are relative to the group
    grpo_prompts_per_step: int = 1  # prompts per device and optimizer step (each with its G completions)
    grpo_steps: int = 100
    grpo_lr: float = 5e-6
    grpo_beta: float = 0.02  # KL coefficient against the starting model (DeepSeek-Prover-V1.5: 0.02)
    grpo_epsilon: float = 0.2  # the clip range of the policy ratio
    grpo_loss_type: str = "dapo"  # TRL's loss aggregations: grpo, dr_grpo, dapo, bnpo
    grpo_max_completion_length: int = 1024  # tokens
    grpo_temperature: float = 1.0
    grpo_format_reward: float = 0.0  # added to Lean's 1/0 for an answer that holds a proof to check
    grpo_vllm_mode: str = "colocate"  # on a GPU: colocate (vLLM in the trainer's process) | server
    grpo_vllm_server_url: str | None = None  # vllm_mode server: the `trl vllm-serve` URL
    grpo_vllm_server_timeout_s: float = 240.0  # vllm_mode server: how long the trainer waits for the server to answer
    grpo_generation_gpus: int = 1  # vllm_mode server: this node's GPUs `trl vllm-serve` holds (0: it runs elsewhere)
    # Lean checks of one step's rollouts at once (REPLs opened for them, beside lean.workers); 0: every rollout of a
    # step (group size x prompts per step), so that the trainer waits for one check, not for the group in a queue
    grpo_reward_workers: int = 0
    grpo_vllm_gpu_memory_utilization: float = 0.3  # colocate: vLLM's share of the GPU (TRL's default)
    curriculum_low: float = 0.0  # the band of pass rates trained on: low < rate <= high
    curriculum_high: float = 0.25
    curriculum_min_attempts: int = 8  # fewer stored attempts by the prover: a sampling pass tops them up
    curriculum_max_prompts: int = 512  # the most statement sides trained on (the lowest rates in the band first)


# The audit's checks, in the order it runs them (flywheel.lean.audit.checks): the guard of today, the proof module
# compiled on its own, lean4checker's kernel replay, the trusted module's `#print axioms`, the proved type
# against the statement elaborated on its own.
AUDIT_CHECKS = ("guard", "compile", "replay", "axioms", "type")


@dataclass(slots=True)
class ExportConfig:
    # An audited proof is exported (and trained on) only when its audit ran every one of these checks; one
    # audited with fewer (a toolchain without lean4checker) counts as not audited yet.
    require_checks: list[str] = field(default_factory=lambda: list(AUDIT_CHECKS))


@dataclass(slots=True)
class Config:
    db: DbConfig = field(default_factory=DbConfig)
    lean: LeanConfig = field(default_factory=LeanConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    grader: GeneratorConfig | None = None  # None: the generator grades
    formalizer: GeneratorConfig | None = None  # None: the generator formalizes
    sketcher: GeneratorConfig | None = None  # decompose's proof sketches; None: the prover sketches
    autoformalize: AutoformalizeConfig = field(default_factory=AutoformalizeConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    prover: ProverConfig = field(default_factory=ProverConfig)
    run: RunConfig = field(default_factory=RunConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


# Short names users already know; the general form is FLYWHEEL_<SECTION>__<FIELD>.
ENV_ALIASES = {
    "FLYWHEEL_DB_URL": ("db", "url"),
    "FLYWHEEL_DATA_DIR": ("db", "data_dir"),
    "FLYWHEEL_LEAN_REPL": ("lean", "repl"),
    "FLYWHEEL_LEAN_PROJECT": ("lean", "project_dir"),
}


BACKENDS = ("vllm", "openai", "hf")
DTYPES = ("auto", "float32", "bfloat16", "float16")
GRADES = ("excellent", "good", "above average", "fair", "poor")  # best first
STRATEGIES = ("sample", "repair", "rmaxts", "decompose")  # prover_loop/strategies/<name>.py each

# Fields that take one of a few words (each item, for a list), checked before anything starts.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("GeneratorConfig", "backend"): BACKENDS,
    ("GeneratorConfig", "dtype"): DTYPES,
    ("FilterConfig", "min_grade"): GRADES,
    ("FilterConfig", "benchmarks"): BUNDLED,
    ("ProverConfig", "negation_form"): ("hyps", "forall"),
    ("ProverConfig", "prompt_style"): ("completion", "chat"),
    ("ProverConfig", "strategy"): STRATEGIES,
    ("ProverConfig", "lemma_strategy"): tuple(s for s in STRATEGIES if s != "decompose"),
    ("EvalConfig", "benchmark"): EVALUATED,
    ("EvalConfig", "split"): ("valid", "test"),
    ("TrainConfig", "lora_serve"): ("merge", "adapter"),
    ("TrainConfig", "device"): ("auto", "cpu", "cuda"),
    ("TrainConfig", "sides"): ("statement", "negation", "false_hyps"),
    ("TrainConfig", "exclude_benchmarks"): BUNDLED,
    ("TrainConfig", "method"): ("sft", "grpo", "sft+grpo"),
    ("TrainConfig", "grpo_loss_type"): ("grpo", "dr_grpo", "dapo", "bnpo"),
    ("TrainConfig", "grpo_vllm_mode"): ("colocate", "server"),
    ("TrainConfig", "process"): ("auto", "child", "here"),
    ("ExportConfig", "require_checks"): AUDIT_CHECKS,
}


@dataclass(slots=True, frozen=True)
class Range:
    """The numbers a field admits; None: unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low bound itself is refused

    def admits(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        low = f"{self.low:g}"
        if self.high is not None:
            return f"in {'(' if self.low_open else '['}{low}, {self.high:g}]"
        return f"more than {low}" if self.low_open else f"{low} or more"


COUNT, COUNT0, POSITIVE, FRACTION, SHARE = Range(1), Range(0), Range(0, low_open=True), Range(0, 1), Range(0, 1, True)

# Number fields and their bounds, checked before anything starts (None, where allowed, is not checked).
RANGES: dict[tuple[str, str], Range] = {
    **{("LeanConfig", f): COUNT for f in ("workers", "memory_limit_mb", "rss_limit_mb", "max_heartbeats",
                                          "max_rec_depth", "dojo_memory_limit_mb", "max_answer_mb")},
    ("LeanConfig", "max_checks_per_process"): COUNT0,  # 0: no count limit, restarts on memory alone
    ("LeanConfig", "timeout_s"): POSITIVE,
    ("LeanConfig", "infra_retries"): COUNT0,
    ("LeanConfig", "infra_backoff_s"): COUNT0,
    **{("GeneratorConfig", f): COUNT for f in ("tensor_parallel_size", "max_model_len", "max_concurrency",
                                               "batch_size")},
    ("GeneratorConfig", "max_retries"): COUNT0,
    ("GeneratorConfig", "seed"): COUNT0,
    ("GeneratorConfig", "gpu_memory_utilization"): SHARE,
    ("GeneratorConfig", "request_timeout_s"): POSITIVE,
    ("SamplingConfig", "n"): COUNT,
    ("SamplingConfig", "max_tokens"): COUNT,
    ("SamplingConfig", "temperature"): COUNT0,
    ("SamplingConfig", "top_p"): SHARE,
    ("SamplingConfig", "seed"): COUNT0,
    ("AutoformalizeConfig", "samples"): COUNT,
    ("AutoformalizeConfig", "few_shot"): COUNT0,
    ("FilterConfig", "ngram"): COUNT,
    ("FilterConfig", "jaccard_threshold"): FRACTION,
    ("FilterConfig", "grade_retries"): COUNT0,
    **{("ProverConfig", f): COUNT for f in ("samples_per_side", "passes", "false_hyps_samples")},
    **{("ProverConfig", f): COUNT0 for f in ("budget_checks", "budget_tokens", "repair_turns", "lemma_examples")},
    ("ProverConfig", "repair_errors"): COUNT,
    **{("ProverConfig", f): COUNT for f in ("sketches", "lemma_samples")},
    ("ProverConfig", "wall_time_s"): POSITIVE,
    **{("RmaxtsConfig", f): COUNT for f in ("rollouts", "in_flight", "virtual_loss")},
    ("RmaxtsConfig", "ucb_c"): COUNT0,
    ("RmaxtsConfig", "discount"): SHARE,
    ("RunConfig", "rounds"): COUNT,
    ("RunConfig", "workers"): COUNT,
    ("EvalConfig", "n"): COUNT,
    ("EvalConfig", "limit"): COUNT,
    **{("TrainConfig", f): COUNT for f in ("lora_r", "lora_alpha", "batch_size", "grad_accumulation", "max_length",
                                           "save_steps", "save_total_limit", "logging_steps", "ray_workers")},
    ("TrainConfig", "lora_dropout"): Range(0, 1),
    ("TrainConfig", "epochs"): POSITIVE,
    ("TrainConfig", "lr"): POSITIVE,
    ("TrainConfig", "warmup"): COUNT0,
    ("TrainConfig", "weight_decay"): COUNT0,
    ("TrainConfig", "seed"): COUNT0,
    **{("TrainConfig", f): COUNT for f in ("grpo_prompts_per_step", "grpo_steps", "grpo_max_completion_length",
                                           "curriculum_min_attempts", "curriculum_max_prompts")},
    ("TrainConfig", "grpo_group_size"): Range(2),  # one completion has no group to be compared with
    ("TrainConfig", "grpo_lr"): POSITIVE,
    ("TrainConfig", "grpo_beta"): COUNT0,
    ("TrainConfig", "grpo_epsilon"): POSITIVE,
    ("TrainConfig", "grpo_temperature"): POSITIVE,
    ("TrainConfig", "grpo_format_reward"): COUNT0,
    ("TrainConfig", "grpo_vllm_server_timeout_s"): POSITIVE,
    ("TrainConfig", "grpo_generation_gpus"): COUNT0,
    ("TrainConfig", "grpo_reward_workers"): COUNT0,
    ("TrainConfig", "curriculum_low"): FRACTION,
    ("TrainConfig", "curriculum_high"): FRACTION,
}

Name = Callable[[str], str]


def _field_problems(obj: Any, where: str, name: Name) -> Iterator[str]:
    for f in dataclasses.fields(obj):
        path, value = f"{where}.{f.name}" if where else f.name, getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _field_problems(value, path, name)
            continue
        key = (type(obj).__name__, f.name)
        if key in CHOICES and value is not None:
            items = enumerate(value) if isinstance(value, list) else [(None, value)]
            for i, v in items:
                if v not in CHOICES[key]:
                    at = path if i is None else f"{path}[{i}]"
                    yield f"{name(at)}: expected one of {', '.join(CHOICES[key])}, got {v!r}"
        if key in RANGES and value is not None and not RANGES[key].admits(value):
            yield f"{name(path)}: must be {RANGES[key]}, got {value!r}"


def _rule_problems(cfg: Config, name: Name) -> Iterator[str]:
    """Rules across fields; each message names every field it involves."""
    lean = cfg.lean
    if lean.rss_limit_mb >= lean.memory_limit_mb:
        yield (f"{name('lean.rss_limit_mb')}: must be below {name('lean.memory_limit_mb')} "
               f"({lean.rss_limit_mb} >= {lean.memory_limit_mb}): a REPL restarts at its RSS limit before its "
               f"address space runs out")
    if lean.checker and lean.checker.strip() and not (lean.compiler and lean.compiler.strip()):
        yield (f"{name('lean.checker')}: only taken with {name('lean.compiler')} (without it the audit runs the "
               f"lean4checker `flywheel lean setup` built in the Lake project)")
    for field_name in ("compiler", "checker"):
        value = getattr(lean, field_name)
        if value is not None:
            try:
                shlex.split(value)
            except ValueError as e:
                yield f"{name('lean.' + field_name)}: cannot split {value!r} into a command: {e}"
    for section in ("generator", "grader", "sketcher"):
        gen = getattr(cfg, section)
        if gen is None:
            continue
        if gen.backend == "openai" and not gen.base_url:
            yield f"{name(section + '.backend')}: openai needs {section}.base_url, the server's URL"
        if gen.max_model_len is not None:
            for where in ("autoformalize.sampling", "filters.grade_sampling", "prover.sampling"):
                tokens = _get(cfg, where + ".max_tokens")
                if tokens >= gen.max_model_len:
                    yield (f"{name(where + '.max_tokens')}: must be below {name(section + '.max_model_len')} "
                           f"({tokens} >= {gen.max_model_len})")


def _train_problems(train: TrainConfig, name: Name) -> Iterator[str]:
    if train.curriculum_low >= train.curriculum_high:
        yield (f"{name('train.curriculum_low')}: must be below {name('train.curriculum_high')} "
               f"({train.curriculum_low:g} >= {train.curriculum_high:g}): the band (low, high] would be empty")
    if train.grpo_vllm_mode == "server" and not train.grpo_vllm_server_url and train.method != "sft":
        yield f"{name('train.grpo_vllm_mode')}: server needs train.grpo_vllm_server_url (a `trl vllm-serve` URL)"


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: Config, name: Name | None = None) -> None:
    """Every choice, range and cross-field rule at once; one ConfigError listing each problem."""
    name = name or (lambda path: path)
    problems = [*_field_problems(cfg, "", name), *_rule_problems(cfg, name), *_train_problems(cfg.train, name)]
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} problems in the config:\n  " + "\n  ".join(problems))


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """File < FLYWHEEL_* environment < explicit overrides (flags, as a nested mapping); then validated whole.
    Errors name the file and key, or the variable, that set the value."""
    tree: dict[str, Any] = {}
    if path is not None:
        tree = read_file(Path(path))
    file_keys = set(leaves(tree))
    origins: dict[str, str] = {}
    tree = merge(tree, env_overrides(os.environ if environ is None else environ, ENV_ALIASES, origins))
    if overrides:
        tree = merge(tree, overrides)
        for dotted in leaves(overrides):
            origins.pop(dotted, None)  # a flag beat the variable
    name = namer(str(path) if path is not None else None, file_keys, origins)
    cfg = build(Config, tree, "", name)
    validate(cfg, name)
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
