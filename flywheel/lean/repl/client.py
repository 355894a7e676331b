"""One Lean REPL process: its own process group under an address-space cap, the header's imports loaded once
as the base env, the rest of each header it serves (open, set_option) an env built once on that base, a
timeout on every command, and a clean kill of the whole group when anything goes wrong."""

from __future__ import annotations

import codecs
import enum
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import IO, Sequence

from flywheel.errors import LeanError
from flywheel.lean.repl.protocol import Answer, AnswerReader, ProtocolError, StepAnswer, encode, encode_step, shifted

# How often the resident memory is measured: psutil walks /proc, too slow to do on every check.
RSS_EVERY_S = 1.0
_STDERR_TAIL = 2000
# Whether an env keeps the scope (open, set_option) of the command that made it, not only its declarations:
# today's REPL does, the 2021 one does not. A namespace of the probe's own, opened in one command, used in the next.
SCOPE_PROBE = "namespace FlywheelScopeProbe\ndef probe : Nat := 0\nend FlywheelScopeProbe\n\nopen FlywheelScopeProbe"
SCOPE_PROBE_USE = "#check probe"


class HeaderError(LeanError):
    """A header whose part after the imports (open, set_option) does not elaborate: an error of that header,
    not of the process, which goes on serving the others."""


class Fault(str, enum.Enum):
    TIMEOUT = "timeout"
    DIED = "died"
    GARBAGE = "garbage"
    OVERSIZE = "oversize"  # an answer past max_answer_mb: what the code made Lean print, not Lean's fault


@dataclass(slots=True)
class ReplFailure(Exception):
    fault: Fault
    detail: str

    def __str__(self) -> str:
        return f"{self.fault.value}: {self.detail}"


def capped(command: Sequence[str], memory_limit_mb: int) -> list[str]:
    """The command under `ulimit -v`. A shell sets the cap before it execs the REPL (same pid): a
    preexec_fn would do it in Python between fork and exec, which can deadlock when other threads
    (the pool's) hold locks at fork time."""
    if memory_limit_mb <= 0:
        return list(command)
    script = 'ulimit -v "$1" || exit 125; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "flywheel-lean-repl", str(memory_limit_mb * 1024), *command]


def _executable(program: str, cwd: str | None, env: dict[str, str] | None) -> bool:
    # Checked here because under the `ulimit` shell a missing program would only show as an exit.
    if os.sep in program:
        path = program if os.path.isabs(program) or cwd is None else os.path.join(cwd, program)
        return os.path.isfile(path) and os.access(path, os.X_OK)
    return shutil.which(program, path=(env if env is not None else os.environ).get("PATH")) is not None


def _proc_tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants from /proc (Linux): its statm, and the children
    listed under each of its threads, without scanning the whole process table."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", "rb") as f:
                    todo.extend(int(x) for x in f.read().split())
        except (OSError, ValueError, IndexError):  # gone meanwhile, or no children file on this kernel
            continue
    return total


class LeanRepl:
    """`with LeanRepl(cmd, header) as repl: repl.run(code)`. After a failure the process is gone;
    `alive` says so and the owner starts a new one."""

    def __init__(self, command: Sequence[str], header: str = "", timeout_s: float = 60.0,
                 header_timeout_s: float = 600.0, memory_limit_mb: int = 0, cwd: str | None = None,
                 env: dict[str, str] | None = None, max_answer_mb: float = 64):
        self.command = list(command)
        self.header = header
        self.timeout_s = timeout_s
        self.header_timeout_s = header_timeout_s
        self.memory_limit_mb = memory_limit_mb
        self.max_answer_bytes = int(max_answer_mb * (1 << 20))
        self.cwd, self.env = cwd, env
        self.proc: subprocess.Popen | None = None
        self.base_env: int | None = None
        self._next_env = 0
        self.checks = 0  # counted by the owner: a check may be several commands (the proof, `#print axioms`)
        # header rest -> the env built for it on base_env, least recently used first (prefix mode: base_env)
        self.envs: OrderedDict[str, int | None] = OrderedDict()
        self._stderr: IO[bytes] | None = None
        self._reader = AnswerReader()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._rss_at = 0.0
        self._rss = 0.0

    # lifecycle
    def start(self) -> "LeanRepl":
        if not self.command or not _executable(self.command[0], self.cwd, self.env):
            what = self.command[0] if self.command else "(empty command)"
            raise LeanError(f"cannot start the Lean REPL {' '.join(self.command)!r}: {what} not found or not executable")
        self._reader, self.checks, self.base_env, self._next_env = AnswerReader(), 0, None, 0
        self.envs = OrderedDict()  # a new process rebuilds its header envs as checks need them
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        # stderr goes to a file, not a pipe: an undrained pipe would block a chatty REPL; its tail
        # explains a death (out of memory, a panic).
        self._stderr = tempfile.TemporaryFile(prefix="flywheel-repl-")
        try:
            self.proc = subprocess.Popen(
                capped(self.command, self.memory_limit_mb), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, cwd=self.cwd, env=self.env, start_new_session=True,
            )
        except OSError as e:
            self._stderr.close()
            raise LeanError(f"cannot start the Lean REPL {' '.join(self.command)!r}: {e.strerror}") from e
        os.set_blocking(self.proc.stdout.fileno(), False)
        if self.header.strip():
            self._load_header()
        return self

    def _load_header(self) -> None:
        """The header's answer carries the env every check builds on (an unknown env would silently
        start from nothing in old REPLs, so the env is taken from the answer, never assumed)."""
        try:
            answer = self._send(encode(self.header), self.header_timeout_s)
        except ReplFailure:  # a slow or dying start is a fault of this process, not of the setup
            self.close()
            raise
        if _errors(answer) or not isinstance(answer.get("env"), int):
            self.close()
            raise LeanError(f"the REPL could not load the header's imports: {_first_error(answer, self.header)}")
        self.base_env = answer["env"]

    @property
    def alive(self) -> bool:
        proc = self.proc
        return proc is not None and proc.poll() is None

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: `lake env` and the REPL it started
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        self.kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> "LeanRepl":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def stderr_tail(self) -> str:
        f = self._stderr
        if f is None or f.closed:
            return ""
        try:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - _STDERR_TAIL))
            return f.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):  # closed by another thread meanwhile
            return ""

    # health
    def rss_mb(self) -> float:
        """Resident memory of the REPL and its children (Lean may run under `lake env`)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return 0.0
        if os.path.exists(f"/proc/{proc.pid}/task"):
            return _proc_tree_rss(proc.pid) / 2**20
        import psutil  # elsewhere (macOS): psutil walks the process table, a few ms a call

        try:
            p = psutil.Process(proc.pid)
            return sum(x.memory_info().rss for x in [p] + p.children(recursive=True)) / 2**20
        except psutil.Error:
            return 0.0

    def worn_out(self, max_checks: int, rss_limit_mb: float) -> str | None:
        """Why this process should be replaced before its next check, or None."""
        if max_checks and self.checks >= max_checks:
            return f"{self.checks} checks"
        if rss_limit_mb:
            now = time.monotonic()
            if now - self._rss_at >= RSS_EVERY_S:
                self._rss_at, self._rss = now, self.rss_mb()
            if self._rss > rss_limit_mb:
                return f"resident memory {self._rss:.0f} MB over {rss_limit_mb:g} MB"
        return None

    # commands
    def run(self, code: str, env: int | None = None, timeout_s: float | None = None,
            options: dict | None = None) -> Answer:
        """Run code in `env` (default: the header's env), with the command's options (`allTactics`,
        `infotree`). ReplFailure kills the process group."""
        request = encode(code, self.base_env if env is None else env, options)
        return self._send(request, timeout_s or self.timeout_s)

    def scopes_carry(self) -> bool:
        """Whether this REPL's envs keep the opens and options of the command that made them (SCOPE_PROBE)."""
        made = self.run(SCOPE_PROBE, timeout_s=self.header_timeout_s)
        if _errors(made) or not isinstance(made.get("env"), int):
            raise LeanError(f"the REPL could not run the scope probe: {_first_error(made)}")
        return not _errors(self.run(SCOPE_PROBE_USE, env=made["env"]))

    def header_env(self, rest: str, carry: bool, max_envs: int, line0: int = 0) -> tuple[int | None, str, bool]:
        """(the env a check of a header with this rest runs in, the text to put before its code, whether the
        env was built now). Where envs keep their scope the rest is elaborated once as a command on the
        imports' env and its env reused; where they do not (the 2021 REPL), the rest is checked once alone and
        then sent before each check's code, on the imports' env. HeaderError when it does not elaborate, naming
        the header's line (the rest begins after line0 of the header)."""
        prefix = "" if carry else rest.rstrip("\n") + "\n"
        if rest in self.envs:
            self.envs.move_to_end(rest)
            return self.envs[rest], prefix, False
        answer = self.run(rest, timeout_s=self.header_timeout_s)
        if _errors(answer) or not isinstance(answer.get("env"), int):
            raise HeaderError(f"the header does not elaborate after its imports: {_first_error(answer, rest, line0)}")
        self.envs[rest] = answer["env"] if carry else self.base_env
        while len(self.envs) > max(1, max_envs):
            self.envs.popitem(last=False)  # the REPL keeps it; this process just stops using it
        return self.envs[rest], prefix, True

    def run_under(self, prefix: str, code: str, env: int | None, options: dict | None = None) -> Answer:
        """run(prefix + code) with the answer's positions as if code had been sent alone (header_env's prefix)."""
        if not prefix:
            return self.run(code, env=env, options=options)
        return shifted(self.run(prefix + code, env=env, options=options), prefix.count("\n"))

    def step(self, proof_state: int, tactic: str, timeout_s: float | None = None) -> StepAnswer:
        """Tactic mode: run a tactic on a proof state of this process (a `sorry`'s, or an earlier step's).
        The answer is not parsed here (flywheel.lean.tactics.records.parse_step does)."""
        return self._send(encode_step(tactic, proof_state), timeout_s or self.timeout_s)

    def _send(self, request: bytes, timeout_s: float) -> Answer:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            self.kill()
            raise ReplFailure(Fault.DIED, self._died("the REPL process is not running", proc))
        try:
            proc.stdin.write(request)
            proc.stdin.flush()
        except (OSError, ValueError) as e:  # ValueError: the pipe was closed by a kill meanwhile
            self.kill()
            raise ReplFailure(Fault.DIED, self._died(f"cannot write to the REPL: {e}", proc)) from e
        try:
            return self._in_order(self._read(proc, timeout_s))
        except ReplFailure:
            self.kill()
            raise

    def _in_order(self, answer: Answer) -> Answer:
        """The REPL numbers the envs of its answers 0, 1, 2, ... in the order it got the commands. Code
        that printed a forged answer to stdout could not know the number due, so an answer out of order
        ends this process instead of passing for ours."""
        env = answer.get("env")
        if env is None:
            return answer
        if env != self._next_env:
            raise ReplFailure(Fault.GARBAGE, f"an answer with env {env} where env {self._next_env} was due")
        self._next_env += 1
        return answer

    def _died(self, what: str, proc: subprocess.Popen | None) -> str:
        code = proc.poll() if proc is not None else None
        tail = self.stderr_tail()
        status = f" (exit status {code})" if code is not None else ""
        return f"{what}{status}" + (f"; stderr: {tail[-500:]}" if tail else "")

    def _read(self, proc: subprocess.Popen, timeout_s: float) -> Answer:
        deadline = time.monotonic() + timeout_s
        try:
            fd = proc.stdout.fileno()
        except ValueError as e:
            raise ReplFailure(Fault.DIED, "the REPL was closed") from e
        wait = _waiter(fd)
        received = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReplFailure(Fault.TIMEOUT, f"no answer within {timeout_s:g} s")
            deferred = self._reader.deferred
            if not wait(min(left, SETTLE_S) if deferred else left):
                if deferred:  # the text stopped at a closing brace: decode it as it is
                    answer = self._answers(None)
                    if answer is not None:
                        return answer
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            except OSError as e:
                raise ReplFailure(Fault.DIED, f"cannot read from the REPL: {e}") from e
            if not chunk:
                try:
                    proc.wait(timeout=1)  # EOF comes just before the exit status does
                except subprocess.TimeoutExpired:
                    pass
                raise ReplFailure(Fault.DIED, self._died("the REPL exited", proc))
            received += len(chunk)
            if self.max_answer_bytes and received > self.max_answer_bytes:
                raise ReplFailure(Fault.OVERSIZE, f"an answer past {self.max_answer_bytes / (1 << 20):g} MB "
                                                  "(lean.max_answer_mb), not read on")
            answer = self._answers(chunk)
            if answer is not None:
                return answer

    def _answers(self, chunk: bytes | None) -> Answer | None:
        """The answer that chunk completes (None: settle a deferred one), or None; more than one is garbage."""
        try:
            answers = self._reader.feed(self._decoder.decode(chunk)) if chunk is not None else self._reader.settle()
        except ProtocolError as e:
            raise ReplFailure(Fault.GARBAGE, str(e)) from e
        if not answers:
            return None
        if len(answers) > 1 or self._reader.pending().strip():
            raise ReplFailure(Fault.GARBAGE, "the REPL answered more than it was asked")
        return answers[0]


# How long text that stopped at a closing brace may wait for more before a large answer is decoded as it is
# (AnswerReader.deferred): about a pipe's refill, far below any check's time.
SETTLE_S = 0.02


def _waiter(fd: int):
    """wait(seconds) -> whether fd has something to read: poll(2) where there is one (one system call a wait,
    where a selector object costs four: create, register, wait, close), else select(2)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return lambda seconds: bool(poller.poll(seconds * 1000))
    return lambda seconds: bool(select.select([fd], [], [], seconds)[0])


def _errors(answer: Answer) -> list:
    return [m for m in answer.get("messages", []) if m.get("severity") == "error"]


def _first_error(answer: Answer, text: str | None = None, line0: int = 0) -> str:
    """The first error of an answer, with the line it names in `text` when given (numbered from line0 + 1, as
    in the text that holds it); else the REPL's own message."""
    errors = _errors(answer)
    if not errors:
        return answer.get("message", "no env in the answer")
    first = errors[0]
    line = (first.get("pos") or {}).get("line")
    if text is not None and isinstance(line, int) and 1 <= line <= text.count("\n") + 1:
        return f"line {line0 + line} ({text.splitlines()[line - 1].strip()!r}): {first.get('data')}"
    return str(first.get("data"))
