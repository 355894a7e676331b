"""Models per role: the formalizer, the grader and the prover each have a Generator config of their own,
falling back to `generator`; a trained checkpoint becomes the next round's prover (and formalizer, where
train.formalizer_too says so, as DeepSeek-Prover V1 used one model for both)."""

from __future__ import annotations

import dataclasses

from flywheel.config import Config, GeneratorConfig
from flywheel.errors import ConfigError

ROLES = ("formalizer", "grader", "prover", "sketcher")


def role_config(cfg: Config, role: str) -> GeneratorConfig:
    """The role's own section (formalizer, grader, prover.generator), else generator."""
    own = {"formalizer": cfg.formalizer, "grader": cfg.grader, "prover": cfg.prover.generator,
           "sketcher": cfg.sketcher}
    if role not in own:
        raise ConfigError(f"no model role {role!r} (roles: {', '.join(ROLES)})")
    if role == "sketcher" and own[role] is None:
        return role_config(cfg, "prover")
    return own[role] or cfg.generator


def serving(gen: GeneratorConfig, path: str, serve: str | None, base_model: str | None) -> GeneratorConfig:
    """`gen` generating with a trained checkpoint: a full or merged model folder is the model itself; a LoRA
    adapter is served on its base model by vLLM (a LoRA request on every generation)."""
    if serve != "adapter":
        return dataclasses.replace(gen, model=path, lora_adapter=None)
    if gen.backend != "vllm":
        raise ConfigError(f"a LoRA adapter is served by the vllm back end only, not {gen.backend!r}: "
                          "train with train.lora_serve: merge to get a model every back end loads")
    return dataclasses.replace(gen, model=base_model, lora_adapter=path)


def round_roles(cfg: Config, checkpoint=None) -> dict[str, GeneratorConfig]:
    """Each role's Generator config for a round; `checkpoint` (a `checkpoints` row: path, serve, base_model),
    the latest one trained before the round, proves unless prover.model pins a model."""
    roles = {role: role_config(cfg, role) for role in ROLES}
    if cfg.prover.model:
        roles["prover"] = dataclasses.replace(roles["prover"], model=cfg.prover.model)
    elif checkpoint is not None:
        roles["prover"] = serving(roles["prover"], checkpoint.path, checkpoint.serve, checkpoint.base_model)
    if cfg.sketcher is None:  # the prover sketches, the round's checkpoint included
        roles["sketcher"] = roles["prover"]
    if checkpoint is not None and cfg.train.formalizer_too:
        roles["formalizer"] = serving(roles["formalizer"], checkpoint.path, checkpoint.serve, checkpoint.base_model)
    return roles
