"""Ray: Lean workers and generation engines as actors. The only module that starts Ray.

A Lean worker owns one REPL process (a one-process Verifier: a statement of another header replaces it). The driver keeps the verdict cache, so a
repeated proof never leaves it; its keys name the toolchain the workers report when they start. A worker that dies is replaced and its check retried once; a check that
still fails is recorded as crashed, never lost.

Ray places the workers, starts them and watches them; the checks themselves travel on a direct channel to
each worker (one TCP connection, a JSON line each way, guarded by a per-run token), because an actor call
costs the driver about three times the CPU of a socket round trip (Ray's own threads included), on every
attempt. Where the driver cannot reach a worker's port (a cluster that only opens Ray's own ports), the
workers are called through Ray.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import secrets
import socket
import threading
from dataclasses import dataclass
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
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError) as e:
            # Ray's cause holds a whole traceback as text: its last line says what went wrong.
            said = str(e.__cause__ or "").strip().splitlines()
            cause = f" ({said[-1]})" if said else ""
            raise FlywheelError(
                f"cannot join the Ray cluster at {address}: {e}{cause}. A cluster with token authentication "
                "needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN, or the file ~/.ray/auth_token) here too"
            ) from e
    else:
        # Locally, advertise enough CPUs for the workers' fractional requests and nothing more, so Ray's
        # own processes never starve the driver on a small machine.
        ray.init(num_cpus=max(1, os.cpu_count() or 1), **kwargs)


def _lean_actor_class(cpus: float, memory: int | None):
    import ray

    @ray.remote(num_cpus=cpus, memory=memory, max_restarts=0)
    class LeanWorker:
        """Owns one REPL process; runs code the driver already scanned and looked up in the cache, asked
        on its direct channel or by an actor call."""

        def __init__(self, cfg: LeanConfig, token: str):
            from flywheel.lean.guard.verifier import Verifier

            self._verifier = Verifier(cfg, None)
            self._token = token
            self._listener = socket.create_server(("", 0))
            threading.Thread(target=self._accept, name="lean-channel", daemon=True).start()

        def address(self) -> tuple[str, int, str]:
            """Where its channel listens, and the toolchain its REPL reports (the driver keys verdicts by it)."""
            import ray

            return ray.util.get_node_ip_address(), self._listener.getsockname()[1], self._verifier.toolchain

        def run(self, fields: list, expect_sorry: bool) -> dict:
            # Plain lists and dicts both ways: Ray's fast serialization path, no pickled classes.
            from flywheel.lean.guard.verifier import Prepared

            return self._verifier.run_in_pool(Prepared(*fields), expect_sorry).to_json()

        def run_tactics(self, fields: list, sketch: bool, goals_after: bool):
            """A tactic-level check (rmaxts, decompose's sketches): the Checked record, pickled by Ray."""
            from flywheel.lean.guard.verifier import Prepared

            return self._verifier.run_tactics_in_pool(Prepared(*fields), sketch, goals_after)

        def stats(self) -> dict:
            return self._verifier.stats()

        def _accept(self) -> None:
            while True:
                conn, _ = self._listener.accept()
                threading.Thread(target=self._serve, args=(conn,), name="lean-session", daemon=True).start()

        def _serve(self, conn: socket.socket) -> None:
            """One JSON line in, one out, until the driver hangs up; a connection without the token is
            closed unanswered."""
            import traceback

            with conn, conn.makefile("rwb") as stream:
                try:
                    if stream.readline().strip() != self._token.encode():
                        return
                    for line in stream:
                        try:
                            answer = self.run(*json.loads(line))
                        except Exception:  # a fault of ours, not of the worker: the driver raises it
                            answer = {"error": traceback.format_exc()}
                        stream.write(json.dumps(answer).encode() + b"\n")
                        stream.flush()
                except OSError:  # the driver went away
                    return

    return LeanWorker


@dataclass(slots=True)
class _Worker:
    actor: object
    stream: object | None  # the direct channel (a socket file), None when calls go through Ray


class RayChecker:
    """A Verifier whose Lean part runs on worker actors, borrowed one per check by the calling thread."""

    def __init__(self, cfg: LeanConfig, workers: int, cpus_per_worker: float = 1.0, memory_per_worker: int | None = None,
                 cache=None):
        """memory_per_worker: Ray's memory resource (bytes) each worker holds, so that a node takes no more
        workers than its memory allows; None asks for none."""
        from flywheel.lean.guard.verifier import Verifier

        self.cfg = dataclasses.replace(cfg, workers=1)
        self.workers = workers
        self._direct = True  # until a worker's channel cannot be reached
        self._cls = _lean_actor_class(cpus_per_worker, memory_per_worker)
        self._token = secrets.token_hex(16)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self.replaced = 0
        self.toolchain: str | None = None  # the workers' (all of them run the same one)
        self.verifier = Verifier(self.cfg, cache, backend=self._run, tactics_backend=self._run_tactics)
        self.check = self.verifier.check
        self.compile_check = self.verifier.compile_check
        self.check_tactics = self.verifier.check_tactics
        self.sketch = self.verifier.sketch

    @property
    def _wait_s(self) -> float:
        # The worker enforces the Lean timeout itself; this bounds a wedged or unreachable worker.
        return self.cfg.timeout_s * 3 + 60

    def __enter__(self) -> "RayChecker":
        import time

        import ray

        actors = [self._cls.remote(self.cfg, self._token) for _ in range(self.workers)]
        deadline = time.monotonic() + self._wait_s  # one wait for all of them, not one each
        try:
            for actor in actors:
                self._idle.put(self._open(actor, max(0.0, deadline - time.monotonic())))
            if self.toolchain is None:
                raise FlywheelError(f"no Lean worker started within {self._wait_s:g} s, so the toolchain that "
                                    "verdicts are cached for is unknown")
        except BaseException:
            self.__exit__(None, None, None)  # the channels opened so far, and the cache
            for actor in actors:
                ray.kill(actor)
            raise
        return self

    def __exit__(self, *exc) -> None:
        import ray

        try:
            self.verifier.close()  # the driver-side cache writes what is pending
        finally:
            while not self._idle.empty():
                worker = self._idle.get_nowait()
                _close(worker.stream)
                ray.kill(worker.actor)

    def _open(self, actor, wait_s: float | None = None) -> _Worker:
        """The worker with its direct channel, or without one where its port cannot be reached (or it has not
        started within wait_s)."""
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        try:
            host, port, toolchain = ray.get(actor.address.remote(), timeout=self._wait_s if wait_s is None else wait_s)
        except (RayActorError, GetTimeoutError) as e:  # its first check finds out again, and replaces it
            log.warning("a Lean worker did not start: %s", e)
            return _Worker(actor, None)
        self._agree(toolchain)
        if not self._direct:
            return _Worker(actor, None)
        try:
            return _Worker(actor, self._connect(host, port))
        except OSError as e:
            # The same network rules hold for the other workers: stop paying a connect timeout for each.
            log.warning("cannot reach the Lean worker's channel at %s:%s (%s); checks go through Ray calls",
                        host, port, e)
            self._direct = False
            return _Worker(actor, None)

    def _agree(self, toolchain: str) -> None:
        """Verdicts are keyed in the driver before a worker is chosen: every worker must run one toolchain."""
        with self._lock:
            if self.toolchain is None:
                self.toolchain = self.verifier.toolchain = toolchain
            elif toolchain != self.toolchain:
                raise FlywheelError(f"the Lean workers run different toolchains ({self.toolchain} and {toolchain}): "
                                    "a verdict cached for one would be served for the other")

    def _connect(self, host: str, port: int):
        sock = socket.create_connection((host, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._wait_s)
        stream = sock.makefile("rwb")
        sock.close()  # the file keeps the connection open
        stream.write(self._token.encode() + b"\n")
        stream.flush()
        return stream

    def _replace(self, worker: _Worker) -> _Worker:
        import ray

        _close(worker.stream)
        ray.kill(worker.actor, no_restart=True)
        with self._lock:
            self.replaced += 1
        log.warning("a Lean worker died; starting a replacement")
        return self._open(self._cls.remote(self.cfg, self._token))

    def _ask(self, worker: _Worker, fields: list, expect_sorry: bool) -> dict:
        import ray

        if worker.stream is None:
            return ray.get(worker.actor.run.remote(fields, expect_sorry), timeout=self._wait_s)
        worker.stream.write(json.dumps([fields, expect_sorry]).encode() + b"\n")
        worker.stream.flush()
        line = worker.stream.readline()
        if not line.endswith(b"\n"):
            raise ConnectionError("the Lean worker's channel closed")
        answer = json.loads(line)
        if "error" in answer:
            raise FlywheelError(f"a Lean worker failed on a check:\n{answer['error']}")
        return answer

    def _run(self, prepared, expect_sorry: bool):
        from flywheel.lean.guard.verdicts import verdict_from_json

        fields = list(dataclasses.astuple(prepared))
        return self._on_a_worker(lambda w: verdict_from_json(self._ask(w, fields, expect_sorry)), lambda v: v)

    def _run_tactics(self, prepared, sketch: bool, goals_after: bool):
        """Tactic-level checks go by Ray call (their records are larger than a verdict and rarer)."""
        import ray

        from flywheel.lean.tactics.records import Checked, proof_body

        fields = list(dataclasses.astuple(prepared))
        return self._on_a_worker(
            lambda w: ray.get(w.actor.run_tactics.remote(fields, sketch, goals_after), timeout=self._wait_s),
            lambda v: Checked(v, proof_body(prepared.code, prepared.proof_line, prepared.proof_col)))

    def _on_a_worker(self, ask, crashed):
        """ask(worker) on a borrowed worker; a worker lost on the way is replaced and the check asked once
        more; lost twice, the check is crashed (crashed(verdict) shapes what the caller expects)."""
        from ray.exceptions import GetTimeoutError, RayActorError

        from flywheel.lean.guard.verdicts import crashed_verdict

        worker = self._idle.get()
        try:
            for attempt in range(2):
                try:
                    return ask(worker)
                except (RayActorError, GetTimeoutError, OSError) as e:
                    worker = self._replace(worker)
                    if attempt == 1:
                        return crashed(crashed_verdict(f"Lean worker lost twice: {type(e).__name__}"))
        finally:
            self._idle.put(worker)


def _close(stream) -> None:
    if stream is not None:
        try:
            stream.close()
        except OSError:  # the other side is gone
            pass


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
