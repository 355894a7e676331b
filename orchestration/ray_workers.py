"""Ray: Lean workers and generation engines as actors. The only module that starts Ray.

A Lean worker owns one REPL process (a one-process Verifier). The driver keeps the verdict cache, so a
repeated proof never leaves it. A worker that dies is replaced and its check retried once; a check that
still fails is recorded as crashed, never lost.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import threading
from typing import Sequence

from flywheel.config import GeneratorConfig, LeanConfig
from flywheel.errors import FlywheelError

log = logging.getLogger(__name__)


def init_ray(address: str | None, workers: int) -> None:
    import ray

    if ray.is_initialized():
        return
    kwargs = dict(include_dashboard=False, log_to_driver=True, ignore_reinit_error=True,
                  configure_logging=False)
    if address:
        ray.init(address=address, **kwargs)
    else:
        # Locally, advertise enough CPUs for the workers' fractional requests and nothing more, so Ray's
        # own processes never starve the driver on a small machine.
        ray.init(num_cpus=max(1, os.cpu_count() or 1), **kwargs)


def _lean_actor_class(cpus: float):
    import ray

    @ray.remote(num_cpus=cpus, max_restarts=0)
    class LeanWorker:
        """Owns one REPL process; runs code the driver already scanned and looked up in the cache."""

        def __init__(self, cfg: LeanConfig):
            from flywheel.lean.verifier import Verifier

            self._verifier = Verifier(cfg, None)

        def run(self, fields: tuple, expect_sorry: bool) -> dict:
            # Plain tuples and dicts both ways: Ray's fast serialization path, no pickled classes.
            from flywheel.lean.verifier import Prepared

            return self._verifier.run_in_pool(Prepared(*fields), expect_sorry).to_json()

        def stats(self) -> dict:
            return self._verifier.stats()

    return LeanWorker


class RayChecker:
    """A Verifier whose Lean part runs on worker actors, borrowed one per check by the calling thread."""

    def __init__(self, cfg: LeanConfig, workers: int, cpus_per_worker: float = 1.0, cache=None):
        from flywheel.lean.verifier import Verifier

        self.cfg = dataclasses.replace(cfg, workers=1)
        self.workers = workers
        self._cls = _lean_actor_class(cpus_per_worker)
        self._idle: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self.replaced = 0
        self.verifier = Verifier(self.cfg, cache, backend=self._run)
        self.check = self.verifier.check
        self.compile_check = self.verifier.compile_check

    def __enter__(self) -> "RayChecker":
        for _ in range(self.workers):
            self._idle.put(self._cls.remote(self.cfg))
        return self

    def __exit__(self, *exc) -> None:
        import ray

        try:
            self.verifier.close()  # the driver-side cache writes what is pending
        finally:
            while not self._idle.empty():
                ray.kill(self._idle.get_nowait())

    def _replace(self, actor) -> object:
        import ray

        ray.kill(actor, no_restart=True)
        with self._lock:
            self.replaced += 1
        log.warning("a Lean worker died; starting a replacement")
        return self._cls.remote(self.cfg)

    def _run(self, prepared, expect_sorry: bool):
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        from flywheel.lean.verdicts import crashed_verdict, verdict_from_json

        actor = self._idle.get()
        try:
            for attempt in range(2):
                try:
                    # The worker enforces the Lean timeout itself; this bounds a wedged actor.
                    answer = ray.get(actor.run.remote(dataclasses.astuple(prepared), expect_sorry),
                                     timeout=self.cfg.timeout_s * 3 + 60)
                    return verdict_from_json(answer)
                except (RayActorError, GetTimeoutError) as e:
                    actor = self._replace(actor)
                    if attempt == 1:
                        return crashed_verdict(f"Lean worker lost twice: {type(e).__name__}")
        finally:
            self._idle.put(actor)


def _generator_actor_class(gpus: float, cpus: float):
    import ray

    @ray.remote(num_gpus=gpus, num_cpus=cpus)
    class GeneratorWorker:
        def __init__(self, cfg: GeneratorConfig):
            from flywheel.llm.base import make_generator

            self._gen = make_generator(cfg).__enter__()
            self.model = getattr(self._gen, "model", None)

        def generate(self, requests):
            return self._gen.generate(requests)

        def model_name(self):
            return self.model

    return GeneratorWorker


class RayGenerator:
    """One engine per GPU (or one HTTP/CPU engine); requests split across engines, answers in order."""

    def __init__(self, cfg: GeneratorConfig, engines: int, gpus_per_engine: float, cpus_per_engine: float = 0.25):
        self.cfg, self.engines = cfg, max(1, engines)
        self._cls = _generator_actor_class(gpus_per_engine, cpus_per_engine)
        self._actors: list = []
        self.model: str | None = cfg.model
        self.replaced = 0

    def __enter__(self) -> "RayGenerator":
        import ray

        self._actors = [self._cls.remote(self.cfg) for _ in range(self.engines)]
        self.model = ray.get(self._actors[0].model_name.remote()) or self.cfg.model
        return self

    def __exit__(self, *exc) -> None:
        import ray

        for a in self._actors:
            ray.kill(a)

    def generate(self, requests: Sequence) -> list:
        """Requests dealt round-robin to the engines; an engine that died is replaced (its model loaded
        again) and its share asked once more."""
        import ray
        from ray.exceptions import RayActorError

        if not requests:
            return []
        k = len(self._actors)
        shares = [(i, list(range(i, len(requests), k))) for i in range(k)]
        shares = [(i, idx) for i, idx in shares if idx]
        refs = {i: self._actors[i].generate.remote([requests[j] for j in idx]) for i, idx in shares}
        out: list = [None] * len(requests)
        for i, idx in shares:
            try:
                part = ray.get(refs[i])
            except RayActorError:
                log.warning("a generation engine died; starting a replacement and asking again")
                ray.kill(self._actors[i], no_restart=True)
                self._actors[i] = self._cls.remote(self.cfg)
                self.replaced += 1
                try:
                    part = ray.get(self._actors[i].generate.remote([requests[j] for j in idx]))
                except RayActorError as e:
                    raise FlywheelError(f"a generation engine died twice on the same requests: {e}") from e
            for j, completions in zip(idx, part, strict=True):
                out[j] = completions
        return out
