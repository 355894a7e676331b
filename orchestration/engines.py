"""The two physical engines of a round, chosen once: generation and Lean checking, in-process
(`--workers 1`) or on Ray (`--workers N`, `--ray-address`)."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Callable

from flywheel.config import Config, GeneratorConfig, LeanConfig
from flywheel.errors import ConfigError


def open_verifier(cfg: LeanConfig, store=None, cache: bool = True):
    """A Verifier whose verdicts are cached in the store (or in memory without one), and whose statement heads
    are kept across runs (lean.head_cache_dir); cache=False: neither."""
    from flywheel.lean.guard.cache import HeadCache, MemoryCache
    from flywheel.lean.guard.verifier import Verifier

    if not cache:
        return Verifier(cfg, None)
    heads = HeadCache(head_cache_dir(cfg)) if cfg.head_cache_dir != "" else None
    if store is None:
        return Verifier(cfg, MemoryCache(), heads=heads)
    from db.verdict_cache import StoreCache

    return Verifier(cfg, StoreCache(store), heads=heads)


def head_cache_dir(cfg: LeanConfig) -> str:
    from flywheel.lean.toolchain.paths import data_dir

    return cfg.head_cache_dir or str(data_dir() / "lean_heads")


class LazyGenerator:
    """A generator loaded on its first request and released on demand, so that one GPU serves proving,
    training and the next checkpoint's generator in turn, never two of them at once."""

    def __init__(self, make: Callable[[], contextlib.AbstractContextManager], model: str | None):
        self._make, self.model = make, model
        self._context = None
        self._generator = None

    def _loaded(self):
        if self._generator is None:
            context = self._make()
            self._generator = context.__enter__()
            self._context = context
        return self._generator

    def generate(self, requests):
        return self._loaded().generate(requests)

    def __getattr__(self, name: str):  # what else a back end offers (its tokenizer, its stats)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._loaded(), name)

    def release(self) -> None:
        context, self._context, self._generator = self._context, None, None
        if context is not None:
            context.__exit__(None, None, None)


def release_generation(engines: "Engines") -> None:
    """Free what the engines' generator holds (GPU memory) before something else needs it."""
    release = getattr(engines.generator, "release", None)
    if release is not None:
        release()


@dataclass(slots=True)
class Engines:
    generator: object  # has generate(requests) and model
    check: Callable  # check(header, goal, proof) -> Verdict
    compile_check: Callable  # compile_check(header, statement) -> Verdict
    workers: int  # checks kept in flight
    on_ray: bool
    tactics: Callable | None = None  # check_tactics (rmaxts), in this process or on the Ray Lean workers
    sketch: Callable | None = None  # sketch checks (decompose), in this process or on the Ray Lean workers


@contextlib.contextmanager
def open_engines(cfg: Config, store, workers: int, ray_address: str | None):
    """Yields Engines; closes REPLs, engines and actors on the way out, whatever happened."""
    if workers < 1:
        raise ConfigError(f"--workers must be 1 or more, got {workers}")
    if not cfg.generator.model:
        raise ConfigError("no model: set generator.model in the config (or pass --model)")
    with contextlib.ExitStack() as stack:
        if workers == 1 and not ray_address:
            from flywheel.llm.base import make_generator

            generator = LazyGenerator(lambda: make_generator(cfg.generator),
                                      cfg.generator.lora_adapter or cfg.generator.model)
            stack.callback(generator.release)
            verifier = stack.enter_context(open_verifier(dataclasses.replace(cfg.lean, workers=1), store))
            yield Engines(generator, verifier.check, verifier.compile_check, 1, False, tactics=verifier.check_tactics,
                          sketch=verifier.sketch)
            return
        from orchestration.ray_workers import RayChecker, RayGenerator, init_ray

        init_ray(ray_address, workers)
        stack.callback(_shutdown_ray, ray_address)
        gpus = _gpus()
        engines = max(1, gpus // max(1, cfg.generator.tensor_parallel_size)) if cfg.generator.backend == "vllm" and gpus else 1
        per_engine_gpus = float(cfg.generator.tensor_parallel_size) if gpus else 0.0
        generator = LazyGenerator(lambda: RayGenerator(cfg.generator, engines, per_engine_gpus),
                                  cfg.generator.lora_adapter or cfg.generator.model)
        stack.callback(generator.release)
        cpus = 1.0 if ray_address else local_cpus_per_worker(workers)
        memory = cfg.lean.rss_limit_mb * 2**20
        if not ray_address:
            memory = local_memory_per_worker(workers, memory, _ray_memory())
        checker = stack.enter_context(RayChecker(cfg.lean, workers, cpus, memory, cache=_driver_cache(store)))
        yield Engines(generator, checker.check, checker.compile_check, workers, True, tactics=checker.check_tactics,
                      sketch=checker.sketch)


def local_cpus_per_worker(workers: int, cpus: int | None = None) -> float:
    """Fractional CPUs for local Lean workers: they, the generation engine (0.25) and the driver share a
    small machine, and every worker must fit in what local Ray advertises (the machine's CPUs), or the
    surplus actors would wait for resources forever."""
    import math
    import os

    cpus = cpus or os.cpu_count() or 1
    return math.floor(min(0.5, (cpus - 0.25) / workers) * 1e4) / 1e4  # Ray's granularity, rounded down


def local_memory_per_worker(workers: int, wanted: int, available: int) -> int:
    """Ray's memory resource for each local Lean worker: what a REPL may grow to (lean.rss_limit_mb), or an
    equal share of the memory local Ray schedules, whichever is less, so that every worker is placed."""
    return max(1, min(wanted, available // workers)) if available else wanted


def _ray_memory() -> int:
    import ray

    return int(ray.cluster_resources().get("memory", 0))


def _gpus() -> int:
    import ray

    return int(ray.cluster_resources().get("GPU", 0))


def _shutdown_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _driver_cache(store):
    from db.verdict_cache import StoreCache

    return StoreCache(store) if store is not None else None


@contextlib.contextmanager
def open_prover(engines: Engines, wanted: GeneratorConfig):
    """The generator `wanted` describes: the engines' own when it is theirs already, else a new one of the
    same kind (in-process, or one Ray actor) closed on the way out, the engines' own having given way."""
    name = wanted.lora_adapter or wanted.model
    if not wanted.model or (name == getattr(engines.generator, "model", None) and not wanted.lora_adapter):
        yield engines.generator
        return
    release_generation(engines)  # the base model gives the GPU to this one; it reloads when asked again
    if not engines.on_ray:
        from flywheel.llm.base import make_generator

        with make_generator(wanted) as generator:
            yield generator
        return
    from orchestration.ray_workers import RayGenerator

    gpus = float(wanted.tensor_parallel_size) if _gpus() else 0.0
    with RayGenerator(wanted, 1, gpus) as generator:
        yield generator


@contextlib.contextmanager
def open_sketcher(cfg: Config, wanted: GeneratorConfig, prover):
    """The generators of decompose's other roles for Scheduler(roles=): none when decompose is not used or the
    prover sketches (the sketcher's model is the prover's), else the sketcher's own, in this process (the
    sketch check runs in this process's Lean anyway), closed on the way out."""
    name = wanted.lora_adapter or wanted.model
    if "decompose" not in cfg.prover.strategy or name == getattr(prover, "model", None):
        yield {}
        return
    from flywheel.llm.base import make_generator

    with make_generator(wanted) as generator:
        yield {"sketcher": generator}
