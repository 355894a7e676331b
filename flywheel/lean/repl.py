"""One Lean REPL process: its own process group under an address-space cap, the header imported once as
the base env, a timeout on every command, and a clean kill of the whole group when anything goes wrong."""

from __future__ import annotations

import codecs
import enum
import os
import resource
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Sequence

from flywheel.errors import LeanError
from flywheel.lean.protocol import Answer, AnswerReader, ProtocolError, encode


class Fault(str, enum.Enum):
    TIMEOUT = "timeout"
    DIED = "died"
    GARBAGE = "garbage"


@dataclass(slots=True)
class ReplFailure(Exception):
    fault: Fault
    detail: str

    def __str__(self) -> str:
        return f"{self.fault.value}: {self.detail}"


def _limit_memory(mb: int):
    def apply() -> None:
        if mb > 0:
            limit = mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


class LeanRepl:
    """`with LeanRepl(cmd, header) as repl: repl.run(code)`. After a failure the process is gone;
    `alive` says so and the owner starts a new one."""

    def __init__(self, command: Sequence[str], header: str = "", timeout_s: float = 60.0,
                 header_timeout_s: float = 600.0, memory_limit_mb: int = 0, cwd: str | None = None,
                 env: dict[str, str] | None = None):
        self.command = list(command)
        self.header = header
        self.timeout_s = timeout_s
        self.header_timeout_s = header_timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.cwd, self.env = cwd, env
        self.proc: subprocess.Popen | None = None
        self.base_env: int | None = None
        self.checks = 0
        self._reader = AnswerReader()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    # lifecycle
    def start(self) -> "LeanRepl":
        try:
            self.proc = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=self.cwd, env=self.env, start_new_session=True,
                preexec_fn=_limit_memory(self.memory_limit_mb),
            )
        except OSError as e:
            raise LeanError(f"cannot start the Lean REPL {' '.join(self.command)!r}: {e.strerror}") from e
        os.set_blocking(self.proc.stdout.fileno(), False)
        if self.header.strip():
            answer = self._send(self.header, None, self.header_timeout_s)
            errors = [m for m in answer.get("messages", []) if m.get("severity") == "error"]
            if errors or "env" not in answer:
                detail = errors[0]["data"] if errors else answer.get("message", "no env in the answer")
                self.close()
                raise LeanError(f"the REPL could not load the header: {detail}")
            self.base_env = answer["env"]
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def close(self) -> None:
        self.kill()

    def __enter__(self) -> "LeanRepl":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def rss_mb(self) -> float:
        """Resident memory of the REPL and its children (Lean may run under `lake env`)."""
        if not self.alive:
            return 0.0
        import psutil

        try:
            p = psutil.Process(self.proc.pid)
            procs = [p] + p.children(recursive=True)
            return sum(x.memory_info().rss for x in procs) / 2**20
        except psutil.Error:
            return 0.0

    # commands
    def run(self, code: str, env: int | None = None, timeout_s: float | None = None) -> Answer:
        """Run code in `env` (default: the header's env). ReplFailure kills the process group."""
        self.checks += 1
        return self._send(code, self.base_env if env is None else env, timeout_s or self.timeout_s)

    def _send(self, code: str, env: int | None, timeout_s: float) -> Answer:
        if not self.alive:
            raise ReplFailure(Fault.DIED, "the REPL process is not running")
        try:
            self.proc.stdin.write(encode(code, env))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.kill()
            raise ReplFailure(Fault.DIED, f"cannot write to the REPL: {e}") from e
        try:
            return self._read(timeout_s)
        except ReplFailure:
            self.kill()
            raise

    def _read(self, timeout_s: float) -> Answer:
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ReplFailure(Fault.TIMEOUT, f"no answer within {timeout_s:g} s")
                if not sel.select(left):
                    continue
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    code = self.proc.poll()
                    raise ReplFailure(Fault.DIED, f"the REPL exited (status {code})")
                try:
                    answers = self._reader.feed(self._decoder.decode(chunk))
                except ProtocolError as e:
                    raise ReplFailure(Fault.GARBAGE, str(e)) from e
                if answers:
                    if len(answers) > 1 or self._reader.pending().strip():
                        raise ReplFailure(Fault.GARBAGE, "the REPL answered more than it was asked")
                    return answers[0]
